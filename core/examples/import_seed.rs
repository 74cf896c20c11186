//! Regenerates the bundled policy from the seed text:
//!
//! ```sh
//! cargo run -p altyn-consent-core --example import_seed -- \
//!     core/policy/seed-privacy-policy-altyncoin-ru.txt core/policy/altyncoin-privacy-ru.json
//! ```
//!
//! `core/tests/policy_seed.rs` fails if the committed JSON differs from what
//! this produces, so the two can never drift apart.

use altyn_consent_core::policy::seed::{import, SeedMeta};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [seed, out] = args.as_slice() else {
        eprintln!("usage: import_seed <seed.txt> <out.json>");
        std::process::exit(2);
    };
    let text = std::fs::read_to_string(seed).unwrap_or_else(|e| {
        eprintln!("cannot read {seed}: {e}");
        std::process::exit(1);
    });
    let doc = import(&text, &SeedMeta::altyncoin_ru()).unwrap_or_else(|e| {
        eprintln!("import failed: {e}");
        std::process::exit(1);
    });
    let mut json = serde_json::to_string_pretty(&doc).expect("a document serialises");
    json.push('\n');
    std::fs::write(out, json).unwrap_or_else(|e| {
        eprintln!("cannot write {out}: {e}");
        std::process::exit(1);
    });
    println!("{} clauses, hash {}", doc.clauses().count(), doc.hash());
}
