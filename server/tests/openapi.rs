//! `server/openapi.json` describes exactly what the server does: the same
//! routes, and schemas whose properties are the fields real payloads carry.

use std::collections::BTreeSet;
use std::sync::Arc;

use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::ApiError;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};
use altyn_consent_server::{start, ServerConfig, ROUTES};
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
    let server = start(ServerConfig::loopback(
        &dir.path().join("server"),
        &[("t", "s")],
    ))
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
