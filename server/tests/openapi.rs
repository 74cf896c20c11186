//! `server/openapi.json` describes exactly what the server does: the same
//! routes, and schemas whose properties are the fields real payloads carry.

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;

use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::ApiError;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
use altyn_consent_server::{start, ROUTES};
use serde_json::Value;

fn spec() -> Value {
    serde_json::from_str(include_str!("../openapi.json")).expect("openapi.json is JSON")
}

#[test]
fn the_spec_lists_exactly_the_implemented_routes() {
    let spec = spec();
    assert_eq!(spec["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let implemented: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, implemented);
}

/// Every key of `value` is a documented property, every required property is present.
fn check(spec: &Value, schema: &str, value: &Value) {
    let s = &spec["components"]["schemas"][schema];
    let props: BTreeSet<&str> = s["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let keys: BTreeSet<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert!(
        keys.is_subset(&props),
        "{schema}: undocumented {:?}",
        keys.difference(&props).collect::<Vec<_>>()
    );
    for required in s["required"].as_array().unwrap() {
        assert!(
            keys.contains(required.as_str().unwrap()),
            "{schema}: {required} missing"
        );
    }
    assert_eq!(
        s["additionalProperties"], false,
        "{schema}: the implementation refuses unknown fields"
    );
}

#[tokio::test]
async fn schemas_match_real_payloads() {
    let spec = spec();
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(&dir.path().join("server"), &[("t", "s")]))
        .await
        .unwrap();
    let client = ConsentClient::open(ClientConfig::new(
        dir.path().join("app"),
        AppContext::new("desktop", "test", "linux"),
        Arc::new(MemoryKeyProvider::default()),
    ))
    .unwrap();
    let p = client.policy("ru");
    client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    client.set_permission("camera", true).unwrap();
    let mut config = SyncConfig::new(server.base_url.clone(), Arc::new(StaticToken("t".into())));
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    client.sync(&config).await.unwrap();

    let page = serde_json::to_value(server.events_of("s")).unwrap();
    check(&spec, "EventsPage", &page);
    let event = &page["events"][0];
    check(&spec, "Event", event);
    check(&spec, "PolicyRef", &event["policy"]);
    check(&spec, "AppContext", &event["context"]);
    let receipt = &page["receipts"][0];
    check(&spec, "Receipt", receipt);
    check(&spec, "ReceiptBody", &receipt["body"]);
    check(&spec, "AckedEvent", &receipt["body"]["acknowledged"][0]);
    check(&spec, "ChainHead", &receipt["body"]["head"]);
    check(
        &spec,
        "UploadBatch",
        &serde_json::json!({ "install_id": "i", "events": [event] }),
    );
    let error = ApiError {
        error: "broken_chain".into(),
        message: "m".into(),
        event_id: Some("e".into()),
        seq: Some(1),
    };
    check(&spec, "ApiError", &serde_json::to_value(error).unwrap());
    let signed = altyn_consent_core::sync::wire::SignedPolicy::sign(
        &altyn_consent_core::sync::wire::generate_signing_key(),
        p,
    );
    check(
        &spec,
        "SignedPolicy",
        &serde_json::to_value(signed).unwrap(),
    );
    let kinds = spec["components"]["schemas"]["Event"]["properties"]["kind"]["properties"]["type"]
        ["enum"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(kinds, 12, "every event kind is documented");

    // The Company's documents (issue #13), as the server sends them.
    client.withdraw("camera").unwrap();
    client
        .report_compromise(
            altyn_consent_core::ledger::Concern::ConfidentialityBreach,
            "",
        )
        .unwrap();
    server
        .set_legal_holds(
            "s",
            &[altyn_consent_core::sync::wire::LegalHold {
                categories: vec!["iin".into()],
                basis: "b".into(),
                until: None,
            }],
        )
        .unwrap();
    let report = client.sync(&config).await.unwrap();
    assert_eq!(
        (report.reports_sent, report.statements_delivered),
        (1, 1),
        "{report:?}"
    );
    let decision = serde_json::to_value(server.unblock("s").unwrap()).unwrap();
    check(&spec, "UnblockDecision", &decision);
    check(&spec, "UnblockBody", &decision["body"]);
    let report = client.sync(&config).await.unwrap();
    assert!(report.access_restored, "{report:?}");
    for event in client.history().unwrap() {
        let value = serde_json::to_value(&event).unwrap();
        check(&spec, "Event", &value);
        match event.kind {
            altyn_consent_core::EventKind::StatementDelivered { receipt } => {
                let value = serde_json::to_value(&receipt).unwrap();
                check(&spec, "StatementReceipt", &value);
                check(&spec, "StatementReceiptBody", &value["body"]);
                check(&spec, "LegalHold", &value["body"]["continuing"][0]);
            }
            altyn_consent_core::EventKind::CompromiseReported { .. } => check(
                &spec,
                "ReportUpload",
                &serde_json::json!({ "install_id": event.install_id, "event": value }),
            ),
            _ => {}
        }
    }
    server.shutdown().await;
}

/// The schema the contract gives for `method path` answering `status`
/// (else its `default`), as a JSON Schema 2020-12 validator whose `$ref`s
/// resolve inside the contract.
fn response_validator(
    spec: &Value,
    method: &str,
    path: &str,
    status: u16,
) -> jsonschema::Validator {
    // A method the path does not take (405) answers as any of its
    // operations' errors do.
    let operations = spec["paths"][path].as_object().unwrap();
    let operation = operations
        .get(method)
        .or_else(|| operations.values().next())
        .unwrap();
    let responses = &operation["responses"];
    let response = responses
        .get(status.to_string())
        .or_else(|| responses.get("default"))
        .unwrap_or_else(|| panic!("{method} {path}: {status} is not in the contract"));
    let schema = &response["content"]["application/json"]["schema"];
    assert!(
        !schema.is_null(),
        "{method} {path} {status}: no JSON body in the contract"
    );
    let mut document = schema.clone();
    document["components"] = spec["components"].clone();
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(&document)
        .unwrap_or_else(|e| panic!("{method} {path} {status}: the contract's schema: {e}"))
}

/// Sends a request and checks the answer's body against the contract:
/// every field, nested, with formats (date-time, ...).
struct Contract {
    spec: Value,
    http: reqwest::Client,
    base: String,
    checked: usize,
}

impl Contract {
    async fn check(
        &mut self,
        method: &str,
        template: &str,
        url_path: &str,
        token: Option<&str>,
        body: Option<Value>,
        expected: u16,
    ) -> Value {
        let method_name = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let mut request = self
            .http
            .request(method_name, format!("{}{}", self.base, &url_path[1..]));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap();
        let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
            panic!(
                "{method} {url_path} {status}: not JSON: {}",
                String::from_utf8_lossy(&bytes)
            )
        });
        assert_eq!(status, expected, "{method} {url_path}: {value}");
        let validator = response_validator(&self.spec, method, template, status);
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{method} {url_path} {status}: {errors:#?}\n{value}"
        );
        self.checked += 1;
        value
    }
}

#[tokio::test]
async fn real_responses_validate_against_the_contract() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let server = start(common::config(&dir.path().join("server"), &[("t", "s")]))
        .await
        .unwrap();
    let client = ConsentClient::open(ClientConfig::new(
        dir.path().join("app"),
        AppContext::new("desktop", "test", "linux"),
        Arc::new(MemoryKeyProvider::default()),
    ))
    .unwrap();
    let p = client.policy("ru");
    client
        .accept_policy(p.version, &p.hash(), "ru", true)
        .unwrap();
    client.set_permission("camera", true).unwrap();
    client.withdraw("camera").unwrap();
    let events: Vec<Value> = client
        .history()
        .unwrap()
        .iter()
        .map(|e| serde_json::to_value(e).unwrap())
        .collect();
    let install_id = events[0]["install_id"].as_str().unwrap().to_string();
    let mut c = Contract {
        spec: spec(),
        http: reqwest::Client::builder()
            .add_root_certificate(
                reqwest::Certificate::from_pem(server.ca_pem.as_ref().unwrap().as_bytes()).unwrap(),
            )
            .build()
            .unwrap(),
        base: server.base_url.clone(),
        checked: 0,
    };
    let admin = Some(altyn_consent_server::LOOPBACK_ADMIN_TOKEN);
    let t = Some("t");

    c.check("get", "/v1/health", "/v1/health", None, None, 200)
        .await;
    // Uploads: the receipt, and the errors.
    let batch = serde_json::json!({ "install_id": install_id, "events": events });
    c.check(
        "post",
        "/v1/events",
        "/v1/events",
        t,
        Some(batch.clone()),
        200,
    )
    .await;
    c.check(
        "post",
        "/v1/events",
        "/v1/events",
        None,
        Some(batch.clone()),
        401,
    )
    .await;
    c.check(
        "post",
        "/v1/events",
        "/v1/events",
        t,
        Some(serde_json::json!({})),
        400,
    )
    .await;
    let mut altered = batch.clone();
    altered["events"][1]["kind"]["decision"] = "denied".into();
    c.check("post", "/v1/events", "/v1/events", t, Some(altered), 422)
        .await;
    c.check("delete", "/v1/events", "/v1/events", t, None, 405)
        .await;
    let page = c
        .check("get", "/v1/events", "/v1/events", t, None, 200)
        .await;
    assert_eq!(page["events"].as_array().unwrap().len(), events.len());
    c.check("get", "/v1/events", "/v1/events", None, None, 401)
        .await;
    // In pages.
    let first = c
        .check("get", "/v1/events", "/v1/events?limit=1", t, None, 200)
        .await;
    let next = first["next"].as_str().expect("a next page").to_string();
    let after = format!("/v1/events?limit=1&after={next}");
    c.check("get", "/v1/events", &after, t, None, 200).await;
    c.check("get", "/v1/events", "/v1/events?limit=0", t, None, 400)
        .await;
    // Policies.
    let template = "/v1/policies/{policy_id}";
    c.check(
        "get",
        template,
        "/v1/policies/altyncoin-privacy?locale=ru",
        t,
        None,
        200,
    )
    .await;
    c.check("get", template, "/v1/policies/nothing", t, None, 404)
        .await;
    c.check(
        "get",
        template,
        "/v1/policies/altyncoin-privacy?locale=ru&locale=en",
        t,
        None,
        400,
    )
    .await;
    // The Company's side.
    c.check("get", "/v1/statements", "/v1/statements", t, None, 200)
        .await;
    c.check("get", "/v1/access", "/v1/access", t, None, 200)
        .await;
    let holds = serde_json::json!({ "holds": [{ "categories": ["iin"], "basis": "the law", "until": "2030-01-01" }] });
    let holds_path = "/v1/admin/subjects/s/legal-holds";
    let holds_template = "/v1/admin/subjects/{subject}/legal-holds";
    c.check("put", holds_template, holds_path, admin, Some(holds), 200)
        .await;
    c.check(
        "put",
        holds_template,
        holds_path,
        admin,
        Some(serde_json::json!({ "holds": "x" })),
        400,
    )
    .await;
    c.check(
        "put",
        holds_template,
        holds_path,
        t,
        Some(serde_json::json!({ "holds": [] })),
        401,
    )
    .await;
    c.check(
        "get",
        "/v1/admin/reports",
        "/v1/admin/reports",
        admin,
        None,
        200,
    )
    .await;
    // A report and its unblock, through the client (the report is a signed
    // event of its ledger).
    client
        .report_compromise(altyn_consent_core::ledger::Concern::UnauthorizedAccess, "")
        .unwrap();
    let mut config = SyncConfig::new(server.base_url.clone(), Arc::new(StaticToken("t".into())));
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    client.sync(&config).await.unwrap();
    let access = c
        .check("get", "/v1/access", "/v1/access", t, None, 200)
        .await;
    assert_eq!(access["blocked"], true, "{access}");
    let reports = c
        .check(
            "get",
            "/v1/admin/reports",
            "/v1/admin/reports",
            admin,
            None,
            200,
        )
        .await;
    assert_eq!(reports["reports"].as_array().unwrap().len(), 1);
    let unblock = "/v1/admin/subjects/{subject}/unblock";
    c.check(
        "post",
        unblock,
        "/v1/admin/subjects/s/unblock",
        admin,
        None,
        200,
    )
    .await;
    c.check(
        "post",
        unblock,
        "/v1/admin/subjects/s/unblock",
        admin,
        None,
        409,
    )
    .await;
    let statements = c
        .check("get", "/v1/statements", "/v1/statements", t, None, 200)
        .await;
    assert_eq!(statements["receipts"].as_array().unwrap().len(), 1);
    assert_eq!(c.checked, 25, "every request above was checked");
    // The validators do refuse what the contract does not allow.
    let error = response_validator(&c.spec, "post", "/v1/events", 400);
    assert!(!error.is_valid(&serde_json::json!({ "error": "no_such_code", "message": "m" })));
    let mut bad = page.clone();
    bad["events"][0]["at"] = "yesterday".into();
    assert!(!response_validator(&c.spec, "get", "/v1/events", 200).is_valid(&bad));
    assert!(response_validator(&c.spec, "get", "/v1/events", 200).is_valid(&page));
    server.shutdown().await;
}
