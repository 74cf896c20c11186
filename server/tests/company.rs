//! What the policy promises beyond the ledger, against the real server over
//! TLS on loopback: the written withdrawal statement with the Company's
//! signed receipt of delivery and the processing that continues on a legal
//! basis (§6.1.5), the objection with its mailto link (§10.4), and the
//! compromise report that blocks access until a signed unblock (§5.7).

mod common;

use std::sync::Arc;
use std::time::Duration;

use altyn_consent_core::ledger::{Concern, EventKind};
use altyn_consent_core::proof::verify_export;
use altyn_consent_core::statement::StatementKind;
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::LegalHold;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient, ErrorKind, UserConsent};
use altyn_consent_server::{start, Fault, RunningServer, LOOPBACK_ADMIN_TOKEN};

struct World {
    _dir: tempfile::TempDir,
    server: RunningServer,
    client: ConsentClient,
}

async fn world() -> World {
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(
        &dir.path().join("server"),
        &[("token-1", "subject-1")],
    ))
    .await
    .unwrap();
    let mut config = ClientConfig::new(
        dir.path().join("app"),
        AppContext::new("desktop", "test", "linux"),
        Arc::new(MemoryKeyProvider::default()),
    );
    config.server_keys = vec![server.receipt_key];
    config.utc_offset_seconds = Some(5 * 3600);
    let client = ConsentClient::open(config).unwrap();
    client.link_account("subject-1").unwrap();
    let p = client.policy("ru");
    client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    World {
        _dir: dir,
        server,
        client,
    }
}

fn sync_config(server: &RunningServer) -> SyncConfig {
    let mut config = SyncConfig::new(
        server.base_url.clone(),
        Arc::new(StaticToken("token-1".into())),
    );
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    config.request_timeout = Duration::from_millis(1500);
    config.min_backoff = Duration::from_millis(10);
    config.max_wait = Duration::from_millis(200);
    config.max_attempts = 2;
    config
}

fn loan_hold() -> LegalHold {
    LegalHold {
        categories: vec!["iin".into(), "phone_numbers".into()],
        basis: "Закон РК «О микрофинансовой деятельности», ст. 4: хранение документов по займу"
            .into(),
        until: Some("2031-12-31".into()),
    }
}

#[tokio::test]
async fn a_withdrawal_draws_up_a_statement_the_company_receipts_with_its_legal_holds() {
    let w = world().await;
    w.server
        .set_legal_holds("subject-1", &[loan_hold()])
        .unwrap();
    w.client
        .set_permission("location_approximate", true)
        .unwrap();
    let state = w.client.withdraw("location_approximate").unwrap();
    // Effective on the device at once, before any sync.
    assert_eq!(
        state.permission("location_approximate").unwrap().consent,
        UserConsent::Withdrawn
    );
    let statements = w.client.statements().unwrap();
    assert_eq!(statements.len(), 1);
    let s = &statements[0];
    assert_eq!(s.kind, StatementKind::Withdrawal);
    assert_eq!(s.recipient, "info-procredit@prozaimy.kz");
    assert!(s.delivered_at.is_none());
    // Who, what (purposes with their clauses, data categories), when (UTC
    // and local), under which version and hash, and the events it rests on.
    assert!(s.text.contains("subject-1"), "{}", s.text);
    assert!(s.text.contains("п. 4.2.5"), "{}", s.text);
    assert!(s.text.contains("п. 6.1.5"), "{}", s.text);
    assert!(s.text.contains("+05:00 (местное время)"), "{}", s.text);
    assert!(s.text.contains(&state.current_policy.hash), "{}", s.text);
    assert!(s.markdown.starts_with("# Заявление об отзыве согласия"));
    let json: serde_json::Value = serde_json::from_str(&s.json).unwrap();
    let withdraw_event = &w.client.history().unwrap()[s.seq as usize - 2];
    assert!(matches!(
        withdraw_event.kind,
        EventKind::ConsentWithdrawn { .. }
    ));
    assert_eq!(json["events"][0]["hash"], withdraw_event.hash.as_str());
    assert_eq!(json["withdrawn"][0]["permission"], "location_approximate");
    assert!(s
        .mailto
        .starts_with("mailto:info-procredit@prozaimy.kz?subject="));

    let report = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert_eq!(report.stop, None, "{report:?}");
    assert_eq!(report.statements_delivered, 1, "{report:?}");
    // The receipt of delivery was recorded and uploaded in the same pass.
    assert_eq!(report.pending, 0, "{report:?}");
    let s = w.client.statement(&s.id).unwrap();
    assert!(s.delivered_at.is_some());
    assert_eq!(s.continuing, vec![loan_hold()]);
    let state = w.client.state().unwrap();
    assert_eq!(state.legal_holds, vec![loan_hold()]);
    // verify checks the statement, its receipt's signature and what it names.
    w.client.verify().unwrap();
    let export = w.client.export().unwrap();
    verify_export(export.as_bytes(), &[w.server.receipt_key]).unwrap();
    // The ISO/IEC TS 27560 records carry the statement and its delivery,
    // with the processing that continues, and validate against the schema.
    let iso: serde_json::Value =
        serde_json::from_str(&w.client.export_iso27560().unwrap()).unwrap();
    assert_valid_iso(&iso);
    let location = iso["records"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["permission"]["id"] == "location_approximate")
        .expect("the location record");
    let delivered = location["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["entryType"] == "statement_delivered")
        .expect("the delivery is in the record's history");
    assert_eq!(delivered["statementId"], s.id.as_str());
    assert_eq!(
        delivered["continuingProcessing"][0]["piiCategories"][0],
        "iin"
    );
    // A second pass asks for nothing more.
    let again = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert_eq!((again.statements_delivered, again.sent), (0, 0));

    // A new phone restores the ledger with its statement and receipt of
    // delivery; both are checked before anything is written.
    let dir = tempfile::tempdir().unwrap();
    let mut config = ClientConfig::new(
        dir.path(),
        AppContext::new("desktop", "test", "linux"),
        Arc::new(MemoryKeyProvider::default()),
    );
    config.server_keys = vec![w.server.receipt_key];
    let phone = ConsentClient::open(config).unwrap();
    let restored = phone
        .restore_from_server(&sync_config(&w.server))
        .await
        .unwrap();
    assert_eq!(restored.legal_holds, vec![loan_hold()]);
    let statements = phone.statements().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0].hash, s.hash);
    assert!(statements[0].delivered_at.is_some());
    phone.verify().unwrap();
}

#[tokio::test]
async fn withdrawing_a_purpose_withdraws_every_permission_used_for_it() {
    let w = world().await;
    w.client
        .set_permission("location_approximate", true)
        .unwrap();
    w.client.set_permission("camera", true).unwrap();
    let state = w.client.withdraw_purpose("4.2.5").unwrap();
    assert_eq!(
        state.permission("location_approximate").unwrap().consent,
        UserConsent::Withdrawn
    );
    assert_eq!(
        state.permission("camera").unwrap().consent,
        UserConsent::Granted
    );
    let s = &w.client.statements().unwrap()[0];
    assert!(s.text.contains("п. 4.2.5"));
    let err = w.client.withdraw_purpose("4.2.5").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    let err = w.client.withdraw_purpose("9.9.9").unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidRequest);
    // Withdrawing everything names the policy's consent and what was granted.
    let state = w.client.withdraw_all().unwrap();
    assert!(!state.can_proceed);
    let all = &w.client.statements().unwrap()[1];
    let json: serde_json::Value = serde_json::from_str(&all.json).unwrap();
    assert_eq!(json["withdrawn"][0]["permission"], serde_json::Value::Null);
    assert_eq!(json["withdrawn"][1]["permission"], "camera");
    w.client.verify().unwrap();
}

#[tokio::test]
async fn an_objection_gives_a_mailto_to_the_address_the_policy_names() {
    let w = world().await;
    let p = w.client.policy("ru");
    w.client
        .object_to_policy(p.version, &p.hash(), "ru")
        .unwrap();
    let s = &w.client.statements().unwrap()[0];
    assert_eq!(s.kind, StatementKind::Objection);
    assert!(s.text.contains("п. 10.4"), "{}", s.text);
    assert!(s
        .mailto
        .starts_with("mailto:info-procredit@prozaimy.kz?subject=%D0%92%D0%BE%D0%B7"));
    assert!(s.mailto.contains("&body="));
    let report = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert_eq!(report.statements_delivered, 1, "{report:?}");
    let s = w.client.statement(&s.id).unwrap();
    assert!(s.delivered_at.is_some());
    assert!(s.continuing.is_empty());
    w.client.verify().unwrap();
}

fn assert_valid_iso(doc: &serde_json::Value) {
    let schema: serde_json::Value = serde_json::from_str(include_str!(
        "../../core/schema/iso-27560-consent-records.schema.json"
    ))
    .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&schema)
        .unwrap();
    let errors: Vec<String> = validator.iter_errors(doc).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

async fn admin(
    server: &RunningServer,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let ca = reqwest::Certificate::from_pem(server.ca_pem.as_ref().unwrap().as_bytes()).unwrap();
    let http = reqwest::Client::builder()
        .add_root_certificate(ca)
        .build()
        .unwrap();
    let mut request = http.request(method, format!("{}{path}", server.base_url));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(serde_json::to_vec(&body).unwrap());
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.bytes().await.unwrap();
    let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, value)
}

#[tokio::test]
async fn a_compromise_report_goes_first_blocks_grants_and_only_a_signed_unblock_lifts_it() {
    let w = world().await;
    for _ in 0..30 {
        w.client.set_permission("camera", true).unwrap();
        w.client.set_permission("camera", false).unwrap();
    }
    let state = w
        .client
        .report_compromise(Concern::UnauthorizedAccess, "телефон украли")
        .unwrap();
    let block = state.access_blocked.clone().expect("blocked");
    assert!(!state.can_proceed);
    assert!(state
        .permissions
        .iter()
        .all(|p| !p.may_use && !p.should_ask));
    // New grants are refused; refusals and withdrawals stay possible.
    let err = w.client.set_permission("camera", true).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessBlocked);
    assert!(err.to_string().contains(&block.since));
    let p = w.client.policy("ru");
    assert_eq!(
        w.client
            .accept_policy(p.version, &p.hash(), "ru", true)
            .unwrap_err()
            .kind(),
        ErrorKind::AccessBlocked
    );
    w.client.set_permission("contacts", false).unwrap();

    // The upload fails throughout; the report still reaches the Company.
    for _ in 0..10 {
        w.server.faults.push(Fault::Status(503));
    }
    let report = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert_eq!(report.reports_sent, 1, "{report:?}");
    assert_eq!(report.acknowledged, 0, "{report:?}");
    let (status, list) = admin(
        &w.server,
        reqwest::Method::GET,
        "v1/admin/reports",
        Some(LOOPBACK_ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["reports"][0]["subject"], "subject-1");
    assert_eq!(list["reports"][0]["concern"], "unauthorized_access");
    assert_eq!(list["reports"][0]["details"], "телефон украли");
    while w.server.faults.remaining() > 0 {
        let _ = w.client.sync(&sync_config(&w.server)).await.unwrap();
    }

    // No decision yet: the upload completes, access stays blocked.
    let report = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert_eq!(
        (&report.stop, report.pending, report.access_restored),
        (&None, 0, false),
        "{report:?}"
    );
    assert!(w.client.state().unwrap().access_blocked.is_some());

    // The operator's API needs its own token.
    let path = "v1/admin/subjects/subject-1/unblock";
    assert_eq!(
        admin(&w.server, reqwest::Method::POST, path, None, None)
            .await
            .0,
        401
    );
    assert_eq!(
        admin(
            &w.server,
            reqwest::Method::POST,
            path,
            Some("token-1"),
            None
        )
        .await
        .0,
        401
    );
    let (status, decision) = admin(
        &w.server,
        reqwest::Method::POST,
        path,
        Some(LOOPBACK_ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 200, "{decision}");
    assert_eq!(decision["body"]["reports"][0], block.reports[0].as_str());
    assert_eq!(
        admin(
            &w.server,
            reqwest::Method::POST,
            path,
            Some(LOOPBACK_ADMIN_TOKEN),
            None
        )
        .await
        .0,
        409
    );

    let report = w.client.sync(&sync_config(&w.server)).await.unwrap();
    assert!(report.access_restored, "{report:?}");
    assert_eq!(report.pending, 0, "{report:?}");
    let state = w.client.state().unwrap();
    assert!(state.access_blocked.is_none());
    assert!(state.can_proceed);
    w.client.set_permission("camera", true).unwrap();
    w.client.verify().unwrap();
    let iso: serde_json::Value =
        serde_json::from_str(&w.client.export_iso27560().unwrap()).unwrap();
    assert_valid_iso(&iso);
    let kinds: Vec<&str> = iso["otherEvents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["ledgerEvent"]["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"compromise_reported") && kinds.contains(&"access_restored"),
        "{kinds:?}"
    );
    let export = w.client.export().unwrap();
    verify_export(export.as_bytes(), &[w.server.receipt_key]).unwrap();
}

#[tokio::test]
async fn legal_holds_are_checked_and_the_admin_api_is_off_without_tokens() {
    let w = world().await;
    let path = "v1/admin/subjects/subject-1/legal-holds";
    let bad = serde_json::json!({"holds": [{"categories": [], "basis": "x", "until": null}]});
    let (status, body) = admin(
        &w.server,
        reqwest::Method::PUT,
        path,
        Some(LOOPBACK_ADMIN_TOKEN),
        Some(bad),
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")));
    let bad_date = serde_json::json!({"holds": [{"categories": ["iin"], "basis": "x", "until": "31.12.2031"}]});
    assert_eq!(
        admin(
            &w.server,
            reqwest::Method::PUT,
            path,
            Some(LOOPBACK_ADMIN_TOKEN),
            Some(bad_date)
        )
        .await
        .0,
        400
    );
    let unknown =
        serde_json::json!({"holds": [{"categories": ["dna"], "basis": "x", "until": null}]});
    let (status, body) = admin(
        &w.server,
        reqwest::Method::PUT,
        path,
        Some(LOOPBACK_ADMIN_TOKEN),
        Some(unknown),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("\"dna\" is not a data category"),
        "{body}"
    );
    let good = serde_json::json!({"holds": [loan_hold()]});
    assert_eq!(
        admin(
            &w.server,
            reqwest::Method::PUT,
            path,
            Some(LOOPBACK_ADMIN_TOKEN),
            Some(good)
        )
        .await
        .0,
        200
    );

    let dir = tempfile::tempdir().unwrap();
    let mut config = common::config(dir.path(), &[("t", "s")]);
    config.admin_tokens.clear();
    let closed = start(config).await.unwrap();
    let (status, body) = admin(
        &closed,
        reqwest::Method::GET,
        "v1/admin/reports",
        Some(LOOPBACK_ADMIN_TOKEN),
        None,
    )
    .await;
    assert_eq!(status, 403);
    assert!(body["message"].as_str().unwrap().contains("--admin-tokens"));
}
