//! `GET /v1/policies/{id}`: a policy text with the publisher's signature.
//! Decoding and verifying must never panic. Seeds are signed with the fixed
//! key below, so mutations of a real signed text reach the signature check.
#![no_main]

use std::sync::LazyLock;

use altyn_consent_core::sync::wire::SignedPolicy;
use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;

/// The publisher key of the seeds (see examples/gen_seeds.rs).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7u8; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    let Ok(signed) = serde_json::from_slice::<SignedPolicy>(data) else {
        return;
    };
    if let Ok(doc) = signed.verify(&[*KEY]) {
        let _ = doc.hash();
        let _ = doc.validate();
    }
});
