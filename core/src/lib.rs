//! Altyn Consent core: every rule of the consent flow, in plain Rust.
//!
//! Modules, lowest first: [`canonical`] (the byte form hashes cover),
//! [`policy`], [`permissions`], [`ledger`], [`store`], [`state`], [`sync`],
//! [`proof`], [`iso27560`] (the ledger as ISO/IEC TS 27560 consent records),
//! [`client`]; [`error`] names the kinds of failure.
//! Imports flow one way: a module only uses the modules listed before it.

#![deny(missing_docs)]

pub mod canonical;
pub mod client;
pub mod error;
pub mod iso27560;
pub mod ledger;
pub mod permissions;
pub mod policy;
pub mod proof;
pub mod state;
pub mod statement;
pub mod store;
pub mod sync;
pub mod views;

// With `ffi`, the records and enums below are UniFFI types of their own
// namespace; `bindings/` exports them as they are (Kotlin package
// `kz.altyncoin.consent.core`, Swift module `AltynConsent`).
#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!("altyn_consent_core");

pub use client::{
    describe_policy_status, ClientConfig, ConsentClient, ConsentError, Recovered, RecoveryReport,
    StateObserver, VerifyReport,
};
pub use error::ErrorKind;
pub use ledger::{AppContext, Event, EventKind};
pub use permissions::{OsStatus, UserConsent};
pub use state::{ConsentState, PermissionState, PolicyStatus};
