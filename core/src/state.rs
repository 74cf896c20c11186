//! Consent state: a pure fold over the ledger. Nothing here reads storage or
//! the clock, so the same events give the same state on every platform.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ledger::{Decision, Event, EventKind, WithdrawalScope};
use crate::permissions::{may_use, OsStatus, PermissionCatalog, UserConsent};
use crate::policy::PolicyRef;
use crate::statement::StatementKind;
use crate::sync::wire::LegalHold;

/// Where the user stands with the policy. Only [`PolicyStatus::Accepted`]
/// lets the app past the policy screen ([`ConsentState::can_proceed`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum PolicyStatus {
    /// Nothing but the policy screen is usable (preamble, §11.1).
    NeverAccepted,
    /// The current version is accepted.
    Accepted {
        /// The accepted (and current) version.
        version: i32,
        /// Hash of the accepted text ([`PolicyRef::hash`]).
        hash: String,
        /// When it was accepted: UTC, RFC 3339 with milliseconds.
        at: String,
    },
    /// §10.2–10.3: a newer version needs the user's consent or objection.
    ReconsentRequired {
        /// The version the user accepted.
        from_version: i32,
        /// The current version, waiting for consent.
        to_version: i32,
    },
    /// §10.4: the user objected to the current version.
    Objected {
        /// The version objected to (the current one).
        version: i32,
        /// When: UTC, RFC 3339 with milliseconds.
        at: String,
    },
    /// §6.1.5: the user withdrew every consent.
    Withdrawn {
        /// When: UTC, RFC 3339 with milliseconds.
        at: String,
    },
}

/// One permission of the catalog as it stands: the user's consent, the OS
/// grant, and whether the app may use it now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PermissionState {
    /// Catalog id, e.g. `camera`.
    pub id: String,
    /// The user's last decision in the app.
    pub consent: UserConsent,
    /// What the shell last reported of the OS; `NotDetermined` if never.
    pub os_status: OsStatus,
    /// §2.4: true only with the user's consent AND the OS grant, while the
    /// policy is accepted and the consent covers the current purposes.
    pub may_use: bool,
    /// When the user last decided (or withdrew), if ever: UTC, RFC 3339
    /// with milliseconds.
    pub decided_at: Option<String>,
    /// The purposes the user's consent was given for.
    pub consented_purposes: Vec<String>,
    /// The catalog now names other purposes than the user consented to: the
    /// permission must be asked again before it is used.
    pub purposes_changed: bool,
    /// Whether the shell should show the in-app question for this permission.
    pub should_ask: bool,
}

/// §5.7: the user reported a compromise and access is blocked pending the
/// Company's review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct AccessBlock {
    /// When the first open report was made: UTC, RFC 3339 with milliseconds.
    pub since: String,
    /// The open reports (their event ids), oldest first.
    pub reports: Vec<String>,
}

/// Everything the app needs to decide what it may do, derived from the
/// ledger, the current policy and the catalog (see [`LedgerFold::state`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ConsentState {
    /// The installation whose ledger this is (a UUID): the store's own, or
    /// after a restore the restored installation's, which it continues.
    pub install_id: String,
    /// Whose consent it is: the linked account id, else the install id.
    pub subject: String,
    /// The policy version in force now (its authoritative Russian text).
    pub current_policy: PolicyRef,
    /// Where the user stands with the policy.
    pub policy: PolicyStatus,
    /// Whether the app may go past the policy screen: the policy is
    /// accepted and access is not blocked.
    pub can_proceed: bool,
    /// §5.7: access blocked pending the Company's review, after the user
    /// reported a compromise. While it is set, new grants are refused
    /// (withdrawals, refusals and objections stay possible), no permission
    /// may be used, and the app shows that access is blocked. Only a signed
    /// unblock decision from the Company, fetched by sync, lifts it.
    pub access_blocked: Option<AccessBlock>,
    /// §6.1.5 "except in cases established by the law": processing the
    /// Company continues on a legal basis after the last withdrawal, as its
    /// signed receipt of the withdrawal statement says. Shown beside the
    /// withdrawal; empty when none continues or no receipt came yet.
    pub legal_holds: Vec<LegalHold>,
    /// Every permission of the catalog, in catalog order.
    pub permissions: Vec<PermissionState>,
    /// Events in the ledger.
    pub events: i64,
    /// Hash of the last event, or 64 zeros for an empty ledger.
    pub head_hash: String,
    /// Which change of this client the state is after: it grows with every
    /// change (a decision, a new policy or catalog, a restore). Observers are
    /// told on the thread that made the change, so two changes made at once
    /// may be told out of order: a shell keeps the state with the highest
    /// revision and drops an older one. Revisions of one client only are
    /// comparable (another process or device counts its own); not part of
    /// the state's JSON.
    #[serde(skip)]
    pub revision: i64,
}

impl ConsentState {
    /// The state of the permission with catalog id `id`, if the catalog
    /// has it.
    pub fn permission(&self, id: &str) -> Option<&PermissionState> {
        self.permissions.iter().find(|p| p.id == id)
    }
}

/// The part of the state that depends only on the ledger: everything the
/// events say, before the current policy and catalog are applied. It is
/// built event by event, so the store can keep it beside the ledger and a
/// start does not have to read every event again. `verify` checks that the
/// kept copy equals a fold of the whole ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerFold {
    /// Sequence number of the last event applied.
    pub seq: u64,
    /// Hash of the last event applied.
    pub head_hash: String,
    accepted: Option<(PolicyRef, String)>,
    objected: Option<(PolicyRef, String)>,
    withdrawn_at: Option<String>,
    subject: Option<String>,
    permissions: BTreeMap<String, PermissionFold>,
    /// Open compromise reports (event ids) and when the first was made.
    #[serde(default)]
    blocked: Option<(String, Vec<String>)>,
    /// Withdrawal statements of this ledger (ids), to read their receipts.
    #[serde(default)]
    withdrawal_statements: std::collections::BTreeSet<String>,
    /// The continuing processing the last withdrawal receipt named.
    #[serde(default)]
    legal_holds: Vec<LegalHold>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct PermissionFold {
    /// The last decision: consent, when, for which purposes.
    consent: Option<(UserConsent, String, Vec<String>)>,
    os: Option<OsStatus>,
}

impl LedgerFold {
    pub(crate) fn new() -> Self {
        LedgerFold {
            head_hash: crate::ledger::GENESIS_HASH.into(),
            ..Default::default()
        }
    }

    /// The fold of a whole ledger.
    pub fn of(events: &[Event]) -> Self {
        let mut fold = LedgerFold::new();
        events.iter().for_each(|e| fold.apply(e));
        fold
    }

    /// Applies the next event.
    pub fn apply(&mut self, event: &Event) {
        self.seq = event.seq;
        self.head_hash = event.hash.clone();
        match &event.kind {
            EventKind::PolicyAccepted {
                age_confirmed: true,
                ..
            } => {
                self.accepted = Some((event.policy.clone(), event.at.clone()));
                self.objected = None;
                self.withdrawn_at = None;
            }
            // Never recorded by this library; a forged one grants nothing.
            EventKind::PolicyAccepted {
                age_confirmed: false,
                ..
            } => {}
            EventKind::PolicyObjected { .. } => {
                self.objected = Some((event.policy.clone(), event.at.clone()))
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
                self.permissions
                    .entry(permission.clone())
                    .or_default()
                    .consent = Some((consent, event.at.clone(), purposes.clone()));
            }
            EventKind::ConsentWithdrawn { scope } => {
                let withdraw = |p: &mut PermissionFold| {
                    if let Some((c @ UserConsent::Granted, at, _)) = &mut p.consent {
                        *c = UserConsent::Withdrawn;
                        *at = event.at.clone();
                    }
                };
                match scope {
                    WithdrawalScope::Permission(id) => {
                        withdraw(self.permissions.entry(id.clone()).or_default())
                    }
                    WithdrawalScope::Purpose(clause) => self
                        .permissions
                        .values_mut()
                        .filter(|p| {
                            p.consent
                                .as_ref()
                                .is_some_and(|(_, _, purposes)| purposes.contains(clause))
                        })
                        .for_each(withdraw),
                    WithdrawalScope::All => {
                        self.permissions.values_mut().for_each(withdraw);
                        self.accepted = None;
                        self.withdrawn_at = Some(event.at.clone());
                    }
                }
            }
            EventKind::OsStatusChanged { permission, status } => {
                self.permissions.entry(permission.clone()).or_default().os = Some(*status)
            }
            EventKind::AccountLinked { account_id } => self.subject = Some(account_id.clone()),
            // The loss is recorded; the consents restored before it stand.
            EventKind::StoreRecovered { .. } => {}
            EventKind::StatementIssued { statement, .. } => {
                if statement.kind == StatementKind::Withdrawal {
                    self.withdrawal_statements.insert(statement.id.to_string());
                }
            }
            EventKind::StatementDelivered { receipt } => {
                if self
                    .withdrawal_statements
                    .contains(&receipt.body.statement_id.to_string())
                {
                    self.legal_holds = receipt.body.continuing.clone();
                }
            }
            EventKind::CompromiseReported { .. } => {
                let (_, reports) = self
                    .blocked
                    .get_or_insert_with(|| (event.at.clone(), Vec::new()));
                reports.push(event.id.to_string());
            }
            EventKind::AccessRestored { decision } => {
                if let Some((_, reports)) = &mut self.blocked {
                    reports.retain(|r| !decision.body.reports.iter().any(|d| &d.to_string() == r));
                    if reports.is_empty() {
                        self.blocked = None;
                    }
                }
            }
        }
    }

    /// The open compromise reports (event ids), if access is blocked.
    pub fn open_reports(&self) -> Vec<String> {
        self.blocked
            .as_ref()
            .map(|(_, r)| r.clone())
            .unwrap_or_default()
    }

    /// Whether the OS status of `permission` was ever reported.
    pub fn os_status_reported(&self, permission: &str) -> bool {
        self.permissions
            .get(permission)
            .is_some_and(|p| p.os.is_some())
    }

    /// The state, given the policy in force now and the current catalog.
    pub fn state(
        &self,
        install_id: &str,
        current: &PolicyRef,
        catalog: &PermissionCatalog,
    ) -> ConsentState {
        let same_version = |r: &PolicyRef| r.id == current.id && r.version == current.version;
        let policy = match (&self.withdrawn_at, &self.objected, &self.accepted) {
            (Some(at), _, _) => PolicyStatus::Withdrawn { at: at.clone() },
            (None, Some((o, at)), _) if same_version(o) => PolicyStatus::Objected {
                version: o.version,
                at: at.clone(),
            },
            (None, _, Some((a, at))) if same_version(a) => PolicyStatus::Accepted {
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
        let access_blocked = self.blocked.as_ref().map(|(since, reports)| AccessBlock {
            since: since.clone(),
            reports: reports.clone(),
        });
        let can_proceed =
            matches!(policy, PolicyStatus::Accepted { .. }) && access_blocked.is_none();

        let permissions = catalog
            .permissions
            .iter()
            .map(|p| {
                let fold = self.permissions.get(&p.id).cloned().unwrap_or_default();
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
                    may_use: can_proceed
                        && !purposes_changed
                        && may_use(consent, os_status, p.limited_is_usable()),
                    decided_at,
                    consented_purposes,
                    purposes_changed,
                    // §2.4: a refusal is recorded and respected, never nagged.
                    should_ask: can_proceed
                        && (consent == UserConsent::NeverAsked || purposes_changed),
                }
            })
            .collect();

        ConsentState {
            install_id: install_id.to_string(),
            subject: self
                .subject
                .clone()
                .unwrap_or_else(|| install_id.to_string()),
            current_policy: current.clone(),
            policy,
            can_proceed,
            access_blocked,
            legal_holds: self.legal_holds.clone(),
            permissions,
            events: self.seq as i64,
            head_hash: self.head_hash.clone(),
            revision: 0,
        }
    }
}

/// Derives the state from the events, given the policy in force now and the
/// current catalog.
pub fn fold(
    events: &[Event],
    install_id: &str,
    current: &PolicyRef,
    catalog: &PermissionCatalog,
) -> ConsentState {
    LedgerFold::of(events).state(install_id, current, catalog)
}
