//! `altyn-consent demo`: the borrower's journey in a fresh, throw-away
//! encrypted store. Everything printed is read back from the core.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use altyn_consent_core::ledger::verify_export;
use altyn_consent_core::policy::{render_section, RenderFormat};
use altyn_consent_core::store::MemoryKeyProvider;
use altyn_consent_core::{
    describe_policy_status, ClientConfig, ConsentClient, OsStatus, UserConsent,
};

use crate::output::{describe_event, print_state, short};
use crate::{context, Failure};

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
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::new(1, format!("cannot read the answer: {e}")))?;
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
        return Err(Failure::new(2, "the demo asks questions and standard input is not a terminal: pass --yes to answer yes to all"));
    }
    let prompt = Prompter { yes };
    let dir = tempfile::tempdir()
        .map_err(|e| Failure::new(1, format!("cannot create a temporary folder: {e}")))?;
    // The demo's key lives in memory only: the store dies with the demo.
    let client = ConsentClient::open(ClientConfig::new(
        dir.path(),
        context(),
        Arc::new(MemoryKeyProvider::default()),
    ))?;

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
            .map_err(|e| Failure::new(1, e.to_string()))?
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
        }
    } else {
        println!("nothing was allowed, so there is nothing to withdraw");
    }

    step("6. State (a pure fold over the ledger)");
    let state = client.state()?;
    print_state(&state, &catalog, client.pending_upload()?);

    step("7. The ledger and its proof");
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
        "verify: {} events chained, head {}; SQLCipher page HMACs ok",
        report.events,
        short(&report.head_hash)
    );
    let export = client.export()?;
    let checked = verify_export(export.as_bytes()).map_err(|e| Failure::new(5, e.to_string()))?;
    println!(
        "export: {} bytes of JSON, verified independently of the store: {} events",
        export.len(),
        checked.events
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
        return Err(Failure::new(1, "the database file holds plain text"));
    }
    println!();
    println!(
        "Sync to the backend is not part of this build yet: {} events wait in the outbox.",
        client.pending_upload()?
    );
    Ok(())
}
