//! Replays the golden journey (`bindings/golden/journey.json`) through the
//! library's exported API, as the Kotlin and Swift tests do. With
//! `ALTYN_BLESS_GOLDEN=1` it writes the expectations instead of checking
//! them; review the diff before committing.

mod common;
use common::MemoryKeys;

use std::path::PathBuf;
use std::sync::Arc;

use altyn_consent::{
    AppInfo, ConsentCore, ConsentError, ConsentState, OpenConfig, OsStatus, PolicyStatus,
    UserConsent,
};
use serde_json::{json, Value};

fn journey_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("golden/journey.json")
}

/// The compact form every platform's replay writes the state in.
fn compact(state: &ConsentState) -> Value {
    let policy = match &state.policy {
        PolicyStatus::NeverAccepted => "never_accepted".to_string(),
        PolicyStatus::Accepted { version, .. } => format!("accepted:{version}"),
        PolicyStatus::ReconsentRequired {
            from_version,
            to_version,
        } => format!("reconsent_required:{from_version}->{to_version}"),
        PolicyStatus::Objected { version, .. } => format!("objected:{version}"),
        PolicyStatus::Withdrawn { .. } => "withdrawn".to_string(),
    };
    let permissions: serde_json::Map<String, Value> = state
        .permissions
        .iter()
        .map(|p| {
            let consent = match p.consent {
                UserConsent::NeverAsked => "never_asked",
                UserConsent::Granted => "granted",
                UserConsent::Denied => "denied",
                UserConsent::Withdrawn => "withdrawn",
            };
            (
                p.id.clone(),
                json!(format!(
                    "{consent}/{}/{}",
                    os_status_name(p.os_status),
                    if p.may_use { "use" } else { "no" }
                )),
            )
        })
        .collect();
    json!({
        "policy": policy,
        "can_proceed": state.can_proceed,
        "events": state.events,
        "head_hash": state.head_hash,
        "subject": state.subject,
        "permissions": permissions,
    })
}

fn os_status_name(s: OsStatus) -> &'static str {
    match s {
        OsStatus::NotDetermined => "not_determined",
        OsStatus::Granted => "granted",
        OsStatus::Limited => "limited",
        OsStatus::Denied => "denied",
        OsStatus::Blocked => "blocked",
        OsStatus::Unavailable => "unavailable",
    }
}

fn os_status(name: &str) -> OsStatus {
    match name {
        "not_determined" => OsStatus::NotDetermined,
        "granted" => OsStatus::Granted,
        "limited" => OsStatus::Limited,
        "denied" => OsStatus::Denied,
        "blocked" => OsStatus::Blocked,
        "unavailable" => OsStatus::Unavailable,
        other => panic!("unknown OS status {other:?} in the journey"),
    }
}

fn error_name(e: &ConsentError) -> &'static str {
    match e {
        ConsentError::NoStoreYet { .. } => "NoStoreYet",
        ConsentError::StoreMissing { .. } => "StoreMissing",
        ConsentError::StoreDamaged { .. } => "StoreDamaged",
        ConsentError::KeyLost { .. } => "KeyLost",
        ConsentError::KeyLocked { .. } => "KeyLocked",
        ConsentError::StoreTooNew { .. } => "StoreTooNew",
        ConsentError::AgeNotConfirmed { .. } => "AgeNotConfirmed",
        ConsentError::StalePolicy { .. } => "StalePolicy",
        ConsentError::PolicyNotAccepted { .. } => "PolicyNotAccepted",
        ConsentError::InvalidRequest { .. } => "InvalidRequest",
        ConsentError::StoreNotEmpty { .. } => "StoreNotEmpty",
        ConsentError::AccessBlocked { .. } => "AccessBlocked",
        ConsentError::VerificationFailed { .. } => "VerificationFailed",
        ConsentError::SyncSetup { .. } => "SyncSetup",
        ConsentError::Network { .. } => "Network",
        ConsentError::ServerRejected { .. } => "ServerRejected",
        ConsentError::Storage { .. } => "Storage",
        ConsentError::Internal { .. } => "Internal",
    }
}

fn text(step: &Value, key: &str) -> String {
    step[key]
        .as_str()
        .unwrap_or_else(|| panic!("step {step} needs {key:?}"))
        .to_string()
}

fn run(core: &ConsentCore, step: &Value) -> Result<ConsentState, ConsentError> {
    let op = text(step, "op");
    match op.as_str() {
        "state" => core.state(),
        "accept_policy" => {
            let locale = text(step, "locale");
            let policy = core.policy(locale.clone());
            let hash = step["hash"]
                .as_str()
                .map(str::to_string)
                .unwrap_or(policy.reference.hash);
            core.accept_policy(
                policy.reference.version,
                hash,
                locale,
                step["age_confirmed"].as_bool().unwrap(),
            )
        }
        "set_permission" => {
            core.set_permission(text(step, "permission"), step["granted"].as_bool().unwrap())
        }
        "report_os_status" => {
            core.report_os_status(text(step, "permission"), os_status(&text(step, "status")))
        }
        "withdraw" => core.withdraw(text(step, "permission")),
        "withdraw_all" => core.withdraw_all(),
        "link_account" => core.link_account(text(step, "account_id")),
        other => panic!("unknown op {other:?} in the journey"),
    }
}

#[test]
fn golden_journey_replays_to_the_recorded_states_and_hashes() {
    let path = journey_path();
    let mut journey: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let bless = std::env::var_os("ALTYN_BLESS_GOLDEN").is_some();
    let dir = tempfile::tempdir().unwrap();
    let app = &journey["app"];
    let config = OpenConfig {
        data_dir: dir.path().to_string_lossy().into_owned(),
        app: AppInfo {
            platform: text(app, "platform"),
            app_version: text(app, "app_version"),
            os_version: text(app, "os_version"),
        },
        server_keys: Vec::new(),
    };
    let core = ConsentCore::open_for_replay(
        config,
        Arc::new(MemoryKeys::default()),
        text(&journey, "start_at"),
    )
    .unwrap();

    let steps = journey["steps"].as_array_mut().unwrap();
    let mut last_events = 0;
    for (i, step) in steps.iter_mut().enumerate() {
        let outcome = run(&core, step);
        if bless {
            let obj = step.as_object_mut().unwrap();
            obj.remove("expect");
            obj.remove("expect_error");
            match &outcome {
                Ok(state) => obj.insert("expect".into(), compact(state)),
                Err(e) => obj.insert("expect_error".into(), json!(error_name(e))),
            };
            continue;
        }
        match (&outcome, step.get("expect"), step.get("expect_error")) {
            (Ok(state), Some(expect), None) => {
                assert_eq!(&compact(state), expect, "step {i}: {step}");
                last_events = state.events;
            }
            (Err(e), None, Some(expect)) => {
                assert_eq!(json!(error_name(e)), *expect, "step {i}: {step}: {e}");
                assert_eq!(
                    core.state().unwrap().events,
                    last_events,
                    "step {i}: a refused request recorded something"
                );
            }
            (outcome, _, _) => panic!("step {i}: {step} gave {outcome:?}"),
        }
    }
    if bless {
        let mut out = serde_json::to_string_pretty(&journey).unwrap();
        out.push('\n');
        std::fs::write(&path, out).unwrap();
        return;
    }
    // The replayed ledger is sound and exports verifiably.
    let report = core.verify().unwrap();
    assert!(report.file_integrity_ok);
    assert_eq!(report.events, last_events);
    assert_eq!(
        altyn_consent::verify_export(core.export().unwrap(), Vec::new()).unwrap(),
        last_events
    );
}

#[test]
fn the_journey_covers_every_operation_and_error_the_shells_replay() {
    let journey: Value = serde_json::from_slice(&std::fs::read(journey_path()).unwrap()).unwrap();
    let steps = journey["steps"].as_array().unwrap();
    let ops: std::collections::BTreeSet<&str> =
        steps.iter().map(|s| s["op"].as_str().unwrap()).collect();
    for op in [
        "state",
        "accept_policy",
        "set_permission",
        "report_os_status",
        "withdraw",
        "withdraw_all",
        "link_account",
    ] {
        assert!(ops.contains(op), "the journey never runs {op}");
    }
    let errors: std::collections::BTreeSet<&str> = steps
        .iter()
        .filter_map(|s| s["expect_error"].as_str())
        .collect();
    for e in [
        "AgeNotConfirmed",
        "PolicyNotAccepted",
        "StalePolicy",
        "InvalidRequest",
    ] {
        assert!(errors.contains(e), "the journey never expects {e}");
    }
    assert!(
        steps
            .iter()
            .all(|s| s.get("expect").is_some() || s.get("expect_error").is_some()),
        "every step has an expectation (bless with ALTYN_BLESS_GOLDEN=1)"
    );
}
