//! The ISO/IEC TS 27560 export of real journeys, validated against the
//! committed JSON Schema (`core/schema/iso-27560-consent-records.schema.json`)
//! with a JSON Schema validator, and checked against the state the ledger
//! folds to.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use altyn_consent_core::iso27560::{
    ConsentRecord, ConsentRecordSet, ConsentScope, EntryType, RecordStatus,
};
use altyn_consent_core::ledger::ChainHead;
use altyn_consent_core::policy::{Block, PolicyDocument};
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::{key_id, AckedEvent, Receipt, ReceiptBody, RECEIPT_FORMAT};
use altyn_consent_core::{ConsentClient, ConsentState, OsStatus, PolicyStatus, UserConsent};
use common::{accept, config, fresh, open_store};
use ed25519_dalek::SigningKey;
use serde_json::Value;

fn validator() -> jsonschema::Validator {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("schema/iso-27560-consent-records.schema.json");
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .expect("the committed schema compiles")
}

fn errors(validator: &jsonschema::Validator, doc: &Value) -> Vec<String> {
    validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// The client's ISO export, validated, as JSON and as typed records.
fn export(client: &ConsentClient) -> (Value, ConsentRecordSet) {
    let text = client.export_iso27560().unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    let problems = errors(&validator(), &json);
    assert!(
        problems.is_empty(),
        "the export does not validate: {problems:#?}"
    );
    let typed: ConsentRecordSet = serde_json::from_str(&text).unwrap();
    (json, typed)
}

fn entry_types(record: &ConsentRecord) -> Vec<EntryType> {
    record.history.iter().map(|e| e.entry_type).collect()
}

/// The newest record of a permission.
fn newest<'a>(set: &'a ConsentRecordSet, permission: &str) -> &'a ConsentRecord {
    set.records
        .iter()
        .rev()
        .find(|r| r.permission.as_ref().is_some_and(|p| p.id == permission))
        .unwrap_or_else(|| panic!("no record of {permission}"))
}

fn newest_policy(set: &ConsentRecordSet) -> &ConsentRecord {
    set.records
        .iter()
        .rev()
        .find(|r| r.scope == ConsentScope::Policy)
        .expect("a policy record")
}

/// Each record's status is the one the fold gives: the newest record of
/// each decided permission, and of the policy.
fn assert_consistent_with(state: &ConsentState, set: &ConsentRecordSet) {
    for permission in &state.permissions {
        let expected = match permission.consent {
            UserConsent::NeverAsked => continue,
            UserConsent::Granted => RecordStatus::Given,
            UserConsent::Denied => RecordStatus::Refused,
            UserConsent::Withdrawn => RecordStatus::Withdrawn,
        };
        let record = newest(set, &permission.id);
        assert_eq!(record.status, expected, "{}", permission.id);
        assert_eq!(
            Some(&record.status_timestamp),
            permission.decided_at.as_ref()
        );
    }
    let expected = match &state.policy {
        PolicyStatus::NeverAccepted => {
            return assert!(set.records.iter().all(|r| r.scope != ConsentScope::Policy))
        }
        PolicyStatus::Accepted { .. } | PolicyStatus::ReconsentRequired { .. } => {
            RecordStatus::Given
        }
        PolicyStatus::Objected { .. } => RecordStatus::Objected,
        PolicyStatus::Withdrawn { .. } => RecordStatus::Withdrawn,
    };
    assert_eq!(newest_policy(set).status, expected);
    for record in &set.records {
        let last = record.history.last().unwrap();
        assert_eq!(record.status, last.status, "the status is the last entry's");
        assert_eq!(
            record.status == RecordStatus::Superseded,
            record.superseded_by.is_some()
        );
    }
}

/// Every event of the ledger appears in the set, in a history or apart.
fn assert_every_event_appears(client: &ConsentClient, set: &ConsentRecordSet) {
    let seen: BTreeSet<u64> = set
        .records
        .iter()
        .flat_map(|r| r.history.iter().map(|e| e.ledger_event.seq))
        .chain(set.other_events.iter().map(|o| o.ledger_event.seq))
        .collect();
    let all: BTreeSet<u64> = (1..=client.event_count()).collect();
    assert_eq!(seen, all);
    assert_eq!(set.ledger_head.events, client.event_count());
}

fn version_2(base: &PolicyDocument) -> PolicyDocument {
    let mut next = base.clone();
    next.version = 2;
    next.effective_date = "2027-01-01".into();
    let clause = next
        .sections
        .iter_mut()
        .flat_map(|s| s.clauses.iter_mut())
        .find(|c| c.id == "4.2.5")
        .unwrap();
    clause.blocks.push(Block::Paragraph {
        text: "Данные о местоположении хранятся не более 90 дней.".into(),
    });
    next
}

#[test]
fn a_journey_exports_valid_records_that_match_the_state() {
    let (_dir, _keys, client) = fresh();
    let install_id = client.state().unwrap().install_id;
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();
    client.set_permission("contacts", false).unwrap();
    client.set_permission("location_approximate", true).unwrap();
    client.withdraw("camera").unwrap(); // §6.1.5
    client.link_account("acct-42").unwrap();
    // Never decided in the app: it belongs to no record.
    client
        .report_os_status("notifications", OsStatus::Denied)
        .unwrap();
    let v2 = version_2(&client.policy("ru"));
    client.install_policy(v2.clone()).unwrap();
    client.record_notice_shown(2, &v2.hash(), "ru").unwrap(); // §10.2
    client.object_to_policy(2, &v2.hash(), "ru").unwrap(); // §10.4
    client.withdraw_all().unwrap();
    let events_before = client.event_count();

    let (_, set) = export(&client);
    assert_eq!(
        client.event_count(),
        events_before,
        "an export records nothing"
    );
    client.verify().unwrap();
    let state = client.state().unwrap();
    assert_consistent_with(&state, &set);
    assert_every_event_appears(&client, &set);
    assert_eq!(set.pii_principal_id, "acct-42");
    assert_eq!(set.install_id, install_id);
    assert_eq!(
        set.records.len(),
        4,
        "the policy and three permission decisions"
    );

    // The policy: accepted with the attestation, then the notice of v2, the
    // objection, and the withdrawal of everything.
    let policy = newest_policy(&set);
    assert_eq!(
        policy.pii_principal_id, install_id,
        "given before the account was linked"
    );
    assert_eq!(
        entry_types(policy),
        [
            EntryType::Given,
            EntryType::AccountLinked,
            EntryType::NoticeShown,
            EntryType::Objected,
            // Each decision's written statement (§10.4, §6.1.5) follows it.
            EntryType::StatementIssued,
            EntryType::Withdrawn,
            EntryType::StatementIssued,
        ]
    );
    let statuses: Vec<RecordStatus> = policy.history.iter().map(|e| e.status).collect();
    assert_eq!(
        statuses,
        [
            RecordStatus::Given,
            RecordStatus::Given,
            RecordStatus::Given,
            RecordStatus::Objected,
            RecordStatus::Objected,
            RecordStatus::Withdrawn,
            RecordStatus::Withdrawn,
        ]
    );
    assert!(policy.history[4].statement_hash.is_some());
    assert_eq!(policy.history[1].account_id.as_deref(), Some("acct-42"));
    assert_eq!(policy.history[2].previous_version, Some(1));
    assert_eq!(
        policy.history[3].ledger_event.policy.version, 2,
        "the objection is to v2"
    );
    assert_eq!(policy.history[5].withdrawal_scope.as_deref(), Some("all"));
    assert_eq!(policy.notice.version, 1);
    assert_eq!(policy.notice.hash, PolicyDocument::bundled().hash());
    assert_eq!(policy.language, "ru");
    assert!(policy.age_attestation.as_ref().unwrap().age_confirmed);
    let purposes: Vec<&str> = policy
        .purposes
        .iter()
        .map(|p| p.purpose_id.as_str())
        .collect();
    assert_eq!(
        purposes,
        ["4.2.1", "4.2.2", "4.2.3", "4.2.4", "4.2.5", "4.2.6", "4.2.7"]
    );
    assert!(policy.purposes.iter().all(|p| p.purpose.is_some()));
    let categories: Vec<&str> = policy
        .pii_categories
        .iter()
        .map(|c| c.category_id.as_str())
        .collect();
    assert!(
        categories.contains(&"iin") && categories.contains(&"selfie_photo"),
        "{categories:?}"
    );
    assert_eq!(policy.jurisdiction, "KZ");
    assert_eq!(policy.lawful_basis.basis, "consent");
    assert!(policy.lawful_basis.law.contains("94-V"));
    assert_eq!(
        policy.lawful_basis.policy_clauses,
        ["2.2"],
        "the clause naming the law"
    );

    // The controller, read from the policy's own text.
    for record in &set.records {
        assert_eq!(record.pii_controllers.len(), 1);
        let controller = &record.pii_controllers[0];
        assert_eq!(controller.pii_controller, "ТОО «МФО «PROcredit»");
        assert_eq!(
            controller.email.as_deref(),
            Some("info-procredit@prozaimy.kz")
        );
        assert!(controller.source_clauses.iter().any(|c| c == "10.4"));
        assert!(controller.source_clauses.iter().any(|c| c == "11.6"));
        assert_eq!(record.collection_method.platform, "desktop");
        assert_eq!(record.collection_method.app_version, "1.0.0-test");
        assert_eq!(record.collection_method.method, "in_app_explicit");
    }

    // The camera: given, the OS grant, withdrawn on its own (§6.1.5); the
    // account link is noted; the later withdrawal of everything finds it
    // withdrawn already.
    let camera = newest(&set, "camera");
    assert_eq!(
        entry_types(camera),
        [
            EntryType::Given,
            EntryType::OsStatusChanged,
            EntryType::Withdrawn,
            EntryType::StatementIssued,
            EntryType::AccountLinked
        ]
    );
    assert_eq!(camera.history[1].os_status, Some(OsStatus::Granted));
    assert_eq!(
        camera.history[2].withdrawal_scope.as_deref(),
        Some("permission")
    );
    let purposes: Vec<(&str, bool)> = camera
        .purposes
        .iter()
        .map(|p| (p.purpose_id.as_str(), p.purpose.is_some()))
        .collect();
    assert_eq!(purposes, [("4.2.1", true), ("4.2.6", true)]);
    let categories: Vec<&str> = camera
        .pii_categories
        .iter()
        .map(|c| c.category_id.as_str())
        .collect();
    assert_eq!(categories, ["selfie_photo", "identity_document_photo"]);
    assert!(camera
        .pii_categories
        .iter()
        .all(|c| c.clause_id.as_deref() == Some("2.3")));
    let function = camera.permission.as_ref().unwrap();
    assert!(function
        .android_permissions
        .iter()
        .any(|p| p == "android.permission.CAMERA"));
    assert!(camera.age_attestation.is_none());

    // A refusal stays a refusal: withdrawing everything does not touch it.
    let contacts = newest(&set, "contacts");
    assert_eq!(contacts.status, RecordStatus::Refused);
    assert_eq!(
        entry_types(contacts),
        [EntryType::Refused, EntryType::AccountLinked]
    );
    // A granted permission ends with the withdrawal of everything.
    let location = newest(&set, "location_approximate");
    assert_eq!(location.status, RecordStatus::Withdrawn);
    let withdrawn = &location.history[location.history.len() - 2];
    assert_eq!(withdrawn.withdrawal_scope.as_deref(), Some("all"));
    assert_eq!(
        location.history.last().unwrap().entry_type,
        EntryType::StatementIssued,
        "the statement of the withdrawal of everything names it"
    );

    // The OS status of a permission never decided, apart.
    assert_eq!(set.other_events.len(), 1);
    assert_eq!(set.other_events[0].ledger_event.kind, "os_status_changed");

    // Nothing was uploaded: no receipts yet.
    assert!(set.signed_receipts.is_empty());
    assert!(set
        .records
        .iter()
        .all(|r| r.history.iter().all(|e| e.receipts.is_empty())));
}

#[test]
fn a_new_decision_supersedes_the_old_record() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    let v2 = version_2(&client.policy("ru"));
    client.install_policy(v2.clone()).unwrap();
    let (_, set) = export(&client);
    assert_consistent_with(&client.state().unwrap(), &set);
    assert_eq!(
        newest_policy(&set).status,
        RecordStatus::Given,
        "v1 stands until v2 is decided"
    );

    client.record_notice_shown(2, &v2.hash(), "ru").unwrap();
    client.accept_policy(2, &v2.hash(), "ru", true).unwrap(); // §10.3
    client.set_permission("camera", false).unwrap();
    let (_, set) = export(&client);
    assert_consistent_with(&client.state().unwrap(), &set);
    assert_every_event_appears(&client, &set);

    let policies: Vec<&ConsentRecord> = set
        .records
        .iter()
        .filter(|r| r.scope == ConsentScope::Policy)
        .collect();
    assert_eq!(policies.len(), 2);
    assert_eq!(policies[0].status, RecordStatus::Superseded);
    assert_eq!(policies[0].superseded_by, Some(policies[1].record_id));
    assert_eq!(
        entry_types(policies[0]),
        [
            EntryType::Given,
            EntryType::NoticeShown,
            EntryType::Superseded
        ]
    );
    assert_eq!(policies[1].status, RecordStatus::Given);
    assert_eq!(policies[1].notice.version, 2);
    assert_eq!(policies[1].notice.hash, v2.hash());
    assert_eq!(policies[1].notice.effective_date, "2027-01-01");

    let cameras: Vec<&ConsentRecord> = set
        .records
        .iter()
        .filter(|r| r.permission.as_ref().is_some_and(|p| p.id == "camera"))
        .collect();
    assert_eq!(cameras.len(), 2);
    assert_eq!(cameras[0].status, RecordStatus::Superseded);
    assert_eq!(cameras[0].superseded_by, Some(cameras[1].record_id));
    assert_eq!(cameras[1].status, RecordStatus::Refused);
}

#[test]
fn an_objection_without_an_acceptance_is_a_record_of_its_own() {
    let (_dir, _keys, client) = fresh();
    let policy = client.policy("ru");
    client
        .object_to_policy(policy.version, &policy.hash(), "ru")
        .unwrap();
    let (_, set) = export(&client);
    assert_consistent_with(&client.state().unwrap(), &set);
    assert_eq!(set.records.len(), 1);
    let record = &set.records[0];
    assert_eq!(
        (record.scope, record.status),
        (ConsentScope::Policy, RecordStatus::Objected)
    );
    assert!(record.age_attestation.is_none(), "nothing was attested");
}

/// Signs a receipt for `seqs` of `events` as the server would.
fn receipt(
    key: &SigningKey,
    install_id: &str,
    events: &[altyn_consent_core::Event],
    seqs: &[u64],
    at: &str,
) -> Receipt {
    let last = events[(*seqs.last().unwrap() - 1) as usize].clone();
    Receipt::sign(
        key,
        ReceiptBody {
            format: RECEIPT_FORMAT.into(),
            key_id: key_id(&key.verifying_key()),
            subject: install_id.into(),
            install_id: install_id.into(),
            received_at: at.into(),
            acknowledged: seqs
                .iter()
                .map(|&seq| {
                    let e = &events[(seq - 1) as usize];
                    AckedEvent {
                        id: e.id,
                        seq: e.seq,
                        hash: e.hash.clone(),
                    }
                })
                .collect(),
            head: ChainHead {
                events: last.seq,
                hash: last.hash,
            },
        },
    )
}

#[test]
fn each_event_cites_the_signed_receipts_that_acknowledge_it() {
    let dir = tempfile::tempdir().unwrap();
    let keys = Arc::new(MemoryKeyProvider::default());
    let server_key = SigningKey::from_bytes(&[7; 32]);
    let open = || {
        let mut config = config(dir.path(), keys.clone());
        config.server_keys = vec![server_key.verifying_key()];
        ConsentClient::open(config).unwrap()
    };
    let client = open();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client.set_permission("contacts", false).unwrap();
    client.set_permission("photos", true).unwrap(); // waits for upload
    let events = client.history().unwrap();
    let install_id = client.state().unwrap().install_id;
    drop(client);

    // What two uploads would have left: #1-2, then #3; #4 still queued.
    let receipts = [
        receipt(
            &server_key,
            &install_id,
            &events,
            &[1, 2],
            "2026-11-24T10:00:00.000Z",
        ),
        receipt(
            &server_key,
            &install_id,
            &events,
            &[3],
            "2026-11-24T10:05:00.000Z",
        ),
    ];
    let mut store = open_store(dir.path(), &keys);
    for (r, seqs) in receipts.iter().zip([vec![1, 2], vec![3]]) {
        let body = serde_json::to_string(r).unwrap();
        store
            .record_receipt(&r.body.received_at, &body, &seqs)
            .unwrap();
    }
    drop(store);

    let client = open();
    let report = client.verify().unwrap();
    assert_eq!(
        (report.receipts, report.acknowledged, report.waiting),
        (2, 3, 1)
    );
    let (_, set) = export(&client);
    assert_eq!(set.signed_receipts, receipts);
    for record in &set.records {
        for entry in &record.history {
            let expected: Vec<usize> = match entry.ledger_event.seq {
                1 | 2 => vec![0],
                3 => vec![1],
                _ => vec![],
            };
            let got: Vec<usize> = entry.receipts.iter().map(|c| c.receipt_index).collect();
            assert_eq!(got, expected, "event #{}", entry.ledger_event.seq);
            for coverage in &entry.receipts {
                let r = &receipts[coverage.receipt_index];
                assert_eq!(coverage.key_id, r.body.key_id);
                assert_eq!(coverage.received_at, r.body.received_at);
                assert_eq!(coverage.signature, r.signature);
            }
        }
    }
    assert_eq!(
        newest(&set, "photos").history[0].receipts.len(),
        0,
        "still queued"
    );
}

/// A change that breaks an export.
type Breakage = fn(&mut Value);

#[test]
fn the_schema_rejects_a_record_with_a_field_removed_or_a_wrong_value() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    let (json, _) = export(&client);
    let validator = validator();
    assert!(errors(&validator, &json).is_empty());

    let broken = |change: Breakage| {
        let mut doc = json.clone();
        change(&mut doc);
        errors(&validator, &doc)
    };
    let cases: Vec<(&str, Breakage)> = vec![
        ("purposes removed", |d: &mut Value| {
            d["records"][1].as_object_mut().unwrap().remove("purposes");
        }),
        ("controller removed", |d: &mut Value| {
            d["records"][0]
                .as_object_mut()
                .unwrap()
                .remove("piiControllers");
        }),
        ("status history removed", |d: &mut Value| {
            d["records"][0].as_object_mut().unwrap().remove("history");
        }),
        ("an unknown status", |d: &mut Value| {
            d["records"][1]["status"] = "revoked".into();
        }),
        ("an unknown entry type", |d: &mut Value| {
            d["records"][1]["history"][0]["entryType"] = "granted".into();
        }),
        ("a field the schema does not know", |d: &mut Value| {
            d["records"][0]["note"] = "hello".into();
        }),
        ("a hash that is not SHA-256 hex", |d: &mut Value| {
            d["records"][0]["notice"]["hash"] = "abc".into();
        }),
        ("a record id that is not a UUID", |d: &mut Value| {
            d["records"][0]["recordId"] = "42".into();
        }),
        ("a time that is not RFC 3339", |d: &mut Value| {
            d["records"][0]["consentTimestamp"] = "24.11.2026 10:00".into();
        }),
        (
            "superseded without the record that replaced it",
            |d: &mut Value| {
                d["records"][1]["status"] = "superseded".into();
            },
        ),
        (
            "a permission record without its permission",
            |d: &mut Value| {
                d["records"][1]
                    .as_object_mut()
                    .unwrap()
                    .remove("permission");
            },
        ),
        (
            "an acceptance without the 18+ attestation",
            |d: &mut Value| {
                d["records"][0]["ageAttestation"]["ageConfirmed"] = false.into();
            },
        ),
    ];
    for (what, change) in cases {
        assert!(!broken(change).is_empty(), "the schema accepted {what}");
    }
}
