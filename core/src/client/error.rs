//! The client's errors: what went wrong and what to do, with one kind each.

use super::*;

/// Errors of the client API. Each says what went wrong and what to do; none
/// carries personal data or key material.
#[derive(Debug, thiserror::Error)]
pub enum ConsentError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("acceptance needs the user's explicit confirmation of being 18 or older (preamble, §11.1); nothing was recorded")]
    AgeNotConfirmed,
    #[error(
        "the policy shown (version {offered_version}, hash {offered_hash}) is not the current one \
         (version {current_version}, hash {current_hash}); show the current policy and ask again. Nothing was recorded"
    )]
    StalePolicy {
        offered_version: i32,
        offered_hash: String,
        current_version: i32,
        current_hash: String,
    },
    #[error("the current policy has no {locale:?} text; available: {available}")]
    UnknownLocale { locale: String, available: String },
    #[error("the policy must be accepted before permissions are decided (it is now {status}); nothing was recorded")]
    PolicyNotAccepted { status: String },
    #[error("there is no consent to withdraw for {what}: it is {state}")]
    NothingToWithdraw { what: String, state: String },
    #[error("account id must be 1 to {MAX_ACCOUNT_ID} visible characters")]
    InvalidAccountId,
    #[error(transparent)]
    LedgerBroken(#[from] ChainBreak),
    #[error("the consent store failed its integrity check: {0}")]
    IntegrityCheckFailed(String),
    #[error(transparent)]
    Sync(#[from] crate::sync::SyncError),
    #[error(transparent)]
    Receipt(#[from] ReceiptProblem),
    #[error(
        "the store holds {count} signed receipt(s) and no server key is configured to check them: \
         give the server's public key (CLI: --server-key or --server-data-dir)"
    )]
    NoTrustedKey { count: usize },
    #[error("the server could not be reached: {0}. Nothing was lost; try again later")]
    Network(String),
    #[error("the server refused: {0}")]
    ServerRejected(String),
    #[error("the server's answer does not prove itself: {0}. Nothing was written")]
    ServerProof(String),
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
            | ConsentError::NothingToRecover(_) => ErrorKind::InvalidRequest,
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
