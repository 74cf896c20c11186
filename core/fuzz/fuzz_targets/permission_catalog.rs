//! A permission catalog (bundled, or a newer one from the backend):
//! `PermissionCatalog::parse` must refuse bad input with an error, and an
//! accepted catalog must check against the bundled policy without a panic.
#![no_main]

use std::sync::LazyLock;

use altyn_consent_core::permissions::PermissionCatalog;
use altyn_consent_core::policy::PolicyDocument;
use libfuzzer_sys::fuzz_target;

static POLICY: LazyLock<PolicyDocument> = LazyLock::new(PolicyDocument::bundled);

fuzz_target!(|data: &[u8]| {
    let Ok(catalog) = PermissionCatalog::parse(data) else {
        return;
    };
    let _ = catalog.validate_against(&POLICY);
    let _ = catalog.check_replaces(&catalog);
    for id in catalog.ids() {
        let permission = catalog.get(id).expect("a listed id is found");
        for locale in ["ru", "en", "kk-KZ", ""] {
            let _ = permission.title_in(locale);
            let _ = permission.rationale_in(locale);
            let _ = permission.refusal_effect_in(locale);
        }
    }
});
