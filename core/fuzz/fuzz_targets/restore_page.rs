//! `GET /v1/events`: what the server sends back for a restore. Decoding the
//! page and checking it (`proof::check_restore_page`: the newest
//! installation's chain, link by link, and every event covered by a
//! verified receipt) must never panic.
#![no_main]

use std::sync::LazyLock;

use altyn_consent_core::proof::check_restore_page;
use altyn_consent_core::sync::wire::EventsPage;
use ed25519_dalek::{SigningKey, VerifyingKey};
use libfuzzer_sys::fuzz_target;

/// The server key of the seeds (see examples/gen_seeds.rs).
static KEY: LazyLock<VerifyingKey> =
    LazyLock::new(|| SigningKey::from_bytes(&[7u8; 32]).verifying_key());

fuzz_target!(|data: &[u8]| {
    let Ok(page) = serde_json::from_slice::<EventsPage>(data) else {
        return;
    };
    let _ = check_restore_page(&page, &[*KEY]);
});
