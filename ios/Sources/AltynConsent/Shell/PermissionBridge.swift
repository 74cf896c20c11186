// iOS only: these frameworks (and their iOS authorization APIs) exist on
// iOS; on macOS and Linux the mapping in IosOsStatus stays testable alone.
#if canImport(UIKit) && canImport(AVFoundation) && canImport(Contacts) && canImport(CoreLocation) && canImport(Photos) && canImport(UserNotifications)
    import AVFoundation
    import Contacts
    import CoreLocation
    import Foundation
    import Photos
    import UserNotifications

    /// Reads what iOS says about each catalog permission and reports it to the
    /// core, which records changes only. Call `reportAll()` on launch and when
    /// the app returns to the foreground (the user may have changed Settings).
    ///
    /// The in-app decision (`setPermission`) always comes first (§2.4): ask the
    /// system only after the user allowed it in the app.
    public final class PermissionBridge: Sendable {
        private let consent: AltynConsentClient

        public init(consent: AltynConsentClient) {
            self.consent = consent
        }

        /// The OS status of one catalog permission, read now. Which framework
        /// answers is the catalog's `iosApi` (its first word, one the core's
        /// catalog rules allow); whether the grant needs full accuracy is its
        /// `iosFullAccuracy`. Nil for an API this shell does not know: nothing
        /// is reported then, rather than a status the OS never gave.
        public func osStatus(_ info: PermissionInfo) async -> OsStatus? {
            switch info.iosApi.split(separator: " ").first.map(String.init) ?? "" {
            case "AVCaptureDevice":
                let present = AVCaptureDevice.default(for: .video) != nil
                return IosOsStatus.map(camera(), requiresFullAccuracy: false, hardwarePresent: present)
            case "CLLocationManager":
                let manager = CLLocationManager()
                return IosOsStatus.map(
                    location(manager.authorizationStatus), requiresFullAccuracy: info.iosFullAccuracy,
                    fullAccuracy: manager.accuracyAuthorization == .fullAccuracy)
            case "CNContactStore":
                return IosOsStatus.map(contacts(), requiresFullAccuracy: false)
            case "PHPhotoLibrary":
                return IosOsStatus.map(photos(), requiresFullAccuracy: false)
            case "UNUserNotificationCenter":
                let settings = await UNUserNotificationCenter.current().notificationSettings()
                return IosOsStatus.map(notifications(settings.authorizationStatus), requiresFullAccuracy: false)
            default:
                return nil
            }
        }

        /// The OS status of the catalog permission `permissionId`, read now
        /// (nil when the catalog has no such permission).
        public func osStatus(_ permissionId: String, locale: String = "ru") async -> OsStatus? {
            guard let info = await consent.permissions(locale: locale).first(where: { $0.id == permissionId }) else {
                return nil
            }
            return await osStatus(info)
        }

        /// Reports every catalog permission's OS status.
        public func reportAll(locale: String = "ru") async throws {
            for info in await consent.permissions(locale: locale) {
                guard let status = await osStatus(info) else { continue }
                try await consent.reportOsStatus(info.id, status)
            }
        }

        private func camera() -> IosAuthorization {
            switch AVCaptureDevice.authorizationStatus(for: .video) {
            case .notDetermined: return .notDetermined
            case .restricted: return .restricted
            case .denied: return .denied
            case .authorized: return .authorized
            @unknown default: return .denied
            }
        }

        private func location(_ status: CLAuthorizationStatus) -> IosAuthorization {
            switch status {
            case .notDetermined: return .notDetermined
            case .restricted: return .restricted
            case .denied: return .denied
            case .authorizedAlways, .authorizedWhenInUse: return .authorized
            @unknown default: return .denied
            }
        }

        private func contacts() -> IosAuthorization {
            // Comparisons, not a switch: iOS 18's `.limited` (the user shared
            // some contacts) exists only from iOS 18 on, and a switch over it
            // would need it handled or not, depending on the SDK.
            let status = CNContactStore.authorizationStatus(for: .contacts)
            if status == .notDetermined { return .notDetermined }
            if status == .restricted { return .restricted }
            if status == .denied { return .denied }
            if status == .authorized { return .authorized }
            if #available(iOS 18.0, *), status == .limited { return .limited }
            // A status this SDK does not know: fail closed, as every other
            // framework here does (never "limited", which would let the core
            // treat an unknown answer as partial access).
            return .denied
        }

        private func photos() -> IosAuthorization {
            switch PHPhotoLibrary.authorizationStatus(for: .readWrite) {
            case .notDetermined: return .notDetermined
            case .restricted: return .restricted
            case .denied: return .denied
            case .authorized: return .authorized
            case .limited: return .limited
            @unknown default: return .denied
            }
        }

        private func notifications(_ status: UNAuthorizationStatus) -> IosAuthorization {
            switch status {
            case .notDetermined: return .notDetermined
            case .denied: return .denied
            case .authorized: return .authorized
            case .provisional, .ephemeral: return .provisional
            @unknown default: return .denied
            }
        }
    }
#endif
