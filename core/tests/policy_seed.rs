//! The bundled policy is the seed text, word for word, with every numbered
//! clause, save the reviewed typing fixes listed in `policy::seed::FIXES`.

use altyn_consent_core::policy::seed::{import, SeedMeta, DROPPED_LINE_PREFIXES, FIXES};
use altyn_consent_core::policy::{Block, PolicyDocument};

const SEED: &str = include_str!("../policy/seed-privacy-policy-altyncoin-ru.txt");

/// The seed as a plain run of words, computed here without the importer:
/// hyphenated line ends rejoined, the PDF's link line dropped, fixes applied.
fn seed_words() -> Vec<String> {
    let mut text = String::new();
    for line in SEED.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if DROPPED_LINE_PREFIXES.iter().any(|p| line.starts_with(p)) {
            continue;
        }
        if !text.is_empty() && !text.ends_with('-') {
            text.push(' ');
        }
        text.push_str(line);
    }
    let mut text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    for fix in FIXES {
        assert_eq!(
            text.matches(fix.from).count(),
            fix.occurrences,
            "fix {:?}",
            fix.from
        );
        text = text.replace(fix.from, fix.to);
    }
    text.split(' ').map(str::to_string).collect()
}

/// The document as a plain run of words in reading order, with clause and
/// section numbers written as in the seed ("4.2.5.").
fn document_words(doc: &PolicyDocument) -> Vec<String> {
    fn blocks(out: &mut Vec<String>, blocks: &[Block]) {
        for block in blocks {
            match block {
                Block::Paragraph { text } => out.push(text.clone()),
                Block::List { items } => out.extend(items.iter().map(|i| i.text.clone())),
            }
        }
    }
    let mut parts = vec![doc.title.clone()];
    blocks(&mut parts, &doc.preamble);
    for section in &doc.sections {
        parts.push(format!("{}. {}", section.id, section.title));
        blocks(&mut parts, &section.blocks);
        for clause in &section.clauses {
            parts.push(format!("{}.", clause.id));
            blocks(&mut parts, &clause.blocks);
        }
    }
    parts
        .join(" ")
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn bundled_policy_has_the_seed_words_in_order() {
    let doc = PolicyDocument::bundled();
    let expected = seed_words();
    let actual = document_words(&doc);
    if expected != actual {
        let at = expected
            .iter()
            .zip(&actual)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(actual.len()));
        panic!(
            "word {at} differs: seed {:?} / bundled {:?}",
            &expected[at.saturating_sub(3)..(at + 5).min(expected.len())],
            &actual[at.saturating_sub(3)..(at + 5).min(actual.len())]
        );
    }
    assert_eq!(
        expected.len(),
        2366,
        "the seed has 2,366 words after the fixes"
    );
}

#[test]
fn every_numbered_clause_of_the_seed_is_present() {
    let doc = PolicyDocument::bundled();
    let mut numbers = Vec::new();
    for line in SEED.lines().map(str::trim) {
        let Some((number, _)) = line.split_once(". ") else {
            continue;
        };
        let parts: Vec<&str> = number.split('.').collect();
        if parts.len() >= 2
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
        {
            numbers.push(number.to_string());
        }
    }
    assert_eq!(numbers.len(), 71, "the seed numbers 71 clauses");
    let ids: Vec<&str> = doc.clauses().map(|c| c.id.as_str()).collect();
    assert_eq!(
        ids,
        numbers.iter().map(String::as_str).collect::<Vec<_>>(),
        "same clauses, same order"
    );
    for section in 1..=11 {
        assert!(
            doc.sections.iter().any(|s| s.id == section.to_string()),
            "section {section}"
        );
    }
    for id in ["2.4", "4.2.5", "6.1.3", "6.1.5", "10.4", "11.1"] {
        assert!(doc.clause(id).is_some(), "clause {id}");
    }
}

#[test]
fn bundled_json_is_exactly_what_the_importer_produces() {
    let imported = import(SEED, &SeedMeta::altyncoin_ru()).expect("the seed imports");
    let bundled = PolicyDocument::bundled();
    assert_eq!(
        imported, bundled,
        "regenerate with: cargo run -p altyn-consent-core --example import_seed"
    );
    assert_eq!(imported.hash(), bundled.hash());
}

#[test]
fn repository_copy_of_the_seed_matches_the_shared_seed_when_present() {
    // CI and developers have shared/ beside the repository; a changed seed
    // there must be brought in (and re-imported) deliberately.
    let shared = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/seed/privacy-policy-altyncoin-ru.txt"
    );
    match std::fs::read_to_string(shared) {
        Ok(text) => assert_eq!(
            text, SEED,
            "shared/seed changed: copy it to core/policy/ and re-import"
        ),
        Err(e) => eprintln!("shared seed not found ({e}); comparing with the repository copy only"),
    }
}

#[test]
fn personal_data_categories_of_2_3_are_data() {
    let doc = PolicyDocument::bundled();
    let categories = doc.data_categories();
    assert_eq!(categories.len(), 25);
    assert!(categories.iter().all(|c| c.clause_id == "2.3"));
    let selfie = categories.iter().find(|c| c.id == "selfie_photo").unwrap();
    assert_eq!(selfie.text, "онлайн-фотоснимок Пользователя;");
    let contacts = categories.iter().find(|c| c.id == "phone_numbers").unwrap();
    assert!(contacts.text.contains("номера телефонов контактных лиц"));
}

#[test]
fn the_preamble_keeps_the_age_attestation() {
    let doc = PolicyDocument::bundled();
    let text = altyn_consent_core::policy::render_document(
        &doc,
        altyn_consent_core::policy::RenderFormat::PlainText,
    );
    assert!(text.contains("Подтверждаете, что Вам исполнилось 18 лет"));
    assert_eq!(
        doc.clause_summary("11.1"),
        Some("Интернет-ресурс Компании не предназначен для Пользователей младше 18 лет.")
    );
}
