//! The client's errors: what went wrong and what to do, with one kind each.

use super::*;

/// Errors of the client API. Each says what went wrong and what to do; none
/// carries personal data or key material.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    /// The store could not be opened, read or written; its kind is the
    /// store error's ([`StoreError::kind`]): from `no_store_yet` to
    /// `key_locked` (try later) or `store_damaged` (recover).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Kind `invalid_request`: a policy text was refused (malformed, a
    /// conflicting text of a stored version) or a section asked for does
    /// not exist. Nothing was recorded.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// Kind `invalid_request`: an unknown permission, or a catalog that is
    /// malformed, invalid or not newer. Nothing was recorded.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// Kind `age_not_confirmed`: acceptance without the 18+ attestation
    /// (preamble, §11.1). Ask the user to confirm; nothing was recorded.
    #[error("acceptance needs the user's explicit confirmation of being 18 or older (preamble, §11.1); nothing was recorded")]
    AgeNotConfirmed,
    /// Kind `stale_policy`: the version or hash handed back is not the
    /// current text in that language. Show the current policy and ask
    /// again; nothing was recorded.
    #[error(
        "the policy shown (version {offered_version}, hash {offered_hash}) is not the current one \
         (version {current_version}, hash {current_hash}); show the current policy and ask again. Nothing was recorded"
    )]
    StalePolicy {
        /// The version the caller handed back.
        offered_version: i32,
        /// The hash the caller handed back.
        offered_hash: String,
        /// The current version.
        current_version: i32,
        /// The current text's hash in the language asked for.
        current_hash: String,
    },
    /// Kind `invalid_request`: the current policy has no text in the
    /// language handed back. Use one of `available`.
    #[error("the current policy has no {locale:?} text; available: {available}")]
    UnknownLocale {
        /// The language tag as given.
        locale: String,
        /// The current policy's languages, comma-separated.
        available: String,
    },
    /// Kind `policy_not_accepted`: a permission was decided before the
    /// current policy was accepted (§2.4 needs it first). Show the policy;
    /// nothing was recorded.
    #[error("the policy must be accepted before permissions are decided (it is now {status}); nothing was recorded")]
    PolicyNotAccepted {
        /// The policy status in words ([`crate::describe_policy_status`]).
        status: String,
    },
    /// Kind `invalid_request`: a withdrawal of a consent that is not given
    /// (§6.1.5). Nothing was recorded.
    #[error("there is no consent to withdraw for {what}: it is {state}")]
    NothingToWithdraw {
        /// The permission id, or `the policy` for a withdrawal of all.
        what: String,
        /// Where it stands instead (`denied`, `never accepted`, ...).
        state: String,
    },
    /// Kind `invalid_request`: an account id that is empty, longer than
    /// 128 characters, or holds one that is not visible ASCII (a space, a
    /// control character, non-ASCII). Nothing was recorded.
    #[error("account id must be 1 to {MAX_ACCOUNT_ID} visible characters")]
    InvalidAccountId,
    /// Kind `verification_failed`: the hash chain is broken at the event
    /// named: the ledger was altered. Keep the store as evidence; recovery
    /// refuses it.
    #[error(transparent)]
    LedgerBroken(#[from] ChainBreak),
    /// Kind `verification_failed`: the ledger's chain holds, but something
    /// kept beside it disagrees (the state snapshot, an acknowledged mark,
    /// an outbox entry) or the server's copy shows events removed. Keep
    /// the store as evidence.
    #[error("the consent store failed its integrity check: {0}")]
    IntegrityCheckFailed(String),
    /// Sync could not start: kind `sync_setup` (fix the configuration, or
    /// sign in), or `network` for a token that cannot be had now.
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    /// Kind `verification_failed`: a kept receipt does not verify against
    /// the server keys or does not match the ledger: the ledger was altered
    /// after the server acknowledged it. Keep the store as evidence.
    #[error(transparent)]
    Receipt(#[from] ReceiptProblem),
    /// Kind `sync_setup`: the store holds receipts and the client has no
    /// server key to check them. Configure the keys
    /// ([`ClientConfig::server_keys`]); nothing is wrong with the store.
    #[error(
        "the store holds {count} signed receipt(s) and no server key is configured to check them: \
         give the server's public key (CLI: --server-key or --server-data-dir)"
    )]
    NoTrustedKey {
        /// How many receipts the store holds.
        count: usize,
    },
    /// Kind `network`: the server could not be reached (offline, timeout,
    /// 5xx, TLS). Nothing was lost or written; try again later.
    #[error("the server could not be reached: {0}. Nothing was lost; try again later")]
    Network(String),
    /// Kind `server_rejected`: the server refused the request (a refused
    /// token, a 4xx) or holds nothing to restore. Nothing was written.
    #[error("the server refused: {0}")]
    ServerRejected(String),
    /// Kind `server_rejected`: what the server returned for a restore does
    /// not check out (a broken chain, an event without a signed receipt).
    /// Nothing was written; do not trust that server's copy.
    #[error("the server's answer does not prove itself: {0}. Nothing was written")]
    ServerProof(String),
    /// Kind `access_blocked`: §5.7, access is blocked pending the
    /// Company's review of a compromise report, and the request would grant
    /// something. Nothing was recorded. Withdrawals, refusals and
    /// objections stay possible; sync fetches the unblock decision.
    #[error(
        "access is blocked pending the Company's review of the compromise report made at {since} (§5.7): \
         nothing can be granted until the Company restores access. Nothing was recorded"
    )]
    AccessBlocked {
        /// When the block began.
        since: String,
    },
    /// Kind `invalid_request`: no statement is needed or possible: the
    /// policy names no Company or address, or the statement asked for does
    /// not exist.
    #[error("{0}")]
    Statement(String),
    /// Kind `invalid_request`: `recover` was asked for a store that needs
    /// none (it opens, there is none yet, or it fails verification, which
    /// is evidence and is kept). Nothing was moved.
    #[error("nothing to recover: {0}")]
    NothingToRecover(String),
}

impl ConsentError {
    /// The kind of failure, which decides what the caller does (see
    /// [`ErrorKind`]); never look at the message.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ConsentError::Store(e) => e.kind(),
            ConsentError::Policy(_)
            | ConsentError::Catalog(_)
            | ConsentError::UnknownLocale { .. }
            | ConsentError::NothingToWithdraw { .. }
            | ConsentError::InvalidAccountId
            | ConsentError::Statement(_)
            | ConsentError::NothingToRecover(_) => ErrorKind::InvalidRequest,
            ConsentError::AccessBlocked { .. } => ErrorKind::AccessBlocked,
            ConsentError::AgeNotConfirmed => ErrorKind::AgeNotConfirmed,
            ConsentError::StalePolicy { .. } => ErrorKind::StalePolicy,
            ConsentError::PolicyNotAccepted { .. } => ErrorKind::PolicyNotAccepted,
            ConsentError::LedgerBroken(_)
            | ConsentError::IntegrityCheckFailed(_)
            | ConsentError::Receipt(_) => ErrorKind::VerificationFailed,
            ConsentError::NoTrustedKey { .. } => ErrorKind::SyncSetup,
            ConsentError::Sync(crate::sync::SyncError::Token(
                crate::sync::TokenError::Unavailable { .. },
            )) => ErrorKind::Network,
            ConsentError::Sync(_) => ErrorKind::SyncSetup,
            ConsentError::Network(_) => ErrorKind::Network,
            ConsentError::ServerRejected(_) | ConsentError::ServerProof(_) => {
                ErrorKind::ServerRejected
            }
        }
    }
}
