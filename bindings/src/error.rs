//! The errors the shells see: one small enum, each variant naming what the
//! app should do. `reason` is the core's message: what went wrong and what
//! to do, never personal data or key material.

use altyn_consent_core as core;
use core::client::ConsentError as E;
use core::permissions::CatalogError;
use core::store::StoreError;

/// Kotlin: `ConsentException.*`; Swift: `ConsentError.*`.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ConsentError {
    /// The keystore has no key for the store, a wrong one, or cannot be
    /// reached. Nothing was changed; the data is not lost while the file is
    /// kept: restore the keystore, or restore from the server into a new store.
    #[error("{reason}")]
    KeyUnavailable { reason: String },
    /// The store file is damaged or not a consent store. It was left as it
    /// is; keep it for investigation and restore from the server.
    #[error("{reason}")]
    StoreDamaged { reason: String },
    /// The store was written by a newer app version: ask the user to update.
    #[error("{reason}")]
    StoreTooNew { reason: String },
    /// Reading or writing the store failed (disk full, I/O): try again.
    #[error("{reason}")]
    Storage { reason: String },
    /// Acceptance without the 18+ attestation; nothing was recorded.
    #[error("{reason}")]
    AgeNotConfirmed { reason: String },
    /// The text shown is not the current version: show the current policy
    /// and ask again. Nothing was recorded.
    #[error("{reason}")]
    StalePolicy {
        reason: String,
        current_version: u32,
    },
    /// A permission was decided before the policy was accepted.
    #[error("{reason}")]
    PolicyNotAccepted { reason: String },
    /// Unknown permission, unknown locale, nothing to withdraw, an invalid
    /// account id, catalog or policy: a bug or bad data in the app's request.
    #[error("{reason}")]
    InvalidRequest { reason: String },
    /// Sync is misconfigured (URL, keys, CA) or the token could not be had.
    #[error("{reason}")]
    SyncSetup { reason: String },
    /// Restoring from the server failed; nothing was written.
    #[error("{reason}")]
    RestoreFailed { reason: String },
}

impl From<E> for ConsentError {
    fn from(e: E) -> Self {
        let reason = e.to_string();
        match e {
            E::Store(s) => match s {
                StoreError::WrongKey
                | StoreError::KeyMissing { .. }
                | StoreError::KeyUnavailable(_)
                | StoreError::BadKeyLength { .. } => ConsentError::KeyUnavailable { reason },
                StoreError::NotAConsentStore { .. }
                | StoreError::Corrupt { .. }
                | StoreError::Decode(_) => ConsentError::StoreDamaged { reason },
                StoreError::SchemaTooNew { .. } => ConsentError::StoreTooNew { reason },
                StoreError::Conflict(_) => ConsentError::InvalidRequest { reason },
                StoreError::Sqlite(_) | StoreError::Io { .. } | StoreError::HeadMoved { .. } => {
                    ConsentError::Storage { reason }
                }
            },
            E::LedgerBroken(_) | E::IntegrityCheckFailed(_) => {
                ConsentError::StoreDamaged { reason }
            }
            E::AgeNotConfirmed => ConsentError::AgeNotConfirmed { reason },
            E::StalePolicy {
                current_version, ..
            } => ConsentError::StalePolicy {
                reason,
                current_version,
            },
            E::PolicyNotAccepted { .. } => ConsentError::PolicyNotAccepted { reason },
            E::Policy(_)
            | E::Catalog(_)
            | E::UnknownLocale { .. }
            | E::NothingToWithdraw { .. }
            | E::InvalidAccountId => ConsentError::InvalidRequest { reason },
            E::Sync(_) => ConsentError::SyncSetup { reason },
            E::RestoreFailed(_) => ConsentError::RestoreFailed { reason },
        }
    }
}

impl From<CatalogError> for ConsentError {
    fn from(e: CatalogError) -> Self {
        ConsentError::InvalidRequest {
            reason: e.to_string(),
        }
    }
}

/// What a shell's callback (key provider, token provider) reports when it
/// fails. The message must not hold key material or tokens.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    #[error("{reason}")]
    Failed { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for PlatformError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        PlatformError::Failed {
            reason: format!("the app's callback failed unexpectedly: {}", e.reason),
        }
    }
}
