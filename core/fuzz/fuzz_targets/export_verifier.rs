//! An export file handed to the verifier (`altyn-consent verify --export`):
//! `proof::verify_export` must refuse bad input with an error, never panic.
//! The seeds carry receipts signed with the fixed key below, the trusted
//! server key here, so mutations reach the receipt checks.
#![no_main]

use std::sync::LazyLock;

use altyn_consent_core::proof::verify_export;
use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;

/// The server key of the seeds (see examples/gen_seeds.rs).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7u8; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    let _ = verify_export(data, &[*KEY]);
});
