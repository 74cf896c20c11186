import Foundation

/// How iOS's authorization answers become the core's `OsStatus`: plain
/// Swift over a neutral answer type, so the decisions are tested without a
/// device. `PermissionBridge` reads the real frameworks into it.
public enum IosAuthorization: Equatable, Sendable {
    case notDetermined
    /// Parental controls or MDM: the user cannot grant it.
    case restricted
    case denied
    case authorized
    /// Photos "selected photos", contacts "limited access" (iOS 18).
    case limited
    /// Notifications delivered quietly without asking (provisional, ephemeral).
    case provisional
}

public enum IosOsStatus {
    /// `fullAccuracy` applies to location: false when the user turned
    /// "Precise Location" off.
    public static func map(
        permissionId: String, _ answer: IosAuthorization, fullAccuracy: Bool = true,
        hardwarePresent: Bool = true
    ) -> OsStatus {
        if !hardwarePresent { return .unavailable }
        switch answer {
        case .notDetermined: return .notDetermined
        // iOS asks only once: a refusal can be changed in Settings alone.
        case .denied: return .blocked
        case .restricted: return .blocked
        case .limited, .provisional: return .limited
        case .authorized:
            if permissionId == "location_precise" && !fullAccuracy { return .limited }
            return .granted
        }
    }
}
