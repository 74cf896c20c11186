//! The kinds of failure, and what each one asks of the caller. Every error
//! of the core has exactly one kind ([`crate::ConsentError::kind`]); the
//! CLI's exit codes and the bindings' error enum are derived from it, never
//! from an error's message. `core/docs/errors.md` is the app developer's
//! table of kinds and actions.

use serde::Serialize;

/// What went wrong, as far as the caller's next step is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum ErrorKind {
    // Opening the store. None of these changed a byte.
    /// A read found no store: nothing has been recorded on this
    /// installation yet. Not a failure for a screen: show the policy.
    NoStoreYet,
    /// The store is gone but a trace shows it existed (key check, journal,
    /// keystore marker; on iOS the Keychain outlives a reinstall). Put it
    /// back, or `recover`.
    StoreMissing,
    /// The store's file is damaged (empty, cut short, bad pages) or is not
    /// a consent store. Keep it; `recover`.
    StoreDamaged,
    /// The file is there but its key is not (keystore cleared, not moved to
    /// a new device), or the keystore's key is not this store's. `recover`.
    KeyLost,
    /// The keystore is locked or busy, or failed for another reason: try
    /// again later. Nothing is wrong with the store; never recover on it.
    KeyLocked,
    /// The store was written by a newer app: ask the user to update.
    StoreTooNew,

    // The consent rules. Nothing was recorded.
    /// Acceptance without the 18+ attestation.
    AgeNotConfirmed,
    /// The policy text shown is not the current version: show it again.
    StalePolicy,
    /// A permission was decided before the policy was accepted.
    PolicyNotAccepted,
    /// The request is wrong: unknown permission or locale, nothing to
    /// withdraw, a bad account id, policy or catalog; or a write through a
    /// read-only client. A bug or bad data in the caller.
    InvalidRequest,
    /// Restore needs an empty store and this one holds events.
    StoreNotEmpty,
    /// §5.7: access is blocked pending the Company's review of a compromise
    /// report, and the request would grant something. Withdrawals,
    /// refusals and objections stay possible; sync fetches the Company's
    /// signed unblock decision.
    AccessBlocked,

    // Proof.
    /// The ledger, its receipts, the file's pages or an export do not
    /// check out: something was altered, forged or damaged.
    VerificationFailed,

    // The backend.
    /// Sync is not configured correctly (URL, keys, CA), or the token
    /// provider failed.
    SyncSetup,
    /// The server could not be reached (offline, DNS, timeout, TLS failure,
    /// 5xx): nothing was lost; try again later.
    Network,
    /// The server answered but refused (a 4xx, a refused token) or its
    /// answer does not prove what it should.
    ServerRejected,

    // Everything else.
    /// Reading or writing the store's files failed (disk full, I/O, busy):
    /// try again; the data is intact.
    Storage,
    /// A bug: please report it.
    Internal,
}

impl ErrorKind {
    /// A stable snake_case name, for logs and machine-readable output.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::NoStoreYet => "no_store_yet",
            ErrorKind::StoreMissing => "store_missing",
            ErrorKind::StoreDamaged => "store_damaged",
            ErrorKind::KeyLost => "key_lost",
            ErrorKind::KeyLocked => "key_locked",
            ErrorKind::StoreTooNew => "store_too_new",
            ErrorKind::AgeNotConfirmed => "age_not_confirmed",
            ErrorKind::StalePolicy => "stale_policy",
            ErrorKind::PolicyNotAccepted => "policy_not_accepted",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::StoreNotEmpty => "store_not_empty",
            ErrorKind::AccessBlocked => "access_blocked",
            ErrorKind::VerificationFailed => "verification_failed",
            ErrorKind::SyncSetup => "sync_setup",
            ErrorKind::Network => "network",
            ErrorKind::ServerRejected => "server_rejected",
            ErrorKind::Storage => "storage",
            ErrorKind::Internal => "internal",
        }
    }

    /// Every kind, for tables and tests.
    pub const ALL: [ErrorKind; 18] = [
        ErrorKind::NoStoreYet,
        ErrorKind::StoreMissing,
        ErrorKind::StoreDamaged,
        ErrorKind::KeyLost,
        ErrorKind::KeyLocked,
        ErrorKind::StoreTooNew,
        ErrorKind::AgeNotConfirmed,
        ErrorKind::StalePolicy,
        ErrorKind::PolicyNotAccepted,
        ErrorKind::InvalidRequest,
        ErrorKind::StoreNotEmpty,
        ErrorKind::AccessBlocked,
        ErrorKind::VerificationFailed,
        ErrorKind::SyncSetup,
        ErrorKind::Network,
        ErrorKind::ServerRejected,
        ErrorKind::Storage,
        ErrorKind::Internal,
    ];
}

/// What the shells do with a failure, decided here once for Kotlin, Swift
/// and the CLI (`core/docs/errors.md` is the table).
#[cfg_attr(feature = "ffi", uniffi::export)]
impl ErrorKind {
    /// Whether [`crate::ConsentClient::recover`] is the way out: the store
    /// cannot be read and will not become readable by waiting.
    pub fn calls_for_recovery(&self) -> bool {
        matches!(
            self,
            ErrorKind::StoreMissing | ErrorKind::StoreDamaged | ErrorKind::KeyLost
        )
    }

    /// Whether the same call may succeed later without anyone changing
    /// anything (locked keystore, busy disk, network): what a background
    /// job (JobScheduler, BGTaskScheduler) retries by itself. The others
    /// wait for the app (a signed-out user, a lost store, a refused
    /// configuration).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ErrorKind::KeyLocked | ErrorKind::Network | ErrorKind::Storage
        )
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
