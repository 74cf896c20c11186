//! The errors the shells see: one small enum, each variant naming what the
//! app should do. `reason` is the core's message: what went wrong and what
//! to do, never personal data or key material.

use altyn_consent_core as core;
use core::client::ConsentError as E;
use core::permissions::CatalogError;
use core::ErrorKind;

/// Kotlin: `ConsentException.*`; Swift: `ConsentError.*`. One variant per
/// kind of failure of the core ([`core::ErrorKind`], where each is
/// documented; `core/docs/errors.md` is the table of kinds and actions):
/// the variant decides what the app does, never the message.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum ConsentError {
    /// A read found no store; nothing was recorded yet.
    #[error("{reason}")]
    NoStoreYet { reason: String },
    /// The store is gone but a trace (Keychain marker, key check) shows it
    /// existed: put it back, or call `recover`.
    #[error("{reason}")]
    StoreMissing { reason: String },
    /// The store's file is damaged or not a consent store. It was left as
    /// it is: call `recover`.
    #[error("{reason}")]
    StoreDamaged { reason: String },
    /// The store's key is gone from the keystore (or is not this store's):
    /// call `recover`.
    #[error("{reason}")]
    KeyLost { reason: String },
    /// The keystore is locked or busy: try again later (e.g. after unlock).
    /// Nothing is wrong with the store; never recover on this.
    #[error("{reason}")]
    KeyLocked { reason: String },
    /// The store was written by a newer app version: ask the user to update.
    #[error("{reason}")]
    StoreTooNew { reason: String },
    /// Acceptance without the 18+ attestation; nothing was recorded.
    #[error("{reason}")]
    AgeNotConfirmed { reason: String },
    /// The text shown is not the current version: show the current policy
    /// and ask again. Nothing was recorded.
    #[error("{reason}")]
    StalePolicy {
        reason: String,
        current_version: i32,
    },
    /// A permission was decided before the policy was accepted.
    #[error("{reason}")]
    PolicyNotAccepted { reason: String },
    /// Unknown permission, unknown locale, nothing to withdraw, an invalid
    /// account id, catalog or policy, nothing to recover: a bug or bad data
    /// in the app's request.
    #[error("{reason}")]
    InvalidRequest { reason: String },
    /// Restore needs an empty store, and this one holds events.
    #[error("{reason}")]
    StoreNotEmpty { reason: String },
    /// §5.7: access is blocked pending the Company's review of a compromise
    /// report; the request would grant something. Show that access is
    /// blocked; withdrawals, refusals and objections stay possible.
    #[error("{reason}")]
    AccessBlocked { reason: String },
    /// The ledger, its receipts or an export does not check out.
    #[error("{reason}")]
    VerificationFailed { reason: String },
    /// Sync is misconfigured (URL, keys, CA) or the token could not be had.
    #[error("{reason}")]
    SyncSetup { reason: String },
    /// The server could not be reached; nothing was lost: try again later.
    #[error("{reason}")]
    Network { reason: String },
    /// The server refused, or its answer does not prove itself.
    #[error("{reason}")]
    ServerRejected { reason: String },
    /// Reading or writing the store failed (disk full, I/O): try again.
    #[error("{reason}")]
    Storage { reason: String },
    /// A bug in the library: please report it.
    #[error("{reason}")]
    Internal { reason: String },
}

impl From<E> for ConsentError {
    fn from(e: E) -> Self {
        let reason = e.to_string();
        if let E::StalePolicy {
            current_version, ..
        } = e
        {
            return ConsentError::StalePolicy {
                reason,
                current_version,
            };
        }
        ConsentError::of_kind(e.kind(), reason)
    }
}

impl ConsentError {
    /// The variant of a kind (`StalePolicy` carries its version, so it is
    /// built from the core's error itself).
    pub fn of_kind(kind: ErrorKind, reason: String) -> Self {
        match kind {
            ErrorKind::NoStoreYet => ConsentError::NoStoreYet { reason },
            ErrorKind::StoreMissing => ConsentError::StoreMissing { reason },
            ErrorKind::StoreDamaged => ConsentError::StoreDamaged { reason },
            ErrorKind::KeyLost => ConsentError::KeyLost { reason },
            ErrorKind::KeyLocked => ConsentError::KeyLocked { reason },
            ErrorKind::StoreTooNew => ConsentError::StoreTooNew { reason },
            ErrorKind::AgeNotConfirmed => ConsentError::AgeNotConfirmed { reason },
            ErrorKind::StalePolicy => ConsentError::StalePolicy {
                reason,
                current_version: 0,
            },
            ErrorKind::PolicyNotAccepted => ConsentError::PolicyNotAccepted { reason },
            ErrorKind::InvalidRequest => ConsentError::InvalidRequest { reason },
            ErrorKind::StoreNotEmpty => ConsentError::StoreNotEmpty { reason },
            ErrorKind::AccessBlocked => ConsentError::AccessBlocked { reason },
            ErrorKind::VerificationFailed => ConsentError::VerificationFailed { reason },
            ErrorKind::SyncSetup => ConsentError::SyncSetup { reason },
            ErrorKind::Network => ConsentError::Network { reason },
            ErrorKind::ServerRejected => ConsentError::ServerRejected { reason },
            ErrorKind::Storage => ConsentError::Storage { reason },
            ErrorKind::Internal => ConsentError::Internal { reason },
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

/// What the app's key provider reports when it
/// fails. The message must not hold key material or tokens.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum PlatformError {
    /// The keystore is locked or busy (Android: the device is locked or a
    /// Keystore operation is in progress; iOS: `errSecInteractionNotAllowed`
    /// before the first unlock). The core reports `KeyLocked`: try again.
    #[error("{reason}")]
    Locked { reason: String },
    /// Anything else.
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

/// Why the app's [`crate::TokenProvider`] has no token (the core's
/// [`core::sync::TokenError`]). Defined here rather than exported from the
/// core: uniffi 0.32's Kotlin code for an async foreign trait cannot lower
/// an error type of another crate (a `RustBuffer` of the wrong package).
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum TokenError {
    /// Nobody is signed in: the pass stops with `SyncSetup`, nothing is
    /// lost; sync again after sign-in.
    #[error("no user is signed in: sign in, then sync again")]
    SignedOut,
    /// The token cannot be had now (login service unreachable, keystore
    /// locked): the pass stops with `Network`; try again later.
    #[error("{reason}")]
    Unavailable { reason: String },
}

impl From<TokenError> for core::sync::TokenError {
    fn from(e: TokenError) -> Self {
        match e {
            TokenError::SignedOut => core::sync::TokenError::SignedOut,
            TokenError::Unavailable { reason } => core::sync::TokenError::Unavailable { reason },
        }
    }
}

impl From<uniffi::UnexpectedUniFFICallbackError> for TokenError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        TokenError::Unavailable {
            reason: format!("the app's token provider failed unexpectedly: {}", e.reason),
        }
    }
}

/// Why the app's [`crate::HttpClient`] got no complete answer.
#[derive(Debug, thiserror::Error, uniffi::Error)]
pub enum HttpError {
    /// No connection, a timeout, a reset, a body cut off: may work later.
    #[error("{reason}")]
    Network { reason: String },
    /// TLS refused the server (certificate, pin): nothing was sent.
    #[error("{reason}")]
    Insecure { reason: String },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HttpError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HttpError::Network {
            reason: format!("the app's HTTP client failed unexpectedly: {}", e.reason),
        }
    }
}
