//! Consent state: a pure fold over the ledger. Nothing here reads storage or
//! the clock, so the same events give the same state on every platform.

use serde::Serialize;

use crate::ledger::{Decision, Event, EventKind, WithdrawalScope};
use crate::permissions::{may_use, OsStatus, PermissionCatalog, UserConsent};
use crate::policy::PolicyRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum PolicyStatus {
    /// Nothing but the policy screen is usable (preamble, §11.1).
    NeverAccepted,
    /// The current version is accepted.
    Accepted {
        version: u32,
        hash: String,
        at: String,
    },
    /// §10.2–10.3: a newer version needs the user's consent or objection.
    ReconsentRequired { from_version: u32, to_version: u32 },
    /// §10.4: the user objected to the current version.
    Objected { version: u32, at: String },
    /// §6.1.5: the user withdrew every consent.
    Withdrawn { at: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PermissionState {
    pub id: String,
    pub consent: UserConsent,
    pub os_status: OsStatus,
    /// §2.4: true only with the user's consent AND the OS grant, while the
    /// policy is accepted and the consent covers the current purposes.
    pub may_use: bool,
    /// When the user last decided, if ever.
    pub decided_at: Option<String>,
    /// The purposes the user's consent was given for.
    pub consented_purposes: Vec<String>,
    /// The catalog now names other purposes than the user consented to: the
    /// permission must be asked again before it is used.
    pub purposes_changed: bool,
    /// Whether the shell should show the in-app question for this permission.
    pub should_ask: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsentState {
    pub install_id: String,
    pub subject: String,
    pub current_policy: PolicyRef,
    pub policy: PolicyStatus,
    /// Whether the app may go past the policy screen.
    pub can_proceed: bool,
    pub permissions: Vec<PermissionState>,
    pub events: u64,
    pub head_hash: String,
}

impl ConsentState {
    pub fn permission(&self, id: &str) -> Option<&PermissionState> {
        self.permissions.iter().find(|p| p.id == id)
    }
}

#[derive(Default, Clone)]
struct PermissionFold {
    consent: Option<(UserConsent, String, Vec<String>)>,
    os: Option<OsStatus>,
}

/// Derives the state from the events, given the policy in force now and the
/// current catalog.
pub fn fold(
    events: &[Event],
    install_id: &str,
    current: &PolicyRef,
    catalog: &PermissionCatalog,
) -> ConsentState {
    let mut accepted: Option<(PolicyRef, String)> = None;
    let mut objected: Option<(PolicyRef, String)> = None;
    let mut withdrawn_at: Option<String> = None;
    let mut subject = install_id.to_string();
    let mut perms: std::collections::HashMap<&str, PermissionFold> =
        std::collections::HashMap::new();

    for event in events {
        match &event.kind {
            EventKind::PolicyAccepted {
                age_confirmed: true,
                ..
            } => {
                accepted = Some((event.policy.clone(), event.at.clone()));
                objected = None;
                withdrawn_at = None;
            }
            // Never recorded by this library; a forged one grants nothing.
            EventKind::PolicyAccepted {
                age_confirmed: false,
                ..
            } => {}
            EventKind::PolicyObjected { .. } => {
                objected = Some((event.policy.clone(), event.at.clone()))
            }
            EventKind::PolicyNoticeShown { .. } => {}
            EventKind::PermissionDecided {
                permission,
                decision,
                purposes,
            } => {
                let consent = match decision {
                    Decision::Granted => UserConsent::Granted,
                    Decision::Denied => UserConsent::Denied,
                };
                perms.entry(permission).or_default().consent =
                    Some((consent, event.at.clone(), purposes.clone()));
            }
            EventKind::ConsentWithdrawn { scope } => {
                let withdraw = |p: &mut PermissionFold| {
                    if let Some((c @ UserConsent::Granted, at, _)) = &mut p.consent {
                        *c = UserConsent::Withdrawn;
                        *at = event.at.clone();
                    }
                };
                match scope {
                    WithdrawalScope::Permission(id) => withdraw(perms.entry(id).or_default()),
                    WithdrawalScope::All => {
                        perms.values_mut().for_each(withdraw);
                        accepted = None;
                        withdrawn_at = Some(event.at.clone());
                    }
                }
            }
            EventKind::OsStatusChanged { permission, status } => {
                perms.entry(permission).or_default().os = Some(*status)
            }
            EventKind::AccountLinked { account_id } => subject = account_id.clone(),
        }
    }

    let policy = match (&withdrawn_at, &objected, &accepted) {
        (Some(at), _, _) => PolicyStatus::Withdrawn { at: at.clone() },
        (None, Some((o, at)), _) if o.hash == current.hash => PolicyStatus::Objected {
            version: o.version,
            at: at.clone(),
        },
        (None, _, Some((a, at))) if a.hash == current.hash => PolicyStatus::Accepted {
            version: a.version,
            hash: a.hash.clone(),
            at: at.clone(),
        },
        (None, _, Some((a, _))) => PolicyStatus::ReconsentRequired {
            from_version: a.version,
            to_version: current.version,
        },
        (None, _, None) => PolicyStatus::NeverAccepted,
    };
    let can_proceed = matches!(policy, PolicyStatus::Accepted { .. });

    let permissions = catalog
        .permissions
        .iter()
        .map(|p| {
            let fold = perms.get(p.id.as_str()).cloned().unwrap_or_default();
            let (consent, decided_at, consented_purposes) = match fold.consent {
                Some((c, at, purposes)) => (c, Some(at), purposes),
                None => (UserConsent::NeverAsked, None, Vec::new()),
            };
            let os_status = fold.os.unwrap_or(OsStatus::NotDetermined);
            let purposes_changed =
                consent == UserConsent::Granted && consented_purposes != p.purposes;
            PermissionState {
                id: p.id.clone(),
                consent,
                os_status,
                may_use: can_proceed && !purposes_changed && may_use(consent, os_status),
                decided_at,
                consented_purposes,
                purposes_changed,
                // §2.4: a refusal is recorded and respected, never nagged.
                should_ask: can_proceed && (consent == UserConsent::NeverAsked || purposes_changed),
            }
        })
        .collect();

    ConsentState {
        install_id: install_id.to_string(),
        subject,
        current_policy: current.clone(),
        policy,
        can_proceed,
        permissions,
        events: events.len() as u64,
        head_hash: events
            .last()
            .map(|e| e.hash.clone())
            .unwrap_or_else(|| crate::ledger::GENESIS_HASH.into()),
    }
}
