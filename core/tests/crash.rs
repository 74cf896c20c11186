//! A process killed with SIGKILL in the middle of a loop of decisions leaves a
//! store that opens, verifies, and holds every decision whose call returned.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;

use altyn_consent_core::store::FileKeyProvider;
use altyn_consent_core::{AppContext, ClientConfig, ConsentClient};

const CHILD_DIR: &str = "ALTYN_CRASH_CHILD_DIR";

fn client(dir: &std::path::Path) -> ConsentClient {
    let keys = Arc::new(FileKeyProvider::new(dir.join("keys")));
    ConsentClient::open(ClientConfig::new(
        dir.join("store"),
        AppContext::new("desktop", "test", "linux"),
        keys,
    ))
    .unwrap()
}

/// Run by the parent test in a child process: records decisions forever and
/// prints the id of each one after its call returned.
#[test]
#[ignore = "child process of sigkill_mid_loop_keeps_every_returned_decision"]
fn crash_child_writer() {
    let dir = std::env::var(CHILD_DIR).expect("run only by the crash test");
    let client = client(std::path::Path::new(&dir));
    let policy = client.policy("ru");
    client
        .accept_policy(policy.version, &policy.hash(), "ru", true)
        .unwrap();
    let stdout = std::io::stdout();
    for i in 0u64.. {
        let granted = i % 2 == 0;
        client
            .set_permission(["camera", "contacts", "photos"][(i % 3) as usize], granted)
            .unwrap();
        let last = client.history().unwrap().pop().unwrap();
        let mut out = stdout.lock();
        writeln!(out, "RECORDED {} {}", last.seq, last.id).unwrap();
        out.flush().unwrap();
    }
}

#[test]
fn sigkill_mid_loop_keeps_every_returned_decision() {
    for round in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_child_writer",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut returned = Vec::new();
        // Kill at a different point each round.
        let kill_after = 40 + round * 37;
        while returned.len() < kill_after {
            let line = lines.next().expect("the child keeps writing").unwrap();
            if let Some(rest) = line.strip_prefix("RECORDED ") {
                let (seq, id) = rest.split_once(' ').unwrap();
                returned.push((seq.parse::<u64>().unwrap(), id.to_string()));
            }
        }
        child.kill().unwrap(); // SIGKILL on Unix: no destructors, no flush.
        child.wait().unwrap();

        let client = client(dir.path());
        let report = client.verify().expect("the store verifies after SIGKILL");
        let events = client.history().unwrap();
        assert!(
            report.events > returned.len() as i64,
            "the acceptance plus every returned decision"
        );
        for (seq, id) in &returned {
            let event = &events[*seq as usize - 1];
            assert_eq!(&event.id.to_string(), id, "decision #{seq} survived");
        }
        assert_eq!(
            client.pending_upload().unwrap() as i64,
            report.events,
            "every event is in the outbox"
        );
        // The store is still writable.
        client.set_permission("notifications", true).unwrap();
        client.verify().unwrap();
    }
}
