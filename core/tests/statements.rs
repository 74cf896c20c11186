//! The documents the ledger carries as proof (issue #13), checked as an
//! attacker would attack them: a forged unblock decision, a receipt of
//! delivery for another text, an altered statement. `verify` and the export
//! verifier share `proof::check_signed_events`; the journeys against the
//! real server are in `server/tests/company.rs`.

mod common;

use altyn_consent_core::ledger::{Concern, Event, EventKind};
use altyn_consent_core::proof::{check_signed_events, SignedEventsError};
use altyn_consent_core::statement::{controller_of, StatementKind};
use altyn_consent_core::sync::wire::{
    generate_signing_key, key_id, StatementReceipt, StatementReceiptBody, UnblockBody,
    UnblockDecision, STATEMENT_RECEIPT_FORMAT, UNBLOCK_FORMAT,
};
use altyn_consent_core::ErrorKind;
use common::{accept, fresh};
use ed25519_dalek::SigningKey;

/// `event` appended after `history`, linked and hashed as the core would.
fn append(history: &[Event], kind: EventKind) -> Vec<Event> {
    let last = history.last().unwrap();
    let mut event = last.clone();
    event.id = uuid::Uuid::now_v7();
    event.seq = last.seq + 1;
    event.prev_hash = last.hash.clone();
    event.kind = kind;
    event.hash = event.compute_hash();
    let mut out = history.to_vec();
    out.push(event);
    out
}

fn unblock(key: &SigningKey, reports: Vec<uuid::Uuid>) -> EventKind {
    EventKind::AccessRestored {
        decision: UnblockDecision::sign(
            key,
            UnblockBody {
                format: UNBLOCK_FORMAT.into(),
                key_id: key_id(&key.verifying_key()),
                decision_id: uuid::Uuid::now_v7(),
                subject: "s".into(),
                reports,
                decided_at: "2026-12-01T10:00:00.000Z".into(),
            },
        ),
    }
}

#[test]
fn an_unblock_decision_must_be_the_companys_and_close_a_report_of_this_ledger() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    let state = client
        .report_compromise(Concern::UnauthorizedAccess, "")
        .unwrap();
    let report: uuid::Uuid = state.access_blocked.unwrap().reports[0].parse().unwrap();
    let history = client.history().unwrap();
    let company = generate_signing_key();
    let trusted = [company.verifying_key()];

    let honest = append(&history, unblock(&company, vec![report]));
    assert_eq!(check_signed_events(&honest, &trusted), Ok(1));
    // Without the server's key, nothing is vouched for.
    assert_eq!(
        check_signed_events(&honest, &[]),
        Err(SignedEventsError::NoTrustedKey { count: 1 })
    );
    // Signed by someone else: the key is not the Company's.
    let forged = append(&history, unblock(&generate_signing_key(), vec![report]));
    let err = check_signed_events(&forged, &trusted).unwrap_err();
    assert!(err.to_string().contains("unblock decision"), "{err}");
    assert!(
        err.to_string().contains(&format!("#{}", history.len() + 1)),
        "{err}"
    );
    // The Company's signature, but for a report this ledger never made.
    let elsewhere = append(&history, unblock(&company, vec![uuid::Uuid::now_v7()]));
    let err = check_signed_events(&elsewhere, &trusted).unwrap_err();
    assert!(
        err.to_string()
            .contains("closes a report the ledger does not hold"),
        "{err}"
    );
    // Altered after signing.
    let mut altered = honest.clone();
    if let EventKind::AccessRestored { decision } = &mut altered.last_mut().unwrap().kind {
        decision.body.decided_at = "2020-01-01T00:00:00.000Z".into();
    }
    assert!(check_signed_events(&altered, &trusted).is_err());
}

#[test]
fn a_statement_and_its_receipt_must_name_each_other_exactly() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client.withdraw("camera").unwrap();
    let history = client.history().unwrap();
    let issued = history.last().unwrap().clone();
    let EventKind::StatementIssued {
        statement,
        statement_hash,
    } = &issued.kind
    else {
        panic!("the withdrawal's statement follows it");
    };
    assert_eq!(statement.kind, StatementKind::Withdrawal);
    assert_eq!(check_signed_events(&history, &[]), Ok(0));

    let company = generate_signing_key();
    let receipt = |hash: &str| EventKind::StatementDelivered {
        receipt: StatementReceipt::sign(
            &company,
            StatementReceiptBody {
                format: STATEMENT_RECEIPT_FORMAT.into(),
                key_id: key_id(&company.verifying_key()),
                subject: "s".into(),
                install_id: issued.install_id.clone(),
                statement_id: statement.id,
                statement_hash: hash.into(),
                event_id: issued.id,
                received_at: "2026-12-01T10:00:00.000Z".into(),
                continuing: Vec::new(),
            },
        ),
    };
    let trusted = [company.verifying_key()];
    assert_eq!(
        check_signed_events(&append(&history, receipt(statement_hash)), &trusted),
        Ok(1)
    );
    let other = "0".repeat(64);
    let err = check_signed_events(&append(&history, receipt(&other)), &trusted).unwrap_err();
    assert!(err.to_string().contains("does not hold as named"), "{err}");

    // A statement rewritten (and its event re-hashed) no longer matches the
    // hash it records.
    let mut rewritten = history.clone();
    let last = rewritten.last_mut().unwrap();
    if let EventKind::StatementIssued { statement, .. } = &mut last.kind {
        statement.withdrawn.clear();
    }
    last.hash = last.compute_hash();
    let err = check_signed_events(&rewritten, &[]).unwrap_err();
    assert!(
        err.to_string()
            .contains("does not match the statement hash"),
        "{err}"
    );
}

#[test]
fn while_blocked_grants_are_refused_and_refusals_and_objections_are_not() {
    let (_dir, _keys, client) = fresh();
    let policy = client.policy("ru");
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client
        .report_compromise(Concern::ConfidentialityBreach, "письмо от мошенников")
        .unwrap();
    for err in [
        client.set_permission("notifications", true).unwrap_err(),
        client
            .accept_policy(policy.version, &policy.hash(), "ru", true)
            .unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::AccessBlocked, "{err}");
    }
    client.set_permission("notifications", false).unwrap();
    client.withdraw("camera").unwrap();
    client
        .object_to_policy(policy.version, &policy.hash(), "ru")
        .unwrap();
    // The user's words are kept, never in an error or the history's text.
    let long = "x".repeat(4_001);
    let err = client
        .report_compromise(Concern::UnauthorizedAccess, &long)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    assert!(!err.to_string().contains(&long));
    client.verify().unwrap();
}

#[test]
fn the_company_and_its_address_come_from_the_policy_text() {
    let mut policy = altyn_consent_core::policy::PolicyDocument::bundled();
    let c = controller_of(&policy).unwrap();
    assert_eq!(c.email, "info-procredit@prozaimy.kz");
    // A revision that changes the address changes the statements' recipient.
    for section in &mut policy.sections {
        for clause in &mut section.clauses {
            for block in &mut clause.blocks {
                if let altyn_consent_core::policy::Block::Paragraph { text } = block {
                    *text = text.replace("info-procredit@prozaimy.kz", "dpo@altyncoin.kz");
                }
            }
        }
    }
    assert_eq!(controller_of(&policy).unwrap().email, "dpo@altyncoin.kz");
}
