import Foundation

/// Why a consent operation failed, and what the app should do. Mirror of
/// Kotlin's `ConsentFailure`. Messages say what went wrong and what to do;
/// none holds personal data, tokens or key material. Nothing is recorded
/// when one is thrown.
public enum ConsentFailure: Error, LocalizedError, Equatable {
    /// No key, a wrong key, or an unreachable Keychain. The store file is kept:
    /// restore the Keychain, or restore the consents from the server.
    case keyUnavailable(String)
    /// The store file is damaged; it was left as it is. Restore from the server.
    case storeDamaged(String)
    /// The store comes from a newer app version: ask the user to update.
    case storeTooNew(String)
    /// Disk or I/O trouble: try again later.
    case storageFailed(String)
    /// Acceptance without the 18+ confirmation: ask for it.
    case ageNotConfirmed(String)
    /// The text shown is not the current version: show it and ask again.
    case stalePolicy(String, currentVersion: UInt32)
    /// Permissions are decided only after the policy is accepted.
    case policyNotAccepted(String)
    /// A bad request from the app: unknown permission or locale, nothing to withdraw, ...
    case invalidRequest(String)
    /// Sync settings or the access token are wrong.
    case syncSetup(String)
    /// Restore from the server failed; nothing was written.
    case restoreFailed(String)

    init(_ error: ConsentError) {
        switch error {
        case let .KeyUnavailable(reason): self = .keyUnavailable(reason)
        case let .StoreDamaged(reason): self = .storeDamaged(reason)
        case let .StoreTooNew(reason): self = .storeTooNew(reason)
        case let .Storage(reason): self = .storageFailed(reason)
        case let .AgeNotConfirmed(reason): self = .ageNotConfirmed(reason)
        case let .StalePolicy(reason, currentVersion): self = .stalePolicy(reason, currentVersion: currentVersion)
        case let .PolicyNotAccepted(reason): self = .policyNotAccepted(reason)
        case let .InvalidRequest(reason): self = .invalidRequest(reason)
        case let .SyncSetup(reason): self = .syncSetup(reason)
        case let .RestoreFailed(reason): self = .restoreFailed(reason)
        }
    }

    /// The name of the core's error variant (`"AgeNotConfirmed"`), as the
    /// golden journey writes it.
    public var coreName: String {
        switch self {
        case .keyUnavailable: return "KeyUnavailable"
        case .storeDamaged: return "StoreDamaged"
        case .storeTooNew: return "StoreTooNew"
        case .storageFailed: return "Storage"
        case .ageNotConfirmed: return "AgeNotConfirmed"
        case .stalePolicy: return "StalePolicy"
        case .policyNotAccepted: return "PolicyNotAccepted"
        case .invalidRequest: return "InvalidRequest"
        case .syncSetup: return "SyncSetup"
        case .restoreFailed: return "RestoreFailed"
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .keyUnavailable(m), let .storeDamaged(m), let .storeTooNew(m), let .storageFailed(m),
             let .ageNotConfirmed(m), let .stalePolicy(m, _), let .policyNotAccepted(m),
             let .invalidRequest(m), let .syncSetup(m), let .restoreFailed(m):
            return m
        }
    }
}
