//! The borrower's journey through the client API, as a shell drives it.

mod common;

use altyn_consent_core::ledger::{EventKind, WithdrawalScope};
use altyn_consent_core::policy::{Block, PolicyDocument};
use altyn_consent_core::proof::verify_export;
use altyn_consent_core::{ConsentClient, ConsentError, OsStatus, PolicyStatus, UserConsent};
use common::{accept, fresh, open};

#[test]
fn the_revision_grows_with_every_change_and_only_then() {
    let (_dir, _keys, client) = fresh();
    let start = client.state().unwrap().revision;
    assert_eq!(
        client.state().unwrap().revision,
        start,
        "a read changes nothing"
    );
    let accepted = accept(&client);
    assert!(accepted.revision > start);
    let granted = client.set_permission("camera", true).unwrap();
    assert!(granted.revision > accepted.revision);
    let reported = client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();
    assert!(reported.revision > granted.revision);
    // The same OS status again records nothing, and the revision stays.
    let again = client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();
    assert_eq!(again.revision, reported.revision);
    assert_eq!(client.state().unwrap(), again);
}

#[test]
fn borrower_accepts_then_grants_and_withdraws_camera() {
    let (_dir, _keys, client) = fresh();
    let state = client.state().unwrap();
    assert_eq!(state.policy, PolicyStatus::NeverAccepted);
    assert!(
        !state.can_proceed,
        "nothing but the policy screen before acceptance"
    );

    let state = accept(&client);
    assert!(state.can_proceed);
    assert!(matches!(
        state.policy,
        PolicyStatus::Accepted { version: 1, .. }
    ));

    let state = client.set_permission("camera", true).unwrap();
    let camera = state.permission("camera").unwrap();
    assert_eq!(camera.consent, UserConsent::Granted);
    assert_eq!(camera.consented_purposes, vec!["4.2.1", "4.2.6"]);
    assert!(!camera.may_use, "the OS has not granted the camera yet");

    let state = client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();
    assert!(state.permission("camera").unwrap().may_use);

    // §6.1.5: withdrawal takes effect at once.
    let state = client.withdraw("camera").unwrap();
    let camera = state.permission("camera").unwrap();
    assert_eq!(camera.consent, UserConsent::Withdrawn);
    assert!(!camera.may_use, "the OS grant alone is not enough");

    let kinds: Vec<&str> = client
        .history()
        .unwrap()
        .iter()
        .map(|e| e.kind.name())
        .collect();
    assert_eq!(
        kinds,
        [
            "policy_accepted",
            "permission_decided",
            "os_status_changed",
            "consent_withdrawn",
            // §6.1.5: the written statement, in the same step.
            "statement_issued",
        ]
    );
    assert_eq!(
        client.pending_upload().unwrap(),
        5,
        "every event is queued for upload"
    );
    client.verify().unwrap();
}

#[test]
fn acceptance_without_the_age_attestation_records_nothing() {
    let (_dir, _keys, client) = fresh();
    let policy = client.policy("ru");
    let err = client
        .accept_policy(policy.version, &policy.hash(), "ru", false)
        .unwrap_err();
    assert!(matches!(err, ConsentError::AgeNotConfirmed), "{err}");
    assert!(err.to_string().contains("18"));
    assert!(client.history().unwrap().is_empty());
}

#[test]
fn acceptance_of_a_stale_version_or_text_is_refused() {
    let (_dir, _keys, client) = fresh();
    let policy = client.policy("ru");
    let err = client
        .accept_policy(policy.version + 1, &policy.hash(), "ru", true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConsentError::StalePolicy {
                offered_version: 2,
                current_version: 1,
                ..
            }
        ),
        "{err}"
    );
    let err = client
        .accept_policy(policy.version, &"0".repeat(64), "ru", true)
        .unwrap_err();
    assert!(matches!(err, ConsentError::StalePolicy { .. }), "{err}");
    assert!(err.to_string().contains("show the current policy"));
    let err = client
        .accept_policy(policy.version, &policy.hash(), "kk", true)
        .unwrap_err();
    assert!(matches!(err, ConsentError::UnknownLocale { .. }), "{err}");
    assert!(client.history().unwrap().is_empty());
}

#[test]
fn permissions_wait_for_the_policy() {
    let (_dir, _keys, client) = fresh();
    let err = client.set_permission("camera", true).unwrap_err();
    assert!(
        matches!(err, ConsentError::PolicyNotAccepted { .. }),
        "{err}"
    );
    // The OS status is a fact and is recorded at any time.
    client.report_os_status("camera", OsStatus::Denied).unwrap();
    assert_eq!(client.history().unwrap().len(), 1);
}

#[test]
fn unknown_permission_is_refused_with_the_known_list() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    let err = client.set_permission("microphone", true).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("microphone") && msg.contains("camera") && msg.contains("notifications"),
        "{msg}"
    );
    assert_eq!(client.history().unwrap().len(), 1);
}

#[test]
fn refusal_is_recorded_and_not_asked_again() {
    let (_dir, _keys, client) = fresh();
    let state = accept(&client);
    assert!(state.permission("contacts").unwrap().should_ask);
    let state = client.set_permission("contacts", false).unwrap();
    let contacts = state.permission("contacts").unwrap();
    assert_eq!(contacts.consent, UserConsent::Denied);
    assert!(
        !contacts.should_ask,
        "§2.4: a refusal is respected, never nagged"
    );
    let err = client.withdraw("contacts").unwrap_err();
    assert!(
        matches!(err, ConsentError::NothingToWithdraw { .. }),
        "{err}"
    );
}

#[test]
fn repeated_decisions_and_unchanged_os_reports_record_once() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    accept(&client);
    client.set_permission("notifications", true).unwrap();
    client.set_permission("notifications", true).unwrap();
    client
        .report_os_status("notifications", OsStatus::Granted)
        .unwrap();
    client
        .report_os_status("notifications", OsStatus::Granted)
        .unwrap();
    client
        .report_os_status("notifications", OsStatus::Blocked)
        .unwrap();
    assert_eq!(client.history().unwrap().len(), 4);
}

#[test]
fn a_partial_os_grant_counts_only_where_the_catalog_says_it_is_usable() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    // Selected photos are photos the app may use.
    client.set_permission("photos", true).unwrap();
    let state = client
        .report_os_status("photos", OsStatus::Limited)
        .unwrap();
    assert!(state.permission("photos").unwrap().may_use);
    // Approximate location (Android "approximate", iOS "Precise Location"
    // off) is not precise location.
    client.set_permission("location_precise", true).unwrap();
    let state = client
        .report_os_status("location_precise", OsStatus::Limited)
        .unwrap();
    assert!(!state.permission("location_precise").unwrap().may_use);
    let state = client
        .report_os_status("location_precise", OsStatus::Granted)
        .unwrap();
    assert!(state.permission("location_precise").unwrap().may_use);
}

#[test]
fn withdrawing_everything_returns_to_the_policy_screen() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client.set_permission("location_precise", true).unwrap();
    client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();
    let state = client.withdraw_all().unwrap();
    assert!(matches!(state.policy, PolicyStatus::Withdrawn { .. }));
    assert!(!state.can_proceed);
    assert!(state.permissions.iter().all(|p| !p.may_use));
    assert_eq!(
        state.permission("camera").unwrap().consent,
        UserConsent::Withdrawn
    );
    assert_eq!(
        state.permission("location_precise").unwrap().consent,
        UserConsent::Withdrawn
    );
    let mut history = client.history().unwrap();
    assert!(matches!(
        history.pop().unwrap().kind,
        EventKind::StatementIssued { .. }
    ));
    let last = history.pop().unwrap();
    assert_eq!(
        last.kind,
        EventKind::ConsentWithdrawn {
            scope: WithdrawalScope::All
        }
    );
    // Accepting again restores the policy; the permissions stay withdrawn.
    let state = accept(&client);
    assert!(state.can_proceed);
    assert!(!state.permission("camera").unwrap().may_use);
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
fn a_new_policy_version_asks_for_consent_again() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client
        .report_os_status("camera", OsStatus::Granted)
        .unwrap();

    let v2 = version_2(&client.policy("ru"));
    assert!(
        client.install_policy(v2.clone()).unwrap(),
        "version 2 becomes current"
    );
    let state = client.state().unwrap();
    assert_eq!(
        state.policy,
        PolicyStatus::ReconsentRequired {
            from_version: 1,
            to_version: 2
        }
    );
    assert!(!state.can_proceed);
    assert!(
        !state.permission("camera").unwrap().may_use,
        "nothing is used while the new version waits"
    );

    // §10.2: the notice is recorded, then §10.3: the consent.
    client.record_notice_shown(2, &v2.hash(), "ru").unwrap();
    let state = client.accept_policy(2, &v2.hash(), "ru", true).unwrap();
    assert!(matches!(
        state.policy,
        PolicyStatus::Accepted { version: 2, .. }
    ));
    assert!(
        state.permission("camera").unwrap().may_use,
        "the camera consent carries over"
    );
    let notice = client
        .history()
        .unwrap()
        .into_iter()
        .find(|e| e.kind.name() == "policy_notice_shown")
        .unwrap();
    assert_eq!(
        notice.kind,
        EventKind::PolicyNoticeShown {
            locale: "ru".into(),
            previous_version: Some(1)
        }
    );
    assert_eq!(notice.policy.version, 2);
}

#[test]
fn the_user_may_object_to_a_new_version() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    let v2 = version_2(&client.policy("ru"));
    client.install_policy(v2.clone()).unwrap();
    let err = client
        .accept_policy(1, &PolicyDocument::bundled().hash(), "ru", true)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ConsentError::StalePolicy {
                current_version: 2,
                ..
            }
        ),
        "{err}"
    );
    let state = client.object_to_policy(2, &v2.hash(), "ru").unwrap();
    assert!(matches!(
        state.policy,
        PolicyStatus::Objected { version: 2, .. }
    ));
    assert!(!state.can_proceed, "§10.4: the user stops using the app");
}

#[test]
fn the_same_version_with_another_text_is_a_conflict() {
    let (_dir, _keys, client) = fresh();
    let mut forged = client.policy("ru");
    forged.title.push_str(" (изменено)");
    let err = client.install_policy(forged).unwrap_err();
    assert!(
        err.to_string()
            .contains("two different texts claim to be policy altyncoin-privacy version 1"),
        "{err}"
    );
    assert_eq!(
        client.policy("ru"),
        PolicyDocument::bundled(),
        "the stored text stays"
    );
}

#[test]
fn a_catalog_that_changes_purposes_asks_again() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("location_precise", true).unwrap();
    client
        .report_os_status("location_precise", OsStatus::Granted)
        .unwrap();
    let mut catalog = client.catalog();
    catalog.version += 1;
    catalog
        .permissions
        .iter_mut()
        .find(|p| p.id == "location_precise")
        .unwrap()
        .purposes
        .push("4.2.6".into());
    client
        .update_catalog(&serde_json::to_vec(&catalog).unwrap())
        .unwrap();
    let state = client.state().unwrap();
    let location = state.permission("location_precise").unwrap();
    assert!(location.purposes_changed && location.should_ask && !location.may_use);
    let state = client.set_permission("location_precise", true).unwrap();
    assert!(state.permission("location_precise").unwrap().may_use);
    // An older or equal catalog does not replace it.
    assert!(client
        .update_catalog(&serde_json::to_vec(&catalog).unwrap())
        .is_err());
}

#[test]
fn state_survives_reopening() {
    let (dir, keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    let before = client.state().unwrap();
    drop(client);
    let client = open(dir.path(), &keys);
    assert_eq!(
        common::consent_of(client.state().unwrap()),
        common::consent_of(before)
    );
    client.verify().unwrap();
}

#[test]
fn linking_an_account_changes_the_subject_of_later_events() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    let install = client.state().unwrap().install_id;
    client.link_account("acct-42").unwrap();
    client.set_permission("camera", false).unwrap();
    let events = client.history().unwrap();
    assert_eq!(events[0].subject, install);
    assert_eq!(events[2].subject, "acct-42");
    assert!(matches!(
        client.link_account(""),
        Err(ConsentError::InvalidAccountId)
    ));
    assert!(matches!(
        client.link_account("has space"),
        Err(ConsentError::InvalidAccountId)
    ));
}

#[test]
fn an_export_verifies_on_its_own_and_exposes_tampering() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    client.withdraw("camera").unwrap();
    let export = client.export().unwrap();
    let report = verify_export(export.as_bytes(), &[]).unwrap();
    // Acceptance, grant, withdrawal and its written statement.
    assert_eq!(report.chain.events, 4);

    let tampered = export.replacen("\"decision\": \"granted\"", "\"decision\": \"denied\"", 1);
    assert_ne!(tampered, export);
    let err = verify_export(tampered.as_bytes(), &[]).unwrap_err();
    assert!(err.to_string().contains("event #2"), "{err}");

    let mut value: serde_json::Value = serde_json::from_str(&export).unwrap();
    value["policies"] = serde_json::json!([]);
    let err = verify_export(value.to_string().as_bytes(), &[]).unwrap_err();
    assert!(err.to_string().contains("holds no such text"), "{err}");
}

#[test]
fn every_event_is_chained_and_carries_its_context() {
    let (_dir, _keys, client) = fresh();
    accept(&client);
    client.set_permission("camera", true).unwrap();
    let events = client.history().unwrap();
    assert_eq!(
        events[0].prev_hash,
        altyn_consent_core::ledger::GENESIS_HASH
    );
    assert_eq!(events[1].prev_hash, events[0].hash);
    assert_eq!(events[0].id.get_version_num(), 7, "UUIDv7 ids");
    assert!(events[0].at.ends_with('Z'));
    assert_eq!(events[0].context.platform, "desktop");
    assert_eq!(events[0].policy, PolicyDocument::bundled().reference());
    assert_eq!(
        events[0].kind,
        EventKind::PolicyAccepted {
            locale: "ru".into(),
            age_confirmed: true
        }
    );
}

/// Records every state it is told, and reads the client back from inside
/// the callback (which must not deadlock).
struct Recorder {
    seen: std::sync::Mutex<Vec<(i64, bool)>>,
    client: std::sync::OnceLock<std::sync::Weak<ConsentClient>>,
}

impl altyn_consent_core::StateObserver for Recorder {
    fn state_changed(&self, state: &altyn_consent_core::ConsentState) {
        if let Some(client) = self.client.get().and_then(|c| c.upgrade()) {
            assert_eq!(client.state().unwrap().events, state.events);
        }
        self.seen
            .lock()
            .unwrap()
            .push((state.events, state.can_proceed));
    }
}

#[test]
fn observers_are_told_each_change_once_and_may_call_back() {
    let (_dir, _keys, client) = fresh();
    let client = std::sync::Arc::new(client);
    let recorder = std::sync::Arc::new(Recorder {
        seen: Default::default(),
        client: Default::default(),
    });
    recorder
        .client
        .set(std::sync::Arc::downgrade(&client))
        .unwrap();
    let handle = client.add_observer(recorder.clone());

    accept(&client);
    client.set_permission("camera", true).unwrap();
    // The same decision again changes nothing and tells nothing.
    client.set_permission("camera", true).unwrap();
    // A refused request tells nothing either.
    client.withdraw("contacts").unwrap_err();
    client.withdraw_all().unwrap();
    assert_eq!(
        *recorder.seen.lock().unwrap(),
        // The withdrawal and its statement are one change (one transaction).
        vec![(1, true), (2, true), (4, false)]
    );

    assert!(client.remove_observer(handle));
    assert!(!client.remove_observer(handle));
    accept(&client);
    assert_eq!(
        recorder.seen.lock().unwrap().len(),
        3,
        "removed observers hear nothing"
    );
}
