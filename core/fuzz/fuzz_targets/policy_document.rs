//! A policy text as the app receives it (bundled, or downloaded and then
//! verified): `PolicyDocument::parse` must refuse bad input with an error,
//! and a document it accepts must hash, validate and render without a panic.
#![no_main]

use altyn_consent_core::policy::{render_document, render_section, PolicyDocument, RenderFormat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = PolicyDocument::parse(data) else {
        return;
    };
    let hash = doc.hash();
    assert_eq!(hash.len(), 64, "a policy hash is 64 hex digits");
    doc.validate()
        .expect("a document that parsed passes validate() again");

    // The canonical form is what signatures and hashes cover: reading it
    // back must give the same document and the same hash.
    let again = PolicyDocument::parse(&doc.canonical_bytes())
        .expect("the canonical form of an accepted document parses");
    assert_eq!(
        again, doc,
        "the canonical form reads back as the same document"
    );
    assert_eq!(
        again.hash(),
        hash,
        "the hash survives the canonical round trip"
    );

    let _ = doc.reference();
    let _ = doc.data_categories();
    for format in [RenderFormat::PlainText, RenderFormat::Markdown] {
        let text = render_document(&doc, format);
        assert!(text.ends_with('\n'));
        // Every section and clause the document has can be shown on its own.
        for section in &doc.sections {
            render_section(&doc, &section.id, format).expect("an existing section renders");
            for clause in &section.clauses {
                render_section(&doc, &clause.id, format).expect("an existing clause renders");
                let _ = doc.clause_summary(&clause.id);
            }
        }
    }
});
