//! The terminal shell, run as a user runs it: real binary, real store.

use std::path::Path;
use std::process::{Command, Output};

struct Shell {
    dir: tempfile::TempDir,
}

impl Shell {
    fn new() -> Self {
        Shell {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn run(&self, args: &[&str]) -> Output {
        let data = self.dir.path().join("data");
        let keys = self.dir.path().join("keys");
        Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
            .args([
                "--data-dir",
                data.to_str().unwrap(),
                "--key-store",
                "file",
                "--key-dir",
                keys.to_str().unwrap(),
            ])
            .args(args)
            .env_remove("ALTYN_CONSENT_DATA_DIR")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "{args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stderr).unwrap()
    }
}

#[test]
fn a_borrower_journey_from_the_terminal() {
    let sh = Shell::new();
    let err = sh.fails(&["accept"], 3);
    assert!(
        err.contains("--age-confirmed") && err.contains("18"),
        "{err}"
    );
    let err = sh.fails(&["permission", "grant", "camera"], 3);
    assert!(err.contains("accepted before permissions"), "{err}");

    let out = sh.ok(&["accept", "--age-confirmed"]);
    assert!(
        out.contains("accepted altyncoin-privacy version 1 (ru)"),
        "{out}"
    );
    assert!(sh
        .ok(&["permission", "grant", "camera"])
        .contains("camera: consent granted, OS not_determined, may use: no"));
    assert!(sh
        .ok(&["os-status", "camera", "granted"])
        .contains("may use: yes"));
    sh.ok(&["permission", "deny", "contacts"]);
    let withdrawn = sh.ok(&["permission", "withdraw", "camera"]);
    assert!(withdrawn.contains("consent withdrawn"), "{withdrawn}");
    // §6.1.5: the written statement, drawn up in the same step.
    assert!(
        withdrawn.contains("drawn up for info-procredit@prozaimy.kz (§6.1.5)"),
        "{withdrawn}"
    );
    let list = sh.ok(&["statements", "list"]);
    let id = list.split_whitespace().next().unwrap().to_string();
    assert!(list.contains("not delivered yet"), "{list}");
    let text = sh.ok(&["statements", "show", &id]);
    assert!(
        text.contains("п. 6.1.5") && text.contains("Камера"),
        "{text}"
    );
    let mailto = sh.ok(&["statements", "show", &id, "--format", "mailto"]);
    assert!(
        mailto.starts_with("mailto:info-procredit@prozaimy.kz?subject="),
        "{mailto}"
    );

    let status = sh.ok(&["status"]);
    assert!(
        status.contains("Status:       accepted (version 1)"),
        "{status}"
    );
    assert!(status.contains("contacts               denied"), "{status}");
    let json: serde_json::Value = serde_json::from_str(&sh.ok(&["status", "--json"])).unwrap();
    assert_eq!(json["events"], 6, "five decisions and the statement");
    assert_eq!(json["policy"]["status"], "accepted");

    let history = sh.ok(&["history"]);
    assert!(
        history.contains("#1") && history.contains("camera: consent withdrawn"),
        "{history}"
    );
    assert!(sh.ok(&["verify"]).contains("ledger verified: 6 events"));

    let export = sh.dir.path().join("export.json");
    sh.ok(&["export", "--out", export.to_str().unwrap()]);
    assert!(sh
        .ok(&["verify", "--export", export.to_str().unwrap()])
        .contains("export verified: 6 events"));
    let tampered =
        std::fs::read_to_string(&export)
            .unwrap()
            .replacen("\"denied\"", "\"granted\"", 1);
    std::fs::write(&export, tampered).unwrap();
    let err = sh.fails(&["verify", "--export", export.to_str().unwrap()], 5);
    assert!(err.contains("broken at event #4"), "{err}");

    assert!(sh.ok(&["withdraw-all"]).contains("withdrawn"));
    assert!(sh
        .ok(&["status"])
        .contains("May proceed past the policy screen: no"));
}

#[test]
fn unknown_names_get_the_list_of_known_ones() {
    let sh = Shell::new();
    sh.ok(&["accept", "--age-confirmed"]);
    let err = sh.fails(&["permission", "grant", "microphone"], 3);
    assert!(
        err.contains("known permissions are: camera, location_precise"),
        "{err}"
    );
    let err = sh.fails(&["os-status", "camera", "sometimes"], 3);
    assert!(
        err.contains("not_determined, granted, limited, denied, blocked, unavailable"),
        "{err}"
    );
    let err = sh.fails(&["policy", "show", "--section", "12"], 3);
    assert!(err.contains("sections are 1, 2, 3"), "{err}");
}

#[test]
fn policy_show_prints_sections_in_text_and_markdown_with_locale_fallback() {
    let sh = Shell::new();
    let text = sh.ok(&["policy", "show", "--section", "6.1"]);
    assert!(text.contains("6.1.5. отзыва своего согласия"), "{text}");
    let md = sh.ok(&["policy", "show", "--section", "10", "--markdown"]);
    assert!(
        md.starts_with("## 10. Изменения в политике конфиденциальности"),
        "{md}"
    );
    let whole = sh.ok(&["policy", "show", "--locale", "kk"]);
    assert!(
        whole.starts_with("ПОЛИТИКА КОНФИДЕНЦИАЛЬНОСТИ"),
        "falls back to Russian"
    );
    assert!(whole.contains("11.6. Все предложения"));
    let info = sh.ok(&["policy", "info"]);
    assert!(info.contains("sections:       11, clauses: 71"), "{info}");
    let list = sh.ok(&["permission", "list"]);
    assert!(
        list.contains("android.permission.CAMERA")
            && list.contains("§4.2.5 Определения места нахождения"),
        "{list}"
    );
}

#[test]
fn a_store_whose_key_was_replaced_does_not_open_and_is_untouched() {
    let sh = Shell::new();
    sh.ok(&["accept", "--age-confirmed"]);
    let keys = sh.dir.path().join("keys");
    // The store's key (beside it, the installation marker).
    let key_file = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| !p.to_string_lossy().contains("altyn-consent-installation"))
        .unwrap();
    std::fs::write(&key_file, "11".repeat(32)).unwrap();
    let db = sh.dir.path().join("data/consent.db");
    let before = std::fs::read(&db).unwrap();
    let err = sh.fails(&["status"], 4);
    assert!(err.contains("does not open this consent store"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);
    assert!(Path::new(&key_file).exists());
}

#[test]
fn the_demo_runs_the_whole_journey_unattended() {
    let sh = Shell::new();
    let out = sh.ok(&["demo", "--yes"]);
    for expected in [
        "accepted (version 1)",
        "camera: consent withdrawn, may use: false",
        "sync: 16 sent, 16 acknowledged",
        "ЗАЯВЛЕНИЕ ОБ ОТЗЫВЕ СОГЛАСИЯ",
        "received by the Company at",
        "processing continues on a legal basis: iin",
        "Ed25519 signature by key",
        "policy version 2 arrived",
        "~ 4.2.5:",
        "policy: accepted (version 2); may proceed: true",
        "18 stored, 18 distinct ids",
        "a new grant is refused: access_blocked",
        "sync: 1 report(s) sent ahead of the upload",
        "sync: access restored: true; may proceed: true",
        "verify: 20 events chained",
        "verified independently of the store: 20 events",
        "contain none of the recorded text",
    ] {
        assert!(out.contains(expected), "missing {expected:?} in:\n{out}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
        .arg("demo")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pass --yes"));
}

#[test]
fn help_explains_exit_codes() {
    let out = Shell::new().ok(&["--help"]);
    assert!(
        out.contains("Exit codes") && out.contains("accept --age-confirmed"),
        "{out}"
    );
}

/// A free loopback port (released right away for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn serve_sync_and_restore_from_the_terminal() {
    let sh = Shell::new();
    let server_dir = sh.dir.path().join("server");
    let port = free_port();
    let mut server = Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--server-data-dir",
            server_dir.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the server has written its keys and listens.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while (std::net::TcpStream::connect(("127.0.0.1", port)).is_err()
        || !server_dir.join("policy-key.pub").exists())
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("https://127.0.0.1:{port}/");
    let remote = [
        "--server",
        url.as_str(),
        "--server-data-dir",
        server_dir.to_str().unwrap(),
        "--token",
        "dev-token",
    ];

    sh.ok(&["accept", "--age-confirmed"]);
    sh.ok(&["permission", "grant", "camera"]);
    let out = sh.ok(&[&["sync"][..], &remote[..]].concat());
    assert!(
        out.contains(
            "sync: 2 sent, 2 acknowledged with 1 signed receipt(s), 0 parked, 0 still waiting"
        ),
        "{out}"
    );
    assert!(sh
        .ok(&["status"])
        .contains("Sync:         2 acknowledged with 1 signed receipt(s); 0 waiting, 0 parked"));

    // A new phone: an empty store restored from the server.
    let phone = Shell::new();
    let out = phone.ok(&[&["restore"][..], &remote[..]].concat());
    assert!(
        out.contains("restored 2 events; policy: accepted (version 1)"),
        "{out}"
    );
    assert!(phone
        .ok(&["status"])
        .contains("camera                 granted"));
    // verify checks the receipt, so it needs the server's key.
    let err = phone.fails(&["verify"], 2);
    assert!(err.contains("--server-data-dir"), "{err}");
    let trust = ["--server-data-dir", server_dir.to_str().unwrap()];
    let out = phone.ok(&[&["verify"][..], &trust[..]].concat());
    assert!(
        out.contains("1 signed receipt(s) cover 2 event(s)"),
        "{out}"
    );
    // A restore into a store that holds events is refused by kind.
    let err = phone.fails(&[&["restore"][..], &remote[..]].concat(), 3);
    assert!(err.contains("already holds 2 event(s)"), "{err}");

    // The phone loses its database file: reported, never replaced...
    std::fs::remove_file(phone.dir.path().join("data/consent.db")).unwrap();
    let err = phone.fails(&["status"], 4);
    assert!(err.contains("is gone") && err.contains("recover"), "{err}");
    let err = phone.fails(&["accept", "--age-confirmed"], 4);
    assert!(err.contains("is gone"), "{err}");
    // ...until the user recovers: the server's copy comes back, and the
    // loss is the next event.
    let out = phone.ok(&[&["recover"][..], &remote[..]].concat());
    assert!(
        out.contains("(store_missing)") && out.contains("restored 2 event(s)"),
        "{out}"
    );
    let status = phone.ok(&["status"]);
    assert!(
        status.contains("Quarantine:") && status.contains("consent.keycheck.json"),
        "{status}"
    );
    assert!(phone
        .ok(&["history"])
        .contains("store recovered (store_missing)"));
    let out = phone.ok(&[&["verify"][..], &trust[..]].concat());
    assert!(
        out.contains("3 events") && out.contains("1 waiting"),
        "{out}"
    );
    // A readable store is not "recovered".
    let err = phone.fails(&[&["recover"][..], &remote[..]].concat(), 3);
    assert!(err.contains("nothing to recover"), "{err}");

    // A wrong token: nothing is lost, the reason is said, the exit code is 6.
    sh.ok(&["permission", "deny", "contacts"]);
    let out = sh.run(&[
        "sync",
        "--server",
        url.as_str(),
        "--server-data-dir",
        server_dir.to_str().unwrap(),
        "--token",
        "nope",
    ]);
    assert_eq!(out.status.code(), Some(6));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("sign in again") && stdout.contains("1 still waiting"),
        "{stdout}"
    );
    server.kill().unwrap();
    server.wait().unwrap();

    // The server is down: the sync fails with exit code 6, nothing is lost.
    let out = sh.run(&[&["sync"][..], &remote[..]].concat());
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("still wait for upload"));
    assert!(sh.ok(&["status"]).contains("1 waiting"));
}

/// The binary with a fresh HOME and nothing from the environment that
/// would choose its folders or key store: the defaults, as on a new machine.
fn fresh_home_command(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_altyn-consent"));
    cmd.env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_DATA_HOME")
        .env_remove("ALTYN_CONSENT_DATA_DIR")
        .env_remove("ALTYN_CONSENT_KEY_STORE")
        .env_remove("ALTYN_CONSENT_KEY_DIR")
        .stdin(std::process::Stdio::null());
    cmd
}

#[cfg(target_os = "linux")]
#[test]
fn the_defaults_work_on_a_fresh_home_and_keep_the_key_in_a_private_file() {
    use std::os::unix::fs::PermissionsExt;
    let home = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = fresh_home_command(home.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    // Reading first: nothing is created by a read.
    assert!(run(&["policy", "show", "--section", "6.1"]).contains("6.1"));
    assert!(run(&["status"]).contains("No consent store yet"));
    assert!(!home.path().join(".local").exists() && !home.path().join(".config").exists());
    run(&["accept", "--age-confirmed"]);
    run(&["permission", "grant", "camera"]);
    assert!(run(&["status"]).contains("camera"));
    run(&["verify"]);
    let keys = home.path().join(".config/altyn-consent/keys");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&keys), 0o700);
    let files: Vec<_> = std::fs::read_dir(&keys)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(
        files.len(),
        2,
        "the store's key and the installation marker"
    );
    for file in &files {
        assert_eq!(mode(file), 0o600, "{}", file.display());
    }
    let data = home.path().join(".local/share/altyn-consent");
    assert!(data.join("consent.db").exists());
    assert_eq!(mode(&data), 0o700);
    // The store's folder emptied by hand: reported, not silently replaced.
    std::fs::remove_dir_all(&data).unwrap();
    let out = fresh_home_command(home.path())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("is gone"));
    assert!(!data.exists(), "a read recreated the folder");
}

#[cfg(unix)]
#[test]
fn a_closed_pipe_ends_the_output_quietly() {
    use std::io::BufRead;
    let sh = Shell::new();
    // The whole policy is larger than a pipe's buffer, so the writer meets
    // the closed pipe for sure.
    for args in [&["policy", "show"][..], &["permission", "list"][..]] {
        let data = sh.dir.path().join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
            .args(["--data-dir", data.to_str().unwrap()])
            .args(args)
            .env("HOME", sh.dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        assert!(!first.is_empty());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

#[test]
fn logs_off_a_terminal_carry_no_colour_codes() {
    let sh = Shell::new();
    let data = sh.dir.path().join("data");
    let keys = sh.dir.path().join("keys");
    let out = Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "--key-dir",
            keys.to_str().unwrap(),
        ])
        .args(["accept", "--age-confirmed"])
        .env("ALTYN_CONSENT_LOG", "info")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("consent event recorded"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains('\u{1b}'));
}

/// Reads as a user who cannot write: the store's files and folder are
/// read-only for the one reading them (run as `nobody` when the tests run
/// as root, since root ignores permission bits).
#[cfg(target_os = "linux")]
#[test]
fn reads_work_on_a_read_only_store_and_change_no_byte() {
    use std::os::unix::fs::{chown, PermissionsExt};
    let sh = Shell::new();
    sh.ok(&["accept", "--age-confirmed"]);
    sh.ok(&["permission", "grant", "camera"]);
    let data = sh.dir.path().join("data");
    let keys = sh.dir.path().join("keys");
    let as_root = unsafe_is_root();
    let reader: Option<(u32, u32)> = as_root.then_some((65534, 65534));
    let snapshot = || -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|e| {
                let p = e.unwrap().path();
                (p.display().to_string(), std::fs::read(&p).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    let before = snapshot();
    for dir in [&data, &keys] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if let Some((uid, gid)) = reader {
                chown(&path, Some(uid), Some(gid)).unwrap();
            }
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).unwrap();
        }
        if let Some((uid, gid)) = reader {
            chown(dir, Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o500)).unwrap();
    }
    // The temp dir itself must be reachable by the reader.
    std::fs::set_permissions(sh.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let read = |args: &[&str]| -> Output {
        let mut cmd = if reader.is_some() {
            let mut c = Command::new("setpriv");
            c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
                .arg(env!("CARGO_BIN_EXE_altyn-consent"));
            c
        } else {
            Command::new(env!("CARGO_BIN_EXE_altyn-consent"))
        };
        cmd.args([
            "--data-dir",
            data.to_str().unwrap(),
            "--key-store",
            "file",
            "--key-dir",
            keys.to_str().unwrap(),
        ])
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
    };
    for args in [
        &["status"][..],
        &["history"][..],
        &["verify"][..],
        &["export"][..],
        &["policy", "show", "--section", "2.4"][..],
        &["permission", "list"][..],
    ] {
        let out = read(args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // A write through a read-only store fails with the storage kind, and
    // still changes nothing.
    let out = read(&["permission", "grant", "contacts"]);
    if reader.is_some() {
        assert_eq!(out.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&out.stderr).contains("cannot be written"));
    }
    for dir in [&data, &keys] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    assert_eq!(snapshot(), before, "a read changed the store");
    assert!(!data.join("consent.db-wal").exists() && !data.join("consent.db-shm").exists());
}

#[cfg(target_os = "linux")]
fn unsafe_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
}
