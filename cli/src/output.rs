//! How the terminal shows state, permissions and history.

use altyn_consent_core::ledger::{Decision, Event, EventKind, WithdrawalScope};
use altyn_consent_core::permissions::PermissionCatalog;
use altyn_consent_core::policy::PolicyDocument;
use altyn_consent_core::statement::StatementKind;
use altyn_consent_core::{describe_policy_status, ConsentState, PolicyStatus};

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub fn print_state(state: &ConsentState, catalog: &PermissionCatalog, pending: u64) {
    let p = &state.current_policy;
    println!(
        "Policy:       {} version {} (hash {})",
        p.id,
        p.version,
        short(&p.hash)
    );
    println!("Status:       {}", describe_policy_status(&state.policy));
    if let PolicyStatus::Accepted { at, .. } = &state.policy {
        println!("Accepted at:  {at}");
    }
    println!(
        "May proceed past the policy screen: {}",
        yes_no(state.can_proceed)
    );
    println!("Subject:      {}", state.subject);
    println!();
    println!(
        "{:<22} {:<12} {:<15} {:<8} purposes",
        "permission", "consent", "OS status", "may use"
    );
    for perm in &state.permissions {
        let purposes = catalog
            .get(&perm.id)
            .map(|p| p.purposes.join(", "))
            .unwrap_or_default();
        let mut note = String::new();
        if perm.purposes_changed {
            note.push_str("  (purposes changed: ask again)");
        }
        println!(
            "{:<22} {:<12} {:<15} {:<8} {purposes}{note}",
            perm.id,
            perm.consent.as_str(),
            perm.os_status.as_str(),
            yes_no(perm.may_use)
        );
    }
    println!();
    println!(
        "Ledger:       {} events, head {}; {} waiting for upload",
        state.events,
        short(&state.head_hash),
        pending
    );
}

pub fn print_permission(state: &ConsentState, id: &str) {
    if let Some(p) = state.permission(id) {
        println!(
            "{}: consent {}, OS {}, may use: {}",
            p.id,
            p.consent.as_str(),
            p.os_status.as_str(),
            yes_no(p.may_use)
        );
    }
}

pub fn print_catalog(catalog: &PermissionCatalog, policy: &PolicyDocument, locale: &str) {
    println!("Permission catalog version {}", catalog.version);
    for p in &catalog.permissions {
        println!();
        println!("{} — {}", p.id, p.title_in(locale));
        println!("  why:      {}", p.rationale_in(locale));
        for clause in &p.purposes {
            println!(
                "  purpose:  §{clause} {}",
                policy.clause_summary(clause).unwrap_or("")
            );
        }
        println!("  data:     {}", p.data_categories.join(", "));
        println!("  without:  {}", p.refusal_effect_in(locale));
        println!("  android:  {}", p.android.permissions.join(", "));
        let keys = if p.ios.usage_keys.is_empty() {
            "(no Info.plist key)".to_string()
        } else {
            p.ios.usage_keys.join(", ")
        };
        println!("  ios:      {keys} via {}", p.ios.api);
    }
}

pub fn describe_event(event: &Event) -> String {
    match &event.kind {
        EventKind::PolicyAccepted { locale, .. } => {
            format!(
                "accepted policy v{} ({locale}), 18+ confirmed",
                event.policy.version
            )
        }
        EventKind::PolicyObjected { locale } => {
            format!("objected to policy v{} ({locale})", event.policy.version)
        }
        EventKind::PolicyNoticeShown {
            locale,
            previous_version,
        } => match previous_version {
            Some(prev) => format!(
                "was shown the notice of policy v{} replacing v{prev} ({locale})",
                event.policy.version
            ),
            None => format!(
                "was shown the notice of policy v{} ({locale})",
                event.policy.version
            ),
        },
        EventKind::PermissionDecided {
            permission,
            decision,
            purposes,
        } => {
            let decision = match decision {
                Decision::Granted => "granted",
                Decision::Denied => "denied",
            };
            format!("{permission}: {decision} for §{}", purposes.join(", §"))
        }
        EventKind::ConsentWithdrawn {
            scope: WithdrawalScope::Permission(p),
        } => format!("{p}: consent withdrawn"),
        EventKind::ConsentWithdrawn {
            scope: WithdrawalScope::Purpose(clause),
        } => format!("consent for purpose §{clause} withdrawn"),
        EventKind::ConsentWithdrawn {
            scope: WithdrawalScope::All,
        } => "every consent withdrawn".into(),
        EventKind::StatementIssued { statement, .. } => format!(
            "written {} drawn up for {} (§{})",
            match statement.kind {
                StatementKind::Withdrawal => "withdrawal statement",
                StatementKind::Objection => "objection",
            },
            statement.controller.email,
            statement.kind.clause()
        ),
        EventKind::StatementDelivered { receipt } => {
            let holds = &receipt.body.continuing;
            if holds.is_empty() {
                format!(
                    "the Company received statement {} at {}",
                    short(&receipt.body.statement_id.to_string()),
                    receipt.body.received_at
                )
            } else {
                format!(
                    "the Company received statement {} at {}; {} processing(s) continue on a legal basis",
                    short(&receipt.body.statement_id.to_string()),
                    receipt.body.received_at,
                    holds.len()
                )
            }
        }
        EventKind::CompromiseReported { concern, .. } => format!(
            "reported {} (§5.7): access blocked pending the Company's review",
            concern.as_str().replace('_', " ")
        ),
        EventKind::AccessRestored { decision } => format!(
            "the Company restored access (decision {}, §5.7)",
            short(&decision.body.decision_id.to_string())
        ),
        EventKind::OsStatusChanged { permission, status } => {
            format!("{permission}: OS reports {status}")
        }
        EventKind::AccountLinked { .. } => "installation linked to an account".into(),
        EventKind::StoreRecovered {
            reason,
            server_head,
            ..
        } => match server_head {
            Some(head) => format!(
                "store recovered ({reason}); the server's copy up to #{} was restored",
                head.events
            ),
            None => format!("store recovered ({reason}); nothing could be restored"),
        },
    }
}

pub fn print_history(events: &[Event]) {
    if events.is_empty() {
        println!("no decisions recorded yet");
        return;
    }
    for e in events {
        println!(
            "#{:<4} {}  {}  [{}]",
            e.seq,
            e.at,
            describe_event(e),
            short(&e.hash)
        );
    }
}

/// The first 12 characters of a hash (whatever a tampered store holds).
pub fn short(hash: &str) -> &str {
    hash.char_indices()
        .nth(12)
        .map(|(i, _)| &hash[..i])
        .unwrap_or(hash)
}

pub fn print_sync_status(status: &altyn_consent_core::client::SyncStatus) {
    println!(
        "Sync:         {} acknowledged with {} signed receipt(s); {} waiting, {} parked",
        status.acknowledged, status.receipts, status.pending, status.parked
    );
    for parked in &status.parked_events {
        println!("  parked #{}: {}", parked.seq, parked.reason);
    }
}

/// The cheap integrity look and the quarantined files, for `status`.
pub fn print_integrity(
    glance: &altyn_consent_core::client::IntegrityGlance,
    quarantined: &[altyn_consent_core::store::Quarantined],
) {
    match &glance.problem {
        None => println!(
            "Integrity:    chain head, newest event and state agree (a quick look; `altyn-consent verify` checks the whole chain, the {} receipt(s) and every page)",
            glance.receipts
        ),
        Some(problem) => println!(
            "Integrity:    PROBLEM: {problem}. Run `altyn-consent verify` now"
        ),
    }
    for q in quarantined {
        let files: Vec<String> = q
            .files
            .iter()
            .map(|(name, size)| format!("{name} ({size} bytes)"))
            .collect();
        println!(
            "Quarantine:   {} (kept by an earlier recovery): {}",
            q.path.display(),
            files.join(", ")
        );
    }
}
