import Foundation

/// Why a consent operation failed, and what the app should do. Mirror of
/// Kotlin's `ConsentFailure`. Messages say what went wrong and what to do;
/// none holds personal data, tokens or key material. Nothing is recorded
/// when one is thrown.
public enum ConsentFailure: Error, LocalizedError, Equatable {
    /// A read found no store: nothing has been recorded yet.
    case noStoreYet(String)
    /// The store is gone but a trace shows it existed (the Keychain outlives an app reinstall). Put it back, or call `AltynConsentClient.recover`.
    case storeMissing(String)
    /// The store file is damaged or not a consent store; it was left as it is. Call `AltynConsentClient.recover`.
    case storeDamaged(String)
    /// The store's key is gone from the Keychain (or is not this store's). The file is kept: call `AltynConsentClient.recover`.
    case keyLost(String)
    /// The Keychain is locked (before the first unlock) or busy: try again later. Never recover on this.
    case keyLocked(String)
    /// The store comes from a newer app version: ask the user to update.
    case storeTooNew(String)
    /// Disk or I/O trouble: try again later.
    case storageFailed(String)
    /// Acceptance without the 18+ confirmation: ask for it.
    case ageNotConfirmed(String)
    /// Permissions are decided only after the policy is accepted.
    case policyNotAccepted(String)
    /// A bad request from the app: unknown permission or locale, nothing to withdraw, nothing to recover, ...
    case invalidRequest(String)
    /// Restore needs an empty store, and this one holds events.
    case storeNotEmpty(String)
    /// §5.7: access is blocked pending the Company's review of a compromise report; nothing can be granted.
    case accessBlocked(String)
    /// The ledger, its receipts or an export does not check out: it was altered.
    case verificationFailed(String)
    /// Sync settings, the server keys or the access token are wrong.
    case syncSetup(String)
    /// The server could not be reached: nothing was lost, try again later.
    case network(String)
    /// The server refused, or its answer does not prove itself.
    case serverRejected(String)
    /// A bug in the library: please report it.
    case `internal`(String)
    /// The text shown is not the current version: show it and ask again.
    case stalePolicy(String, currentVersion: Int32)

    init(_ error: ConsentError) {
        switch error {
        case let .NoStoreYet(reason): self = .noStoreYet(reason)
        case let .StoreMissing(reason): self = .storeMissing(reason)
        case let .StoreDamaged(reason): self = .storeDamaged(reason)
        case let .KeyLost(reason): self = .keyLost(reason)
        case let .KeyLocked(reason): self = .keyLocked(reason)
        case let .StoreTooNew(reason): self = .storeTooNew(reason)
        case let .Storage(reason): self = .storageFailed(reason)
        case let .AgeNotConfirmed(reason): self = .ageNotConfirmed(reason)
        case let .PolicyNotAccepted(reason): self = .policyNotAccepted(reason)
        case let .InvalidRequest(reason): self = .invalidRequest(reason)
        case let .StoreNotEmpty(reason): self = .storeNotEmpty(reason)
        case let .AccessBlocked(reason): self = .accessBlocked(reason)
        case let .VerificationFailed(reason): self = .verificationFailed(reason)
        case let .SyncSetup(reason): self = .syncSetup(reason)
        case let .Network(reason): self = .network(reason)
        case let .ServerRejected(reason): self = .serverRejected(reason)
        case let .Internal(reason): self = .internal(reason)
        case let .StalePolicy(reason, currentVersion): self = .stalePolicy(reason, currentVersion: currentVersion)
        }
    }

    /// The name of the core's error variant (`"AgeNotConfirmed"`), as the
    /// golden journey writes it.
    public var coreName: String {
        switch self {
        case .noStoreYet: return "NoStoreYet"
        case .storeMissing: return "StoreMissing"
        case .storeDamaged: return "StoreDamaged"
        case .keyLost: return "KeyLost"
        case .keyLocked: return "KeyLocked"
        case .storeTooNew: return "StoreTooNew"
        case .storageFailed: return "Storage"
        case .ageNotConfirmed: return "AgeNotConfirmed"
        case .policyNotAccepted: return "PolicyNotAccepted"
        case .invalidRequest: return "InvalidRequest"
        case .storeNotEmpty: return "StoreNotEmpty"
        case .accessBlocked: return "AccessBlocked"
        case .verificationFailed: return "VerificationFailed"
        case .syncSetup: return "SyncSetup"
        case .network: return "Network"
        case .serverRejected: return "ServerRejected"
        case .internal: return "Internal"
        case .stalePolicy: return "StalePolicy"
        }
    }

    /// The core's kind of this failure: `kind.isTransient()` (a background
    /// pass tries again by itself), `kind.callsForRecovery()`.
    public var kind: ErrorKind {
        switch self {
        case .noStoreYet: return .noStoreYet
        case .storeMissing: return .storeMissing
        case .storeDamaged: return .storeDamaged
        case .keyLost: return .keyLost
        case .keyLocked: return .keyLocked
        case .storeTooNew: return .storeTooNew
        case .storageFailed: return .storage
        case .ageNotConfirmed: return .ageNotConfirmed
        case .policyNotAccepted: return .policyNotAccepted
        case .invalidRequest: return .invalidRequest
        case .storeNotEmpty: return .storeNotEmpty
        case .accessBlocked: return .accessBlocked
        case .verificationFailed: return .verificationFailed
        case .syncSetup: return .syncSetup
        case .network: return .network
        case .serverRejected: return .serverRejected
        case .internal: return .internal
        case .stalePolicy: return .stalePolicy
        }
    }

    public var errorDescription: String? {
        switch self {
        case let .noStoreYet(m), let .storeMissing(m), let .storeDamaged(m), let .keyLost(m), let .keyLocked(m), let .storeTooNew(m),
            let .storageFailed(m), let .ageNotConfirmed(m), let .policyNotAccepted(m), let .invalidRequest(m), let .storeNotEmpty(m),
            let .accessBlocked(m), let .verificationFailed(m), let .syncSetup(m), let .network(m), let .serverRejected(m), let .internal(m),
            let .stalePolicy(m, _):
            return m
        }
    }
}
