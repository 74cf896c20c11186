//! `altyn-consent demo`: the borrower's journey in a fresh, throw-away
//! encrypted store, against the reference server started in-process on
//! loopback with a fresh CA. Everything printed is read back from the core
//! or the server.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use altyn_consent_core::policy::{render_section, Block, PolicyDocument, RenderFormat};
use altyn_consent_core::proof::verify_export;
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::sync::wire::key_id;
use altyn_consent_core::sync::{StaticToken, SyncConfig};
use altyn_consent_core::{
    describe_policy_status, ClientConfig, ConsentClient, OsStatus, UserConsent,
};
use altyn_consent_server::{RunningServer, ServerConfig};

use crate::output::{describe_event, print_state, print_sync_status, short};
use crate::{context, print_sync_report, Failure};

struct Prompter {
    yes: bool,
}

impl Prompter {
    /// Asks a yes/no question; with --yes answers yes and says so.
    fn ask(&self, question: &str) -> Result<bool, Failure> {
        print!("{question} [y/N] ");
        if self.yes {
            println!("y (--yes)");
            return Ok(true);
        }
        std::io::stdout().flush().ok();
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            Failure::new(crate::exit::FAILURE, format!("cannot read the answer: {e}"))
        })?;
        Ok(matches!(
            line.trim().to_lowercase().as_str(),
            "y" | "yes" | "д" | "да"
        ))
    }
}

fn step(title: &str) {
    println!();
    println!("── {title} ──");
}

pub fn run(yes: bool, locale: &str) -> Result<(), Failure> {
    if !yes && !std::io::stdin().is_terminal() {
        return Err(Failure::new(
            2,
            "the demo asks questions and standard input is not a terminal: pass --yes to answer yes to all",
        ));
    }
    let runtime = crate::runtime()?;
    let dir = tempfile::tempdir().map_err(|e| {
        Failure::new(
            crate::exit::FAILURE,
            format!("cannot create a temporary folder: {e}"),
        )
    })?;
    step("0. The reference server, in this process, on loopback");
    let server_config = ServerConfig::loopback(
        &dir.path().join("server"),
        &[("demo-token", "demo-borrower")],
    );
    let server = runtime
        .block_on(altyn_consent_server::start(server_config))
        .map_err(|e| Failure::new(crate::exit::FAILURE, e.to_string()))?;
    println!(
        "listening on {} (HTTPS, certificate from a dev CA made just now)",
        server.base_url
    );
    println!(
        "receipt key {}, policy key {}",
        key_id(&server.receipt_key),
        key_id(&server.policy_key)
    );
    let result = journey(yes, locale, &runtime, &server, dir.path());
    runtime.block_on(server.shutdown());
    result
}

fn sync_config(server: &RunningServer) -> SyncConfig {
    let mut config = SyncConfig::new(
        server.base_url.clone(),
        Arc::new(StaticToken("demo-token".into())),
    );
    config.server_keys = vec![server.receipt_key];
    config.policy_keys = vec![server.policy_key];
    config.extra_ca_pem = server.ca_pem.clone();
    config.batch_size = 3;
    config
}

fn sync_with_progress(
    runtime: &tokio::runtime::Runtime,
    client: &ConsentClient,
    server: &RunningServer,
) -> Result<(), Failure> {
    let waiting = client.sync_status()?.pending;
    let bar = indicatif::ProgressBar::new(waiting.max(0) as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("  uploading {bar:30} {pos}/{len} events")
            .expect("a valid template"),
    );
    let mut config = sync_config(server);
    let progress_bar = bar.clone();
    config.progress = Some(Arc::new(move |done, _| progress_bar.set_position(done)));
    let report = runtime.block_on(client.sync(&config))?;
    bar.finish_and_clear();
    print_sync_report(&report);
    Ok(())
}

fn show_last_receipt(client: &ConsentClient, server: &RunningServer) -> Result<(), Failure> {
    let receipts = client.receipts()?;
    let Some(receipt) = receipts.last() else {
        println!("no receipt yet");
        return Ok(());
    };
    let verified = receipt.verify(&[server.receipt_key]).is_ok();
    let body = &receipt.body;
    println!(
        "last receipt: {} event(s) #{}-#{} of installation {}, received {}",
        body.acknowledged.len(),
        body.acknowledged.first().map(|a| a.seq).unwrap_or(0),
        body.acknowledged.last().map(|a| a.seq).unwrap_or(0),
        short(&body.install_id),
        body.received_at
    );
    println!(
        "server chain head #{} {}; Ed25519 signature by key {}: {}",
        body.head.events,
        short(&body.head.hash),
        body.key_id,
        if verified {
            "verified"
        } else {
            "DOES NOT VERIFY"
        }
    );
    print_sync_status(&client.sync_status()?);
    Ok(())
}

/// Version 2 of the policy for the demo: the bundled text with one sentence
/// added to §4.2.5. A demo amendment, not a change the company made.
fn demo_amendment(current: &PolicyDocument) -> PolicyDocument {
    let mut next = current.clone();
    next.version = current.version + 1;
    let clause = next
        .sections
        .iter_mut()
        .flat_map(|s| s.clauses.iter_mut())
        .find(|c| c.id == "4.2.5")
        .expect("§4.2.5 exists");
    clause.blocks.push(Block::Paragraph {
        text: "Данные о местоположении хранятся не более 90 дней.".into(),
    });
    next
}

fn journey(
    yes: bool,
    locale: &str,
    runtime: &tokio::runtime::Runtime,
    server: &RunningServer,
    dir: &std::path::Path,
) -> Result<(), Failure> {
    let prompt = Prompter { yes };
    // The demo's key lives in memory only: the store dies with the demo.
    let mut config = ClientConfig::new(
        dir.join("app"),
        context(),
        Arc::new(MemoryKeyProvider::default()),
    );
    // The receipts kept are checked by verify against the server's key,
    // which an app has built in.
    config.server_keys = vec![server.receipt_key];
    let client = ConsentClient::open(config)?;

    step("1. A fresh encrypted store");
    println!(
        "store: {} (SQLCipher, random 256-bit key held in memory for this demo)",
        client.store_path().display()
    );
    let state = client.state()?;
    println!(
        "policy status: {}; may proceed: {}",
        describe_policy_status(&state.policy),
        state.can_proceed
    );

    step("2. The privacy policy");
    let doc = client.policy(locale);
    println!(
        "{} — version {} ({}), effective {}",
        doc.title, doc.version, doc.locale, doc.effective_date
    );
    println!("hash (sha-256 of the canonical text): {}", doc.hash());
    for section in &doc.sections {
        println!(
            "  {}. {} ({} clauses)",
            section.id,
            section.title,
            section.clauses.len()
        );
    }
    println!();
    print!(
        "{}",
        render_section(&doc, "2.4", RenderFormat::PlainText)
            .map_err(|e| Failure::new(crate::exit::FAILURE, e.to_string()))?
    );
    println!("(the whole text: altyn-consent policy show)");

    step("3. Acceptance with the 18+ attestation (preamble, §11.1)");
    let adult = prompt.ask("Подтверждаете, что Вам исполнилось 18 лет? / Are you 18 or older?")?;
    if !adult {
        let err = client
            .accept_policy(doc.version, &doc.hash(), &doc.locale, false)
            .unwrap_err();
        println!("the core refuses: {err}");
        println!("The app is not for users under 18 (§11.1); the journey ends here.");
        return Ok(());
    }
    if !prompt.ask("Принимаете Политику конфиденциальности? / Do you accept the privacy policy?")?
    {
        println!("Without acceptance only the policy screen is usable; the journey ends here.");
        return Ok(());
    }
    let state = client.accept_policy(doc.version, &doc.hash(), &doc.locale, true)?;
    println!(
        "policy: {}; may proceed: {}",
        describe_policy_status(&state.policy),
        state.can_proceed
    );

    step("4. Device permissions, one decision each (§2.4, §6.1.3)");
    let catalog = client.catalog();
    for perm in &catalog.permissions {
        println!();
        println!("{} — {}", perm.title_in(locale), perm.rationale_in(locale));
        for clause in &perm.purposes {
            println!(
                "  purpose §{clause}: {}",
                doc.clause_summary(clause).unwrap_or("")
            );
        }
        println!("  if you refuse: {}", perm.refusal_effect_in(locale));
        let granted = prompt.ask(&format!("Allow {}?", perm.id))?;
        client.set_permission(&perm.id, granted)?;
        if granted {
            // A desktop has no OS permission dialog; report what a phone's OS
            // reports after the user allows the system prompt.
            let state = client.report_os_status(&perm.id, OsStatus::Granted)?;
            let p = state.permission(&perm.id).expect("catalog permission");
            println!(
                "  recorded: consent {}, OS granted (as a phone would report), may use: {}",
                p.consent, p.may_use
            );
        } else {
            println!("  recorded: refused; the app will not ask again");
        }
    }

    step("5. Withdrawal, effective at once (§6.1.5)");
    let state = client.state()?;
    if let Some(first) = state
        .permissions
        .iter()
        .find(|p| p.consent == UserConsent::Granted)
    {
        if prompt.ask(&format!("Withdraw your consent to {}?", first.id))? {
            let state = client.withdraw(&first.id)?;
            let p = state.permission(&first.id).expect("catalog permission");
            println!(
                "{}: consent {}, may use: {} (the OS grant alone is not enough)",
                p.id, p.consent, p.may_use
            );
            if let Some(st) = client.statements()?.pop() {
                println!(
                    "the written statement for the Company was drawn up with it ({} lines of Russian text; its hash is in the ledger):",
                    st.text.lines().count()
                );
                for line in st.text.lines().take(6) {
                    println!("  | {line}");
                }
                println!("  | ...");
                println!(
                    "  to send it by mail: {}…",
                    &st.mailto[..st.mailto.len().min(72)]
                );
            }
        }
    } else {
        println!("nothing was allowed, so there is nothing to withdraw");
    }

    step("6. Sync over HTTPS, exactly once, with signed receipts");
    // The operator has told the server that the loan file must be kept
    // (§6.1.5 "except in cases established by the law").
    server
        .set_legal_holds(
            "demo-borrower",
            &[altyn_consent_core::sync::wire::LegalHold {
                categories: vec!["iin".into(), "identity_document".into(), "microcredit".into()],
                basis: "хранение документов по микрокредиту (законодательство РК о микрофинансовой деятельности)"
                    .into(),
                until: Some("2031-12-31".into()),
            }],
        )
        .map_err(|r| Failure::new(crate::exit::FAILURE, r.error.message))?;
    sync_with_progress(runtime, &client, server)?;
    show_last_receipt(&client, server)?;
    for st in client.statements()? {
        match &st.delivered_at {
            Some(at) => println!(
                "statement {}: received by the Company at {at} (signed receipt kept in the ledger)",
                &st.id[..8]
            ),
            None => println!("statement {}: not delivered yet", &st.id[..8]),
        }
        for hold in &st.continuing {
            println!(
                "  processing continues on a legal basis: {} ({}), until {}",
                hold.categories.join(", "),
                hold.basis,
                hold.until.as_deref().unwrap_or("-")
            );
        }
    }

    step("7. The company publishes a new policy version (§10.2–10.4)");
    let v2 = demo_amendment(&client.policy("ru"));
    server
        .publish_policy(v2)
        .map_err(|r| Failure::new(crate::exit::FAILURE, r.error.message))?;
    println!(
        "the server now serves version {} (a demo amendment to §4.2.5), signed with the policy key",
        doc.version + 1
    );
    sync_with_progress(runtime, &client, server)?;
    let state = client.state()?;
    println!(
        "policy: {}; may proceed: {}",
        describe_policy_status(&state.policy),
        state.can_proceed
    );
    if let Some(changes) = client.policy_changes()? {
        print!("{}", changes.to_text());
    }
    let current = client.policy(locale);
    client.record_notice_shown(current.version, &current.hash(), &current.locale)?;
    println!("the notice was shown and recorded (§10.2)");
    if prompt.ask(&format!(
        "Принимаете версию {}? / Do you accept version {}?",
        current.version, current.version
    ))? {
        let state =
            client.accept_policy(current.version, &current.hash(), &current.locale, true)?;
        println!(
            "policy: {}; may proceed: {}",
            describe_policy_status(&state.policy),
            state.can_proceed
        );
    } else {
        let state = client.object_to_policy(current.version, &current.hash(), &current.locale)?;
        println!(
            "objection recorded (§10.4); policy: {}; may proceed: {}",
            describe_policy_status(&state.policy),
            state.can_proceed
        );
    }
    sync_with_progress(runtime, &client, server)?;
    show_last_receipt(&client, server)?;
    let held = server.events_of("demo-borrower").events.len();
    let (stored, distinct) = server.event_counts();
    println!("the server holds {held} events for this borrower: {stored} stored, {distinct} distinct ids");

    step("8. A compromise report blocks access until the Company restores it (§5.7)");
    if prompt.ask("Report that your phone was stolen?")? {
        let state = client.report_compromise(
            altyn_consent_core::ledger::Concern::UnauthorizedAccess,
            "телефон украден",
        )?;
        println!(
            "access blocked since {}; may proceed: {}",
            state
                .access_blocked
                .as_ref()
                .map(|b| b.since.as_str())
                .unwrap_or("-"),
            state.can_proceed
        );
        match client.set_permission("camera", true) {
            Err(e) => println!("a new grant is refused: {}", e.kind()),
            Ok(_) => println!("a new grant was accepted (it should not have been)"),
        }
        let report = runtime.block_on(client.sync(&sync_config(server)))?;
        println!(
            "sync: {} report(s) sent ahead of the upload",
            report.reports_sent
        );
        let decision = server
            .unblock("demo-borrower")
            .map_err(|r| Failure::new(crate::exit::FAILURE, r.error.message))?;
        println!(
            "the operator reviewed it and restored access (decision {}, signed with the server key)",
            &decision.body.decision_id.to_string()[..8]
        );
        let report = runtime.block_on(client.sync(&sync_config(server)))?;
        let state = client.state()?;
        println!(
            "sync: access restored: {}; may proceed: {}",
            report.access_restored, state.can_proceed
        );
    }

    step("9. State (a pure fold over the ledger)");
    let state = client.state()?;
    print_state(&state, &catalog, client.pending_upload()?);

    step("10. The ledger and its proof");
    for event in client.history()? {
        println!(
            "#{:<3} {}  {}  [{}]",
            event.seq,
            event.at,
            describe_event(&event),
            short(&event.hash)
        );
    }
    let report = client.verify()?;
    println!(
        "verify: {} events chained, head {}; {} signed receipt(s) cover {} of them; SQLCipher page HMACs ok",
        report.events,
        short(&report.head_hash),
        report.receipts,
        report.acknowledged
    );
    let export = client.export()?;
    let checked = verify_export(export.as_bytes(), &[server.receipt_key])
        .map_err(|e| Failure::new(crate::exit::VERIFICATION, e.to_string()))?;
    println!(
        "export: {} bytes of JSON, verified independently of the store: {} events, {} receipt(s) checked against the server key",
        export.len(),
        checked.chain.events,
        checked.coverage.receipts
    );
    // The database and its write-ahead log: recent pages live in the latter.
    let mut files = Vec::new();
    for path in [
        client.store_path(),
        client.store_path().with_extension("db-wal"),
    ] {
        if let Ok(bytes) = std::fs::read(&path) {
            files.push(bytes);
        }
    }
    let needles: [&[u8]; 3] = [
        doc.id.as_bytes(),
        state.install_id.as_bytes(),
        b"permission_decided",
    ];
    let leaked = files.iter().any(|bytes| {
        needles
            .iter()
            .any(|n| bytes.windows(n.len()).any(|w| w == *n))
    });
    println!(
        "encryption: the database and its log ({} bytes) contain {} of the recorded text (searched for the policy id, the install id and event names)",
        files.iter().map(Vec::len).sum::<usize>(),
        if leaked { "SOME" } else { "none" }
    );
    if leaked {
        return Err(Failure::new(
            crate::exit::FAILURE,
            "the database file holds plain text",
        ));
    }
    Ok(())
}
