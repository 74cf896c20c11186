//! Writes the seed inputs of the fuzz targets, made with the core's own
//! types: a real ledger (recorded by `ConsentClient` with a fixed clock and
//! fixed ids), its export, receipts and policies signed with the fixed key
//! the targets trust (`SigningKey::from_bytes(&[7; 32])`).
//!
//! ```sh
//! cd core/fuzz && cargo +nightly run --example gen_seeds -- seeds
//! ```
//!
//! writes `seeds/<target>/<name>.json` and checks that each passes the
//! core's checks; the committed corpus in `corpus/` grew from these files.
//! See README.md for a build that reuses the fuzz build's artifacts.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use altyn_consent_core::ledger::{format_time, ChainHead, Clock, IdSource, GENESIS_HASH};
use altyn_consent_core::permissions::{PermissionCatalog, BUNDLED_CATALOG};
use altyn_consent_core::policy::{
    Block, Clause, ListItem, PolicyDocument, Section, BUNDLED_POLICY_RU,
};
use altyn_consent_core::proof::{
    check_restore_page, verify_export, Export, EXPORT_FORMAT, HASH_RULE,
};
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::{
    key_id, AckedEvent, ApiError, EventsPage, Receipt, ReceiptBody, SignedPolicy, RECEIPT_FORMAT,
};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, Event, EventKind, OsStatus};
use ed25519_dalek::SigningKey;
use uuid::Uuid;

fn main() {
    let out = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "seeds".into()));
    let key = SigningKey::from_bytes(&[7u8; 32]);
    let bundled = PolicyDocument::bundled();
    let tiny = tiny_policy();
    let catalog = PermissionCatalog::bundled();

    // policy_document: the bundled text as shipped, and two small ones.
    write(
        &out,
        "policy_document",
        "bundled-ru",
        BUNDLED_POLICY_RU.as_bytes(),
    );
    write_json(&out, "policy_document", "tiny", &tiny);
    write_json(&out, "policy_document", "small", &small_policy());

    // permission_catalog: the bundled catalog and a one-permission one.
    write(
        &out,
        "permission_catalog",
        "bundled",
        BUNDLED_CATALOG.as_bytes(),
    );
    let mut one = catalog.clone();
    one.permissions.truncate(1);
    write_json(&out, "permission_catalog", "one-permission", &one);

    // A real ledger: a journey recorded by the client, and a one-event one.
    let work = std::env::temp_dir().join(format!("altyn-fuzz-seeds-{}", std::process::id()));
    let (long_events, long_export) = journey(&work.join("long"), &catalog, &bundled, true);
    let (short_events, short_export) = journey(&work.join("short"), &catalog, &bundled, false);
    let _ = std::fs::remove_dir_all(&work);

    // upload_receipt: receipts for the whole journey and for one event,
    // signed with the fixed key; and the API's error answers.
    let long_receipt = receipt(&key, &long_events);
    let short_receipt = receipt(&key, &short_events);

    // export_verifier: the journey's export as the client writes it (pretty
    // JSON, no receipt: it never synced), the same with the server's receipt
    // (what an export after a sync holds), and the short one compact.
    write(&out, "export_verifier", "journey", long_export.as_bytes());
    let mut with_receipt: Export = serde_json::from_str(&long_export).unwrap();
    with_receipt.receipts.push(long_receipt.clone());
    write_json(
        &out,
        "export_verifier",
        "journey-with-receipt",
        &with_receipt,
    );
    let short: Export = serde_json::from_str(&short_export).unwrap();
    write_json(&out, "export_verifier", "one-event", &short);
    // The same journey over the tiny policy, with every kind of event and a
    // receipt: a few KB that pass every check, so mutations reach the
    // receipt checks without carrying the 55 KB bundled text.
    let mut small_events = long_events.clone();
    let last = small_events.last().unwrap().clone();
    for kind in [
        EventKind::PolicyNoticeShown {
            locale: "ru".into(),
            previous_version: Some(1),
        },
        EventKind::PolicyObjected {
            locale: "ru".into(),
        },
        EventKind::StoreRecovered {
            lost_store_id: Some("store-1".into()),
            reason: "store_damaged".into(),
            quarantine: Some("quarantine/1".into()),
            server_head: Some(ChainHead {
                events: 2,
                hash: small_events[1].hash.clone(),
            }),
        },
    ] {
        small_events.push(Event {
            kind,
            ..last.clone()
        });
    }
    let small_events = relink(small_events, &tiny, None);
    let small_receipt = receipt(&key, &small_events[..small_events.len() - 1]);
    let small_export = Export {
        format: EXPORT_FORMAT.into(),
        exported_at: format_time(time::macros::datetime!(2026-11-24 11:00 UTC)),
        install_id: small_events[0].install_id.clone(),
        subject: last.subject.clone(),
        hash_rule: HASH_RULE.into(),
        head: ChainHead {
            events: small_events.len() as u64,
            hash: small_events.last().unwrap().hash.clone(),
        },
        policies: vec![tiny.clone()],
        events: small_events.clone(),
        receipts: vec![small_receipt.clone()],
    };
    write_json(&out, "export_verifier", "small-with-receipt", &small_export);
    write_json(&out, "upload_receipt", "receipt-journey", &long_receipt);
    write_json(&out, "upload_receipt", "receipt-one", &short_receipt);
    write_json(
        &out,
        "upload_receipt",
        "error-broken-chain",
        &ApiError {
            error: "broken_chain".into(),
            message: "event #3 does not link to event #2".into(),
            event_id: Some(long_events[2].id.to_string()),
            seq: Some(3),
        },
    );
    write_json(
        &out,
        "upload_receipt",
        "error-rate-limited",
        &ApiError {
            error: "rate_limited".into(),
            message: "too many requests".into(),
            event_id: None,
            seq: None,
        },
    );

    // signed_policy: the tiny and the bundled text, signed.
    write_json(
        &out,
        "signed_policy",
        "tiny",
        &SignedPolicy::sign(&key, tiny.clone()),
    );
    write_json(
        &out,
        "signed_policy",
        "bundled-ru",
        &SignedPolicy::sign(&key, bundled),
    );

    // restore_page: the journey with its receipt, one event, nothing.
    write_json(
        &out,
        "restore_page",
        "journey",
        &EventsPage {
            events: long_events.clone(),
            receipts: vec![long_receipt],
            next: None,
        },
    );
    write_json(
        &out,
        "restore_page",
        "one-event",
        &EventsPage {
            events: short_events.clone(),
            receipts: vec![short_receipt],
            next: None,
        },
    );
    // Two installations: the check picks the one with the newest event.
    let other = relink(short_events.clone(), &tiny, Some("install-2"));
    let other_receipt = receipt(&key, &other);
    write_json(
        &out,
        "restore_page",
        "two-installs",
        &EventsPage {
            events: small_events.iter().chain(&other).cloned().collect(),
            receipts: vec![small_receipt, receipt(&key, &small_events), other_receipt],
            next: None,
        },
    );
    write_json(
        &out,
        "restore_page",
        "empty",
        &EventsPage {
            events: vec![],
            receipts: vec![],
            next: None,
        },
    );
    check_seeds(&out, &key);
    eprintln!("seeds written to {}", out.display());
}

/// The seeds must get past the signature and chain checks, or the fuzzers
/// would never reach the code behind them.
fn check_seeds(out: &Path, key: &SigningKey) {
    let trusted = [key.verifying_key()];
    let read = |target: &str, name: &str| {
        std::fs::read(out.join(target).join(format!("{name}.json"))).unwrap()
    };
    for name in [
        "journey",
        "journey-with-receipt",
        "one-event",
        "small-with-receipt",
    ] {
        let report = verify_export(&read("export_verifier", name), &trusted)
            .unwrap_or_else(|e| panic!("export seed {name} does not verify: {e}"));
        eprintln!("export_verifier/{name}: {report:?}");
    }
    for name in ["journey", "one-event", "two-installs"] {
        let page: EventsPage = serde_json::from_slice(&read("restore_page", name)).unwrap();
        let plan = check_restore_page(&page, &trusted)
            .unwrap_or_else(|e| panic!("restore seed {name} does not check: {e}"));
        assert!(plan.is_some(), "restore seed {name} holds events");
    }
    for name in ["receipt-journey", "receipt-one"] {
        let receipt: Receipt = serde_json::from_slice(&read("upload_receipt", name)).unwrap();
        receipt.verify(&trusted).unwrap();
    }
    for name in ["tiny", "bundled-ru"] {
        let signed: SignedPolicy = serde_json::from_slice(&read("signed_policy", name)).unwrap();
        signed.verify(&trusted).unwrap();
    }
    for name in ["bundled-ru", "small", "tiny"] {
        PolicyDocument::parse(&read("policy_document", name)).unwrap();
    }
    for name in ["bundled", "one-permission"] {
        PermissionCatalog::parse(&read("permission_catalog", name)).unwrap();
    }
}

/// Records a journey in a fresh store and returns its events and its export.
fn journey(
    dir: &Path,
    catalog: &PermissionCatalog,
    policy: &PolicyDocument,
    long: bool,
) -> (Vec<Event>, String) {
    let config = ClientConfig::new(
        dir,
        AppContext::new("desktop", "1.0.0", "fuzz-seeds"),
        Arc::new(MemoryKeyProvider::default()),
    )
    .with_clock_and_ids(
        Arc::new(SteppingClock::default()),
        Arc::new(CountingIds::default()),
    );
    let client = ConsentClient::open(config).expect("a fresh store opens");
    client
        .accept_policy(policy.version, &policy.hash(), &policy.locale, true)
        .expect("the bundled policy is accepted");
    if long {
        let ids = catalog.ids();
        client.set_permission(ids[0], true).unwrap();
        client.report_os_status(ids[0], OsStatus::Granted).unwrap();
        client.set_permission(ids[1], false).unwrap();
        client.withdraw(ids[0]).unwrap();
        client.link_account("account-42").unwrap();
        client.withdraw_all().unwrap();
    }
    let events = client.history().unwrap();
    let export = client.export().unwrap();
    (events, export)
}

/// The events as a chain of their own: each refers to `policy`, links to
/// the one before it and carries its own hash; optionally of another
/// installation (and subject).
fn relink(mut events: Vec<Event>, policy: &PolicyDocument, install: Option<&str>) -> Vec<Event> {
    let mut prev = GENESIS_HASH.to_string();
    for (i, event) in events.iter_mut().enumerate() {
        event.seq = i as u64 + 1;
        event.at = format_time(
            time::macros::datetime!(2026-11-24 09:00 UTC) + time::Duration::seconds(i as i64),
        );
        if let Some(install) = install {
            event.install_id = install.into();
            event.subject = install.into();
        }
        event.policy = policy.reference();
        event.prev_hash = prev;
        event.hash = event.compute_hash();
        prev = event.hash.clone();
    }
    events
}

/// From 2026-11-24 09:00 UTC, one second per reading: the same bytes on
/// every run. (The core's own is behind its `replay` feature.)
#[derive(Default)]
struct SteppingClock(AtomicU64);

impl Clock for SteppingClock {
    fn now(&self) -> time::OffsetDateTime {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        time::macros::datetime!(2026-11-24 09:00 UTC) + time::Duration::seconds(n as i64)
    }
}

/// Ids counted up from zero, in the UUIDv7 layout.
#[derive(Default)]
struct CountingIds(AtomicU64);

impl IdSource for CountingIds {
    fn event_id(&self) -> Uuid {
        let n = self.0.fetch_add(1, Ordering::SeqCst);
        uuid::Builder::from_unix_timestamp_millis(n, &[0; 10]).into_uuid()
    }
    fn install_id(&self) -> Uuid {
        Uuid::from_u128(0x00000000_0000_4000_8000_000000000001)
    }
}

fn receipt(key: &SigningKey, events: &[Event]) -> Receipt {
    let last = events.last().expect("a journey has events");
    Receipt::sign(
        key,
        ReceiptBody {
            format: RECEIPT_FORMAT.into(),
            key_id: key_id(&key.verifying_key()),
            subject: last.subject.clone(),
            install_id: last.install_id.clone(),
            received_at: format_time(time::macros::datetime!(2026-11-24 10:00 UTC)),
            acknowledged: events
                .iter()
                .map(|e| AckedEvent {
                    id: e.id,
                    seq: e.seq,
                    hash: e.hash.clone(),
                })
                .collect(),
            head: ChainHead {
                events: last.seq,
                hash: last.hash.clone(),
            },
        },
    )
}

fn paragraph(text: &str) -> Block {
    Block::Paragraph { text: text.into() }
}

fn tiny_policy() -> PolicyDocument {
    PolicyDocument {
        format: 1,
        id: "p".into(),
        version: 1,
        locale: "ru".into(),
        effective_date: "2026-01-01".into(),
        title: "T".into(),
        preamble: vec![],
        sections: vec![Section {
            id: "1".into(),
            title: "S".into(),
            blocks: vec![],
            clauses: vec![Clause {
                id: "1.1".into(),
                blocks: vec![paragraph("x")],
            }],
        }],
    }
}

/// Every kind of block, a data category, nested clauses, Markdown markup.
fn small_policy() -> PolicyDocument {
    PolicyDocument {
        format: 1,
        id: "altyncoin-privacy".into(),
        version: 2,
        locale: "kk-KZ".into(),
        effective_date: "2026-02-28".into(),
        title: "Политика *конфиденциальности*".into(),
        preamble: vec![paragraph("# Преамбула [ссылка](x) <b>")],
        sections: vec![
            Section {
                id: "1".into(),
                title: "Термины".into(),
                blocks: vec![Block::List {
                    items: vec![ListItem {
                        category: None,
                        text: "- пункт_1 `код`".into(),
                    }],
                }],
                clauses: vec![],
            },
            Section {
                id: "2".into(),
                title: "Данные".into(),
                blocks: vec![paragraph("Общий текст.")],
                clauses: vec![
                    Clause {
                        id: "2.3".into(),
                        blocks: vec![
                            paragraph("Категории:"),
                            Block::List {
                                items: vec![
                                    ListItem {
                                        category: Some("location".into()),
                                        text: "местоположение;".into(),
                                    },
                                    ListItem {
                                        category: None,
                                        text: "прочее.".into(),
                                    },
                                ],
                            },
                            paragraph("+ второй абзац | таблица"),
                        ],
                    },
                    Clause {
                        id: "2.3.1".into(),
                        blocks: vec![paragraph("Вложенный пункт.")],
                    },
                ],
            },
        ],
    }
}

fn write(out: &Path, target: &str, name: &str, bytes: &[u8]) {
    let dir = out.join(target);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), bytes).unwrap();
}

fn write_json<T: serde::Serialize>(out: &Path, target: &str, name: &str, value: &T) {
    write(out, target, name, &serde_json::to_vec(value).unwrap());
}
