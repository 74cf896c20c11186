//! The server's answer to an upload, as the client decodes it: a signed
//! receipt (2xx) or an API error (4xx/5xx). Decoding and checking the
//! signature must never panic; the fuzzer cannot forge a signature, so the
//! seeds carry receipts signed with the fixed key below.
#![no_main]

use std::sync::LazyLock;

use altyn_consent_core::sync::wire::{ApiError, Receipt};
use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;

/// The server key of the seeds (see examples/gen_seeds.rs).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7u8; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    if let Ok(receipt) = serde_json::from_slice::<Receipt>(data) {
        let _ = receipt.verify(&[*KEY]);
        let _ = receipt.verify(&[]);
    }
    let _ = serde_json::from_slice::<ApiError>(data);
});
