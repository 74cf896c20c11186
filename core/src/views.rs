//! What a screen shows, built from the core's own records: the policy text
//! ready to display, a permission of the catalog in one language, a ledger
//! entry for the history screen, a signed receipt for an audit. With the
//! `ffi` feature these are the records the Kotlin and Swift shells receive;
//! the terminal shell uses the same ones, so every platform shows the same.

use crate::canonical::to_canonical_json;
use crate::ledger::{Event, EventKind, WithdrawalScope};
use crate::permissions::Permission;
use crate::policy::{render_document, render_section, PolicyDocument, PolicyRef, RenderFormat};
use crate::sync::wire::Receipt;

/// One section of the policy, ready for a screen.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PolicySection {
    /// `"1"` to `"11"`.
    pub id: String,
    /// The section's heading.
    pub title: String,
    /// The section with every numbered clause, as Markdown.
    pub markdown: String,
    /// Ids of the clauses in it (`"2.4"`, `"6.1.3"`, ...).
    pub clause_ids: Vec<String>,
}

/// The policy text to show before acceptance. Accepting it means handing
/// back `reference.version`, `reference.hash` and `locale`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PolicyText {
    /// Which text this is: what an acceptance names.
    pub reference: PolicyRef,
    /// BCP 47 language tag of the text (`ru`).
    pub locale: String,
    /// The document's title.
    pub title: String,
    /// The date the version takes effect, `YYYY-MM-DD`.
    pub effective_date: String,
    /// The whole document as Markdown, every clause with its number.
    pub markdown: String,
    /// The whole document as plain text, every clause with its number.
    pub plain_text: String,
    /// The sections, for a screen that shows one at a time.
    pub sections: Vec<PolicySection>,
}

impl PolicyText {
    /// The document, rendered for display.
    pub fn of(doc: &PolicyDocument) -> Self {
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
            reference: doc.reference(),
            locale: doc.locale.clone(),
            title: doc.title.clone(),
            effective_date: doc.effective_date.clone(),
            markdown: render_document(doc, RenderFormat::Markdown),
            plain_text: render_document(doc, RenderFormat::PlainText),
            sections,
        }
    }
}

/// One device permission of the catalog, in the requested language.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PermissionInfo {
    /// `camera`, `location`, ...
    pub id: String,
    /// The permission's name for the user.
    pub title: String,
    /// Why the app asks, in the policy's words.
    pub rationale: String,
    /// What refusing changes (§2.4).
    pub refusal_effect: String,
    /// Clause ids of §4.2 a consent is for.
    pub purposes: Vec<String>,
    /// Data categories of §2.3 the permission gives access to.
    pub data_categories: Vec<String>,
    /// Every clause the permission rests on.
    pub clauses: Vec<String>,
    /// Whether the service works without it.
    pub service_works_without: bool,
    /// Manifest permissions: what the app declares.
    pub android_permissions: Vec<String>,
    /// The runtime permissions and the API levels where each is requested,
    /// in order: on one level the first that exists decides, a `partial`
    /// one granted alone is [`OsStatus::Limited`](crate::permissions::OsStatus::Limited)
    /// ([`AndroidNames::runtime_on`](crate::permissions::AndroidNames::runtime_on)).
    pub android_runtime: Vec<crate::permissions::AndroidRuntime>,
    /// Whether the settings' notification switch decides too.
    pub android_settings_switch: bool,
    /// Hardware features, any of which makes it available; empty: always.
    pub android_features: Vec<String>,
    /// Info.plist usage-description keys.
    pub ios_usage_keys: Vec<String>,
    /// The iOS API that asks and answers, its first word one of
    /// [`IOS_APIS`](crate::permissions::IOS_APIS) (`AVCaptureDevice`,
    /// `CLLocationManager (full accuracy)`, ...).
    pub ios_api: String,
    /// Whether it needs CoreLocation's full accuracy: without it the grant
    /// is partial.
    pub ios_full_accuracy: bool,
    /// Whether a partial grant lets the app use it (selected photos do;
    /// approximate location is not precise).
    pub limited_usable: bool,
    /// What a partial grant is on each platform, for developers (English),
    /// if the catalog says.
    pub limited_means: Option<String>,
    /// Whether Google Play lets a personal-loan app request it (its
    /// Financial Services policy forbids contacts, photos and media, and
    /// precise location). The Android shell does not request one it
    /// forbids unless the app overrides that deliberately.
    pub google_play_allows_for_lending: bool,
    /// The store's rule in words, for developers (English), if the catalog
    /// states it.
    pub store_note: Option<String>,
}

impl PermissionInfo {
    /// The catalog entry in `locale` (falling back as the catalog does).
    pub fn of(p: &Permission, locale: &str) -> Self {
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
            android_runtime: p.android.runtime_table(),
            android_settings_switch: p.android.settings_switch,
            android_features: p.android.features.clone(),
            ios_usage_keys: p.ios.usage_keys.clone(),
            ios_api: p.ios.api.clone(),
            ios_full_accuracy: p.ios.full_accuracy,
            limited_usable: p.limited_is_usable(),
            limited_means: p.limited.as_ref().map(|l| l.means.clone()),
            google_play_allows_for_lending: p.google_play_allows_for_lending(),
            store_note: p.store_policy.as_ref().map(|s| s.note.clone()),
        }
    }
}

/// One ledger entry, for the history screen (§8.2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct HistoryEntry {
    /// The event's number in the ledger, from 1.
    pub seq: i64,
    /// The event's id (UUID v7).
    pub id: String,
    /// UTC time of the decision (RFC 3339).
    pub at: String,
    /// `policy_accepted`, `permission_decided`, ...
    pub kind: String,
    /// Who decided: the installation, or the account it is linked to.
    pub subject: String,
    /// The policy version in force.
    pub policy_version: i32,
    /// The permission concerned, if any.
    pub permission: Option<String>,
    /// The event's hash (hex): the chain's link.
    pub hash: String,
    /// The whole event as canonical JSON, as its hash covers it.
    pub json: String,
}

impl From<&Event> for HistoryEntry {
    fn from(e: &Event) -> Self {
        let permission = match &e.kind {
            EventKind::PermissionDecided { permission, .. }
            | EventKind::OsStatusChanged { permission, .. } => Some(permission.clone()),
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::Permission(p),
            } => Some(p.clone()),
            EventKind::PolicyAccepted { .. }
            | EventKind::PolicyObjected { .. }
            | EventKind::PolicyNoticeShown { .. }
            | EventKind::ConsentWithdrawn { .. }
            | EventKind::AccountLinked { .. }
            | EventKind::StoreRecovered { .. }
            | EventKind::StatementIssued { .. }
            | EventKind::StatementDelivered { .. }
            | EventKind::CompromiseReported { .. }
            | EventKind::AccessRestored { .. } => None,
        };
        HistoryEntry {
            seq: e.seq as i64,
            id: e.id.to_string(),
            at: e.at.clone(),
            kind: e.kind.name().to_string(),
            subject: e.subject.clone(),
            policy_version: e.policy.version,
            permission,
            hash: e.hash.clone(),
            json: canonical_string(e),
        }
    }
}

/// A signed receipt: the server's proof that it holds these events.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ReceiptInfo {
    /// Which server key signed (first 16 hex digits of its SHA-256).
    pub key_id: String,
    /// Server time of the acknowledgement.
    pub received_at: String,
    /// Whose events these are.
    pub subject: String,
    /// The numbers of the events it acknowledges.
    pub acknowledged_seqs: Vec<i64>,
    /// The server's copy of the chain ends at this event...
    pub head_events: i64,
    /// ...with this hash.
    pub head_hash: String,
    /// Base64 Ed25519 signature.
    pub signature: String,
    /// The receipt as the server signed it, for an audit.
    pub json: String,
}

impl From<&Receipt> for ReceiptInfo {
    fn from(r: &Receipt) -> Self {
        ReceiptInfo {
            key_id: r.body.key_id.clone(),
            received_at: r.body.received_at.clone(),
            subject: r.body.subject.clone(),
            acknowledged_seqs: r.body.acknowledged.iter().map(|a| a.seq as i64).collect(),
            head_events: r.body.head.events as i64,
            head_hash: r.body.head.hash.clone(),
            signature: r.signature.clone(),
            json: canonical_string(r),
        }
    }
}

fn canonical_string<T: serde::Serialize>(value: &T) -> String {
    let bytes = to_canonical_json(value).expect("ledger records serialise");
    String::from_utf8(bytes).expect("canonical JSON is UTF-8")
}
