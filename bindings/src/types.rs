//! The records and enums the shells see: mirrors of the core's types, with
//! conversions only. Field docs are in the core.

use altyn_consent_core as core;
use core::policy::{render_document, render_section, RenderFormat};

/// The app and device, as the shell reports them (no personal data).
#[derive(Debug, Clone, uniffi::Record)]
pub struct AppInfo {
    /// `android`, `ios` or `desktop`.
    pub platform: String,
    pub app_version: String,
    pub os_version: String,
}

/// Where the store lives and what app writes to it.
#[derive(Debug, Clone, uniffi::Record)]
pub struct OpenConfig {
    /// App-private folder of the store (Android `noBackupFilesDir`, iOS
    /// Application Support).
    pub data_dir: String,
    pub app: AppInfo,
    /// The sync server's receipt keys (64 hex digits each), built into the
    /// app: `verify` checks every kept receipt against them.
    #[uniffi(default = [])]
    pub server_keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PolicyRef {
    pub id: String,
    pub version: u32,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PolicyStatus {
    NeverAccepted,
    Accepted {
        version: u32,
        hash: String,
        at: String,
    },
    ReconsentRequired {
        from_version: u32,
        to_version: u32,
    },
    Objected {
        version: u32,
        at: String,
    },
    Withdrawn {
        at: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum UserConsent {
    NeverAsked,
    Granted,
    Denied,
    Withdrawn,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum OsStatus {
    NotDetermined,
    Granted,
    Limited,
    Denied,
    Blocked,
    Unavailable,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PermissionState {
    pub id: String,
    pub consent: UserConsent,
    pub os_status: OsStatus,
    pub may_use: bool,
    pub decided_at: Option<String>,
    pub consented_purposes: Vec<String>,
    pub purposes_changed: bool,
    pub should_ask: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
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

/// One section of the policy, ready for a screen.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PolicySection {
    /// `"1"` to `"11"`.
    pub id: String,
    pub title: String,
    /// The section with every numbered clause, as Markdown.
    pub markdown: String,
    /// Ids of the clauses in it (`"2.4"`, `"6.1.3"`, ...).
    pub clause_ids: Vec<String>,
}

/// The policy text to show before acceptance. Accepting it means handing
/// back `reference.version`, `reference.hash` and `locale`.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PolicyText {
    pub reference: PolicyRef,
    pub locale: String,
    pub title: String,
    pub effective_date: String,
    /// The whole document as Markdown, every clause with its number.
    pub markdown: String,
    pub plain_text: String,
    pub sections: Vec<PolicySection>,
}

/// One device permission of the catalog, in the requested language.
#[derive(Debug, Clone, uniffi::Record)]
pub struct PermissionInfo {
    pub id: String,
    pub title: String,
    pub rationale: String,
    /// What refusing changes (§2.4).
    pub refusal_effect: String,
    /// Clause ids of §4.2 a consent is for.
    pub purposes: Vec<String>,
    pub data_categories: Vec<String>,
    pub clauses: Vec<String>,
    pub service_works_without: bool,
    /// Manifest permissions.
    pub android_permissions: Vec<String>,
    /// Info.plist usage-description keys.
    pub ios_usage_keys: Vec<String>,
    pub ios_api: String,
}

/// One ledger entry, for the history screen (§8.2).
#[derive(Debug, Clone, uniffi::Record)]
pub struct HistoryEntry {
    pub seq: u64,
    pub id: String,
    pub at: String,
    /// `policy_accepted`, `permission_decided`, ...
    pub kind: String,
    pub subject: String,
    pub policy_version: u32,
    /// The permission concerned, if any.
    pub permission: Option<String>,
    pub hash: String,
    /// The whole event as canonical JSON, as its hash covers it.
    pub json: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct VerifyReport {
    pub events: u64,
    pub head_hash: String,
    /// Signed receipts checked against the server keys and the ledger.
    pub receipts: u64,
    /// Events covered by a verified receipt.
    pub acknowledged: u64,
    /// Events waiting for upload.
    pub waiting: u64,
    pub file_integrity_ok: bool,
}

/// What `ConsentCore.recover` did.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RecoveryInfo {
    /// Why the old store could not be read: `StoreMissing`, `StoreDamaged`
    /// or `KeyLost`.
    pub reason: crate::FailureKind,
    pub lost_store_id: Option<String>,
    /// The folder that keeps the old files, if any were left.
    pub quarantine: Option<String>,
    pub restored_events: u64,
    /// The last event of the lost ledger the server held (its number).
    pub server_head_events: Option<u64>,
}

impl From<core::RecoveryReport> for RecoveryInfo {
    fn from(r: core::RecoveryReport) -> Self {
        RecoveryInfo {
            reason: r.reason.into(),
            lost_store_id: r.lost_store_id,
            quarantine: r.quarantine.map(|p| p.display().to_string()),
            restored_events: r.restored_events,
            server_head_events: r.server_head.map(|h| h.events),
        }
    }
}

/// How to reach and trust the backend. Keys are 64 hex digits.
#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncSettings {
    /// `https://...`; `http://` only to loopback (development).
    pub base_url: String,
    /// Keys whose signature on a receipt is trusted.
    pub server_keys: Vec<String>,
    /// Keys whose signature on a policy text is trusted.
    pub policy_keys: Vec<String>,
    /// An extra CA (PEM) to trust besides the web PKI roots (development).
    #[uniffi(default = None)]
    pub extra_ca_pem: Option<String>,
    /// SPKI pins (`sha256/...`); empty means no pinning.
    #[uniffi(default = [])]
    pub spki_pins: Vec<String>,
    #[uniffi(default = 20000)]
    pub request_timeout_ms: u64,
    /// Attempts per request within one pass.
    #[uniffi(default = 4)]
    pub max_attempts: u32,
    /// The pass ends cleanly this many milliseconds after it starts (set it
    /// a little under a BGTask's or JobScheduler job's remaining time): no
    /// request starts and no wait is taken past it; the report's stop kind
    /// is `Network` and what waits is for the next pass.
    #[uniffi(default = None)]
    pub deadline_ms: Option<u64>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncReport {
    pub sent: u64,
    pub acknowledged: u64,
    pub parked: u64,
    pub pending: u64,
    pub receipts: u64,
    /// Schedule the next pass this many seconds from now (WorkManager,
    /// BGTaskScheduler), if events still wait.
    pub next_retry_in_secs: Option<u64>,
    pub stopped_because: Option<String>,
    /// The kind of that stop: `Network` (try again at `next_retry_in_secs`)
    /// or `ServerRejected`.
    pub stop_kind: Option<crate::FailureKind>,
    pub policy_updated_to: Option<u32>,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ParkedEvent {
    pub seq: u64,
    pub event_id: String,
    pub reason: String,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct SyncStatus {
    pub pending: u64,
    pub parked: u64,
    pub parked_events: Vec<ParkedEvent>,
    pub acknowledged: u64,
    pub receipts: u64,
}

/// A signed receipt: the server's proof that it holds these events.
#[derive(Debug, Clone, uniffi::Record)]
pub struct ReceiptInfo {
    pub key_id: String,
    pub received_at: String,
    pub subject: String,
    pub acknowledged_seqs: Vec<u64>,
    pub head_events: u64,
    pub head_hash: String,
    pub signature: String,
    /// The receipt as the server signed it, for an audit.
    pub json: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

#[derive(Debug, Clone, uniffi::Record)]
pub struct ClauseChange {
    pub id: String,
    pub kind: ChangeKind,
    pub old_text: Option<String>,
    pub new_text: Option<String>,
}

/// What changed between the accepted version and the current one (§10.2).
#[derive(Debug, Clone, uniffi::Record)]
pub struct PolicyChanges {
    pub from_version: u32,
    pub to_version: u32,
    pub changes: Vec<ClauseChange>,
    /// The changes as text, words marked `[-deleted-]{+inserted+}`.
    pub text: String,
}

impl From<AppInfo> for core::AppContext {
    fn from(a: AppInfo) -> Self {
        core::AppContext::new(&a.platform, &a.app_version, &a.os_version)
    }
}

impl From<core::policy::PolicyRef> for PolicyRef {
    fn from(r: core::policy::PolicyRef) -> Self {
        PolicyRef {
            id: r.id,
            version: r.version,
            hash: r.hash,
        }
    }
}

impl From<core::PolicyStatus> for PolicyStatus {
    fn from(s: core::PolicyStatus) -> Self {
        use core::PolicyStatus as S;
        match s {
            S::NeverAccepted => PolicyStatus::NeverAccepted,
            S::Accepted { version, hash, at } => PolicyStatus::Accepted { version, hash, at },
            S::ReconsentRequired {
                from_version,
                to_version,
            } => PolicyStatus::ReconsentRequired {
                from_version,
                to_version,
            },
            S::Objected { version, at } => PolicyStatus::Objected { version, at },
            S::Withdrawn { at } => PolicyStatus::Withdrawn { at },
        }
    }
}

impl From<core::UserConsent> for UserConsent {
    fn from(c: core::UserConsent) -> Self {
        match c {
            core::UserConsent::NeverAsked => UserConsent::NeverAsked,
            core::UserConsent::Granted => UserConsent::Granted,
            core::UserConsent::Denied => UserConsent::Denied,
            core::UserConsent::Withdrawn => UserConsent::Withdrawn,
        }
    }
}

impl From<core::OsStatus> for OsStatus {
    fn from(s: core::OsStatus) -> Self {
        match s {
            core::OsStatus::NotDetermined => OsStatus::NotDetermined,
            core::OsStatus::Granted => OsStatus::Granted,
            core::OsStatus::Limited => OsStatus::Limited,
            core::OsStatus::Denied => OsStatus::Denied,
            core::OsStatus::Blocked => OsStatus::Blocked,
            core::OsStatus::Unavailable => OsStatus::Unavailable,
        }
    }
}

impl From<OsStatus> for core::OsStatus {
    fn from(s: OsStatus) -> Self {
        match s {
            OsStatus::NotDetermined => core::OsStatus::NotDetermined,
            OsStatus::Granted => core::OsStatus::Granted,
            OsStatus::Limited => core::OsStatus::Limited,
            OsStatus::Denied => core::OsStatus::Denied,
            OsStatus::Blocked => core::OsStatus::Blocked,
            OsStatus::Unavailable => core::OsStatus::Unavailable,
        }
    }
}

impl From<core::ConsentState> for ConsentState {
    fn from(s: core::ConsentState) -> Self {
        ConsentState {
            install_id: s.install_id,
            subject: s.subject,
            current_policy: s.current_policy.into(),
            policy: s.policy.into(),
            can_proceed: s.can_proceed,
            permissions: s
                .permissions
                .into_iter()
                .map(|p| PermissionState {
                    id: p.id,
                    consent: p.consent.into(),
                    os_status: p.os_status.into(),
                    may_use: p.may_use,
                    decided_at: p.decided_at,
                    consented_purposes: p.consented_purposes,
                    purposes_changed: p.purposes_changed,
                    should_ask: p.should_ask,
                })
                .collect(),
            events: s.events,
            head_hash: s.head_hash,
        }
    }
}

impl PolicyText {
    pub(crate) fn of(doc: &core::policy::PolicyDocument) -> Self {
        let sections = doc
            .sections
            .iter()
            .map(|s| PolicySection {
                id: s.id.clone(),
                title: s.title.clone(),
                markdown: render_section(doc, &s.id, RenderFormat::Markdown)
                    .expect("a section of the document renders"),
                clause_ids: s.clauses.iter().map(|c| c.id.clone()).collect(),
            })
            .collect();
        PolicyText {
            reference: doc.reference().into(),
            locale: doc.locale.clone(),
            title: doc.title.clone(),
            effective_date: doc.effective_date.clone(),
            markdown: render_document(doc, RenderFormat::Markdown),
            plain_text: render_document(doc, RenderFormat::PlainText),
            sections,
        }
    }
}

impl PermissionInfo {
    pub(crate) fn of(p: &core::permissions::Permission, locale: &str) -> Self {
        PermissionInfo {
            id: p.id.clone(),
            title: p.title_in(locale).to_string(),
            rationale: p.rationale_in(locale).to_string(),
            refusal_effect: p.refusal_effect_in(locale).to_string(),
            purposes: p.purposes.clone(),
            data_categories: p.data_categories.clone(),
            clauses: p.clauses.clone(),
            service_works_without: p.service_works_without,
            android_permissions: p.android.permissions.clone(),
            ios_usage_keys: p.ios.usage_keys.clone(),
            ios_api: p.ios.api.clone(),
        }
    }
}

impl From<core::Event> for HistoryEntry {
    fn from(e: core::Event) -> Self {
        use core::ledger::WithdrawalScope;
        use core::EventKind as K;
        let permission = match &e.kind {
            K::PermissionDecided { permission, .. } | K::OsStatusChanged { permission, .. } => {
                Some(permission.clone())
            }
            K::ConsentWithdrawn {
                scope: WithdrawalScope::Permission(p),
            } => Some(p.clone()),
            _ => None,
        };
        let json = canonical_string(&e);
        HistoryEntry {
            seq: e.seq,
            id: e.id.to_string(),
            at: e.at,
            kind: e.kind.name().to_string(),
            subject: e.subject,
            policy_version: e.policy.version,
            permission,
            hash: e.hash,
            json,
        }
    }
}

impl From<core::VerifyReport> for VerifyReport {
    fn from(r: core::VerifyReport) -> Self {
        VerifyReport {
            events: r.events,
            head_hash: r.head_hash,
            receipts: r.receipts,
            acknowledged: r.acknowledged,
            waiting: r.waiting,
            file_integrity_ok: r.file_integrity_ok,
        }
    }
}

impl From<core::sync::SyncReport> for SyncReport {
    fn from(r: core::sync::SyncReport) -> Self {
        SyncReport {
            sent: r.sent,
            acknowledged: r.acknowledged,
            parked: r.parked,
            pending: r.pending,
            receipts: r.receipts,
            next_retry_in_secs: r.next_retry_in_secs,
            stopped_because: r.stopped_because(),
            stop_kind: r.stop_kind().map(Into::into),
            policy_updated_to: r.policy_updated_to,
        }
    }
}

impl From<core::client::SyncStatus> for SyncStatus {
    fn from(s: core::client::SyncStatus) -> Self {
        SyncStatus {
            pending: s.pending,
            parked: s.parked,
            parked_events: s
                .parked_events
                .into_iter()
                .map(|p| ParkedEvent {
                    seq: p.seq,
                    event_id: p.event_id,
                    reason: p.reason,
                })
                .collect(),
            acknowledged: s.acknowledged,
            receipts: s.receipts,
        }
    }
}

impl From<core::sync::wire::Receipt> for ReceiptInfo {
    fn from(r: core::sync::wire::Receipt) -> Self {
        let json = canonical_string(&r);
        ReceiptInfo {
            key_id: r.body.key_id,
            received_at: r.body.received_at,
            subject: r.body.subject,
            acknowledged_seqs: r.body.acknowledged.iter().map(|a| a.seq).collect(),
            head_events: r.body.head.events,
            head_hash: r.body.head.hash,
            signature: r.signature,
            json,
        }
    }
}

impl From<core::policy::diff::PolicyDiff> for PolicyChanges {
    fn from(d: core::policy::diff::PolicyDiff) -> Self {
        use core::policy::diff::ChangeKind as K;
        let text = d.to_text();
        PolicyChanges {
            from_version: d.from_version,
            to_version: d.to_version,
            changes: d
                .changes
                .into_iter()
                .map(|c| ClauseChange {
                    id: c.id,
                    kind: match c.kind {
                        K::Added => ChangeKind::Added,
                        K::Removed => ChangeKind::Removed,
                        K::Changed => ChangeKind::Changed,
                    },
                    old_text: c.old_text,
                    new_text: c.new_text,
                })
                .collect(),
            text,
        }
    }
}

fn canonical_string<T: serde::Serialize>(value: &T) -> String {
    let bytes = core::canonical::to_canonical_json(value).expect("ledger records serialise");
    String::from_utf8(bytes).expect("JSON is UTF-8")
}

/// One request of the sync protocol, for the app's own HTTP stack.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpRequest {
    /// `GET` or `POST`.
    pub method: String,
    pub url: String,
    /// Lower-case names; `authorization` carries the token: never log it.
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpHeader {
    pub name: String,
    pub value: String,
}

/// The server's answer, whatever its status.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<HttpHeader>,
    pub body: Vec<u8>,
}
