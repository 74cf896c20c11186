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
    /// What iOS says about one catalog permission, as the core's status.
    /// `requiresFullAccuracy` is the catalog's `PermissionInfo.iosFullAccuracy`
    /// (precise location); `fullAccuracy` is CoreLocation's
    /// `accuracyAuthorization`: false when the user turned "Precise
    /// Location" off, which is a partial grant of what needs it. Whether a
    /// partial grant lets the app use the function is the catalog's
    /// `limitedUsable`, applied by the core.
    public static func map(
        _ answer: IosAuthorization, requiresFullAccuracy: Bool, fullAccuracy: Bool = true,
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
            if requiresFullAccuracy && !fullAccuracy { return .limited }
            return .granted
        }
    }
}
