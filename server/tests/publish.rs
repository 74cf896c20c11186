//! `--publish`: policy files published at start, and a bad one refused with
//! the file named.

mod common;

use altyn_consent_core::policy::PolicyDocument;
use altyn_consent_server::start;

#[tokio::test]
async fn a_bad_policy_file_stops_the_start_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("broken-policy.json");
    std::fs::write(&bad, b"{ not json").unwrap();
    let mut config = common::config(&dir.path().join("data"), &[("t", "s")]);
    config.publish = vec![bad];
    let err = start(config).await.err().expect("the start is refused");
    let message = err.to_string();
    assert!(message.contains("broken-policy.json"), "{message}");

    // The same version with another text conflicts with the bundled one.
    let mut doc = PolicyDocument::bundled();
    doc.title.push_str(" (edited)");
    let conflicting = dir.path().join("same-version.json");
    std::fs::write(&conflicting, serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut config = common::config(&dir.path().join("data2"), &[("t", "s")]);
    config.publish = vec![conflicting];
    let err = start(config)
        .await
        .err()
        .expect("a conflicting version is refused");
    assert!(err.to_string().contains("same-version.json"), "{err}");
}

#[tokio::test]
async fn a_published_file_becomes_the_current_version() {
    let dir = tempfile::tempdir().unwrap();
    let mut doc = PolicyDocument::bundled();
    doc.version = 2;
    let path = dir.path().join("v2.json");
    std::fs::write(&path, serde_json::to_vec(&doc).unwrap()).unwrap();
    let mut config = common::config(&dir.path().join("data"), &[("t", "s")]);
    config.publish = vec![path];
    let server = start(config).await.unwrap();
    // Version 2 is stored: the same text again is accepted, another refused.
    server.publish_policy(doc.clone()).unwrap();
    doc.title.push_str(" (edited)");
    let refusal = server.publish_policy(doc).unwrap_err();
    assert_eq!(refusal.status, 409);
    server.shutdown().await;
}
