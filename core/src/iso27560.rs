//! The ledger as consent records in the structure of ISO/IEC TS 27560:2023
//! ("Privacy technologies — Consent record information structure") and the
//! Kantara Initiative Consent Receipt Specification v1.1.
//!
//! [`build`] is pure: it reads the events, the kept receipts, the policy
//! texts they refer to (by hash) and the permission catalog, and returns a
//! [`ConsentRecordSet`]. One [`ConsentRecord`] stands for each consent the
//! ledger holds: every acceptance of the policy (with its 18+ attestation),
//! every objection made while no consent to the policy stood, and every
//! decision on a permission. Later events that touch a consent (a withdrawal, an
//! objection, a notice of a new version, an OS status change, an account
//! link, a store recovery, a newer decision that replaces it) are entries of
//! its status history, each citing the ledger event (id, number, hash) and
//! the signed receipts that acknowledge it. Events that touch no consent are
//! listed apart ([`ConsentRecordSet::other_events`]), so every event of the
//! ledger appears in the set.
//!
//! A record's status follows [`crate::state`]'s fold: a withdrawal of
//! everything ends the policy's consent and every granted permission's; a
//! refusal is not withdrawn; the objection of §10.4 does not end the
//! permission consents (the fold keeps them, and the app uses none while
//! the policy is objected to); an acceptance clears an objection.
//!
//! Field names follow Kantara's (`piiPrincipalId`, `piiControllers`,
//! `purposes`, `piiCategory`, `consentType`, `collectionMethod`,
//! `jurisdiction`, `consentTimestamp`) and otherwise ISO/IEC TS 27560's
//! elements in camelCase; the JSON Schema at [`SCHEMA_PATH`] names the
//! standard element each field maps to.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ledger::{ChainHead, Decision, Event, EventKind, WithdrawalScope};
use crate::permissions::{OsStatus, Permission, PermissionCatalog};
use crate::policy::{Block, PolicyDocument, PolicyRef, FALLBACK_LOCALE};
use crate::proof::HASH_RULE;
use crate::sync::wire::Receipt;

/// `schemaVersion` of a record set this build writes.
pub const SCHEMA_VERSION: &str = "altyn-consent/iso-27560/1";
/// Where the JSON Schema (draft 2020-12) that every record set this build
/// writes validates against is kept, from the repository's root (not built
/// into the library: apps do not need it).
pub const SCHEMA_PATH: &str = "core/schema/iso-27560-consent-records.schema.json";
/// The standards the structure follows (`conformsTo`).
pub const CONFORMS_TO: [&str; 2] = [
    "ISO/IEC TS 27560:2023",
    "Kantara Initiative Consent Receipt Specification v1.1",
];
/// The section whose clauses are the purposes of processing (§4.2); a
/// permission's purposes are clause ids under it.
pub const PURPOSES_CLAUSE: &str = "4.2";
/// The clause whose list names the categories of personal data (§2.3).
pub const DATA_CATEGORIES_CLAUSE: &str = "2.3";
/// §4.1: the controller collects, processes and stores personal data.
pub const PROCESSING_CLAUSE: &str = "4.1";
/// §6.1.5: the user's right to withdraw consent.
pub const WITHDRAWAL_CLAUSE: &str = "6.1.5";
/// §10.4: the user's objection to a changed policy.
pub const OBJECTION_CLAUSE: &str = "10.4";
/// §11.1: the service is not for users under 18 (with the preamble's
/// attestation).
pub const AGE_CLAUSE: &str = "11.1";

/// The legal ground of every consent the app records: consent of the
/// subject under Kazakhstan's personal data law. Data, in one place.
pub fn kazakhstan_consent_basis() -> LawfulBasis {
    LawfulBasis {
        basis: "consent".into(),
        jurisdiction: "KZ".into(),
        law: "Закон Республики Казахстан от 21 мая 2013 года № 94-V «О персональных данных и их защите»".into(),
        law_en: "Law of the Republic of Kazakhstan of 21 May 2013 No. 94-V \"On personal data and their protection\"".into(),
        articles: vec![
            LawArticle {
                article: "7".into(),
                title: "Collection and processing of personal data (with the consent of the subject or their legal representative)".into(),
            },
            LawArticle {
                article: "8".into(),
                title: "Procedure for giving (withdrawing) the subject's consent to the collection and processing of personal data".into(),
            },
        ],
        policy_clauses: Vec::new(),
    }
}

/// The words by which a policy text names the law; the clauses that contain
/// them are cited with the lawful basis.
const LAW_TITLE_IN_POLICY: &str = "О персональных данных и их защите";

/// A whole ledger as consent records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRecordSet {
    /// [`SCHEMA_VERSION`] (ISO/IEC TS 27560 "schema version").
    pub schema_version: String,
    /// [`CONFORMS_TO`].
    pub conforms_to: Vec<String>,
    /// When the set was made: UTC, RFC 3339 with milliseconds.
    pub generated_at: String,
    /// The installation whose ledger this is.
    pub install_id: String,
    /// Whose consents these are now: the last linked account id, else the
    /// install id (Kantara `piiPrincipalId`).
    pub pii_principal_id: String,
    /// The ledger's end as the store recorded it.
    pub ledger_head: ChainHead,
    /// How to recompute an event's hash and check a receipt
    /// ([`crate::proof::HASH_RULE`]).
    pub hash_rule: String,
    /// One record per consent, in the order the consents were given.
    pub records: Vec<ConsentRecord>,
    /// Events that touch no consent record (e.g. an OS status of a
    /// permission never decided in the app).
    pub other_events: Vec<OtherEvent>,
    /// The server's signed receipts, verbatim (their signatures cover
    /// these bytes' canonical form), oldest first; history entries point
    /// into this list.
    pub signed_receipts: Vec<Receipt>,
}

/// One consent: to the policy, or to one permission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConsentRecord {
    /// The id of the ledger event that gave (or refused) the consent.
    pub record_id: Uuid,
    /// What the consent is to.
    pub scope: ConsentScope,
    /// The permission, for a permission's consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<DeviceFunction>,
    /// Who consented: the subject of the event that gave it.
    pub pii_principal_id: String,
    /// The controller, from the policy text.
    pub pii_controllers: Vec<PiiController>,
    /// The notice the consent was given under.
    pub notice: Notice,
    /// BCP 47 tag of the text the user read.
    pub language: String,
    /// ISO 3166-1 alpha-2 code of the governing law's state.
    pub jurisdiction: String,
    /// The legal ground of the processing.
    pub lawful_basis: LawfulBasis,
    /// How the consent was expressed: always `explicit` here.
    pub consent_type: ConsentType,
    /// The purposes, as clauses of §4.2 with their text.
    pub purposes: Vec<Purpose>,
    /// The categories of personal data (§2.3); `piiCategory` in JSON, as
    /// Kantara names it.
    #[serde(rename = "piiCategory")]
    pub pii_categories: Vec<PiiCategory>,
    /// What the consent allows to be done.
    pub processing: Processing,
    /// How and where the consent was collected.
    pub collection_method: CollectionMethod,
    /// The 18+ attestation, for the policy's consent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_attestation: Option<AgeAttestation>,
    /// How the user withdraws it.
    pub withdrawal_method: WithdrawalMethod,
    /// When it was given (or refused): UTC, RFC 3339 with milliseconds.
    pub consent_timestamp: String,
    /// Where it stands now.
    pub status: RecordStatus,
    /// When it took that status.
    pub status_timestamp: String,
    /// The record that replaced this one, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<Uuid>,
    /// Every event that touched it, oldest first; the first gave it.
    pub history: Vec<HistoryEntry>,
}

/// What a consent is to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentScope {
    /// The privacy policy as a whole (preamble, §10.3).
    Policy,
    /// One device function (§2.4, §6.1.3).
    Permission,
}

/// The status of a consent record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    /// Given and in force.
    Given,
    /// Refused (a permission denied in the app).
    Refused,
    /// §10.4: the user objected to the policy version.
    Objected,
    /// §6.1.5: withdrawn.
    Withdrawn,
    /// Replaced by a newer decision on the same thing
    /// ([`ConsentRecord::superseded_by`]).
    Superseded,
}

/// What one history entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryType {
    /// The consent was given.
    Given,
    /// The consent was refused.
    Refused,
    /// §10.4: an objection to a version of the policy.
    Objected,
    /// §6.1.5: a withdrawal.
    Withdrawn,
    /// A newer decision replaced this one.
    Superseded,
    /// §10.2: the notice of a new version was shown.
    NoticeShown,
    /// The OS grant of the permission changed.
    OsStatusChanged,
    /// The installation was linked to an account.
    AccountLinked,
    /// The store was recovered after a loss; the consent stands.
    StoreRecovered,
    /// §6.1.5, §10.4: the written statement of the withdrawal or objection
    /// was drawn up (its hash is in the ledger).
    StatementIssued,
    /// The Company's signed receipt of delivery of that statement, with the
    /// processing that continues on a legal basis.
    StatementDelivered,
}

/// How a consent was expressed (Kantara `consentType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentType {
    /// An explicit act of the user in the app.
    Explicit,
}

/// A permission of the catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeviceFunction {
    /// Catalog id, e.g. `camera`.
    pub id: String,
    /// Its Russian name, if the catalog in force still lists it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Android manifest permissions.
    pub android_permissions: Vec<String>,
    /// iOS Info.plist usage-description keys.
    pub ios_usage_keys: Vec<String>,
    /// Whether the service works when it is refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_works_without: Option<bool>,
}

/// The controller (ISO/IEC TS 27560 party with role PII controller).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PiiController {
    /// Its name as the policy's preamble gives it.
    pub pii_controller: String,
    /// Always `pii_controller`.
    pub role: String,
    /// The contact e-mail the policy gives, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Where in the policy text the name and the e-mail were found
    /// (`preamble`, clause ids).
    pub source_clauses: Vec<String>,
    /// Hash of the policy text they were read from.
    pub source_policy_hash: String,
}

/// The notice a consent was given under: a policy text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Notice {
    /// Policy id.
    pub policy_id: String,
    /// Version.
    pub version: i32,
    /// SHA-256 of the canonical text.
    pub hash: String,
    /// Title of the text.
    pub title: String,
    /// Date the version takes effect, `YYYY-MM-DD`.
    pub effective_date: String,
}

/// The legal ground of the processing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LawfulBasis {
    /// Always `consent`.
    pub basis: String,
    /// ISO 3166-1 alpha-2 code.
    pub jurisdiction: String,
    /// The law, in Russian.
    pub law: String,
    /// The law, in English.
    pub law_en: String,
    /// Its articles on consent.
    pub articles: Vec<LawArticle>,
    /// The policy's clauses that name the law.
    pub policy_clauses: Vec<String>,
}

/// An article of a law.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LawArticle {
    /// Its number.
    pub article: String,
    /// Its subject, in English.
    pub title: String,
}

/// A purpose of processing: a clause of §4.2.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Purpose {
    /// The clause id, e.g. `4.2.5`.
    pub purpose_id: String,
    /// The clause's first paragraph, if the notice has the clause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
}

/// A category of personal data (§2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PiiCategory {
    /// Stable id, e.g. `selfie_photo`.
    pub category_id: String,
    /// The policy's words for it, if the notice names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The clause whose list names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clause_id: Option<String>,
}

/// What a consent allows to be done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Processing {
    /// In words (English).
    pub description: String,
    /// The policy clauses that describe it.
    pub clauses: Vec<String>,
}

/// How and where a consent was collected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CollectionMethod {
    /// Always `in_app_explicit`: the user's own act on an app screen.
    pub method: String,
    /// `android`, `ios` or `desktop`.
    pub platform: String,
    /// The app's version.
    pub app_version: String,
    /// The operating system's version.
    pub os_version: String,
    /// This library's version.
    pub core_version: String,
}

/// The 18+ attestation of a policy acceptance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgeAttestation {
    /// The user confirmed being 18 or older.
    pub age_confirmed: bool,
    /// Where the policy requires it (`preamble`, `11.1`).
    pub clauses: Vec<String>,
}

/// How a consent is withdrawn.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WithdrawalMethod {
    /// In words (English).
    pub description: String,
    /// The policy clauses that give the right.
    pub clauses: Vec<String>,
}

/// One event in a record's status history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HistoryEntry {
    /// What happened.
    pub entry_type: EntryType,
    /// The record's status after it.
    pub status: RecordStatus,
    /// When: the event's time.
    pub at: String,
    /// The ledger event.
    pub ledger_event: LedgerEventRef,
    /// The OS status reported, for `os_status_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_status: Option<OsStatus>,
    /// The account id linked, for `account_linked`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    /// `permission` or `all`, for a withdrawal.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub withdrawal_scope: Option<String>,
    /// The version accepted before, for a notice of a newer one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_version: Option<i32>,
    /// The record that replaced this one, for `superseded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub superseded_by: Option<Uuid>,
    /// Why the store was recovered, for `store_recovered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery_reason: Option<String>,
    /// The statement's id, for `statement_issued` and `statement_delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_id: Option<Uuid>,
    /// The statement's hash, for `statement_issued` and `statement_delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statement_hash: Option<String>,
    /// When the Company received the statement, for `statement_delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// Processing that continues on a legal basis despite the withdrawal
    /// (§6.1.5), for `statement_delivered`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuing_processing: Option<Vec<ContinuingProcessing>>,
    /// BCP 47 tag of the text shown, for events that name one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    /// The signed receipts that acknowledge the event.
    pub receipts: Vec<ReceiptCoverage>,
}

/// Processing the Company continues on a legal basis after a withdrawal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContinuingProcessing {
    /// The data categories (§2.3 ids) still processed.
    pub pii_categories: Vec<String>,
    /// The legal basis, in the Company's words.
    pub lawful_basis: String,
    /// Until when (`YYYY-MM-DD`), if the basis ends.
    pub until: Option<String>,
}

/// An event that touches no consent record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OtherEvent {
    /// The ledger event.
    pub ledger_event: LedgerEventRef,
    /// When.
    pub at: String,
    /// Why it belongs to no record, in words.
    pub reason: String,
    /// The signed receipts that acknowledge it.
    pub receipts: Vec<ReceiptCoverage>,
}

/// A ledger event, by its identity in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LedgerEventRef {
    /// The event's id (UUIDv7).
    pub id: Uuid,
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
    /// Its kind (`policy_accepted`, ...).
    pub kind: String,
    /// The subject it was recorded for.
    pub subject: String,
    /// The policy version in force when it was recorded.
    pub policy: PolicyRef,
}

/// A signed receipt that acknowledges an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReceiptCoverage {
    /// 0-based position in [`ConsentRecordSet::signed_receipts`].
    pub receipt_index: usize,
    /// The server key that signed it.
    pub key_id: String,
    /// The server's time of the acknowledgement.
    pub received_at: String,
    /// Base64 Ed25519 signature over the receipt's body.
    pub signature: String,
}

/// What [`build`] reads.
pub struct Sources<'a> {
    /// When the set is made (UTC, RFC 3339).
    pub generated_at: String,
    /// The installation.
    pub install_id: &'a str,
    /// Whose consents they are now.
    pub subject: &'a str,
    /// The ledger's end as the store recorded it.
    pub head: ChainHead,
    /// The whole ledger, oldest first.
    pub events: &'a [Event],
    /// The kept receipts, oldest first.
    pub receipts: &'a [Receipt],
    /// Every policy text the events refer to (more are ignored).
    pub policies: &'a [PolicyDocument],
    /// The permission catalog in force (data categories, names).
    pub catalog: &'a PermissionCatalog,
}

/// An event refers to a policy text that was not given to [`build`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event #{seq} refers to policy {policy_id} v{version} with hash {hash}, and no such text is held")]
pub struct MissingPolicyText {
    /// The event's sequence number.
    pub seq: u64,
    /// The policy id it names.
    pub policy_id: String,
    /// The version it names.
    pub version: i32,
    /// The hash it names.
    pub hash: String,
}

/// The controller named by a policy text: the company the preamble
/// introduces ("Компания ТОО «…» (далее — Компания)") and the first e-mail
/// address its clauses give (§10.4, §11.6). `None` if the preamble does not
/// introduce the company in that form. Until the core has an accessor for
/// this, this is where it is read.
pub fn controller_from_policy(doc: &PolicyDocument) -> Option<PiiController> {
    let name = doc.preamble.iter().find_map(|block| match block {
        Block::Paragraph { text } => company_name(text),
        Block::List { .. } => None,
    })?;
    let mut email: Option<String> = None;
    let mut sources = vec!["preamble".to_string()];
    for clause in doc.clauses() {
        for text in block_texts(&clause.blocks) {
            for address in emails_in(text) {
                if email.is_none() {
                    email = Some(address.clone());
                }
                if email.as_deref() == Some(address.as_str()) && !sources.contains(&clause.id) {
                    sources.push(clause.id.clone());
                }
            }
        }
    }
    Some(PiiController {
        pii_controller: name,
        role: "pii_controller".into(),
        email,
        source_clauses: sources,
        source_policy_hash: doc.hash(),
    })
}

/// "Компания ТОО «…» (далее — Компания), …" → "ТОО «…»".
fn company_name(text: &str) -> Option<String> {
    let end = text.find("(далее")?;
    let before = text[..end].trim();
    let name = before.strip_prefix("Компания").unwrap_or(before).trim();
    (!name.is_empty()).then(|| name.to_string())
}

fn block_texts(blocks: &[Block]) -> Vec<&str> {
    let mut out = Vec::new();
    for block in blocks {
        match block {
            Block::Paragraph { text } => out.push(text.as_str()),
            Block::List { items } => out.extend(items.iter().map(|i| i.text.as_str())),
        }
    }
    out
}

/// The e-mail addresses in a text, in order.
fn emails_in(text: &str) -> Vec<String> {
    text.split(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '(' | ')' | '<' | '>'))
        .map(|word| word.trim_matches(|c: char| !c.is_ascii_alphanumeric()))
        .filter(|word| {
            let mut parts = word.split('@');
            match (parts.next(), parts.next(), parts.next()) {
                (Some(local), Some(domain), None) => {
                    !local.is_empty()
                        && domain.contains('.')
                        && word.is_ascii()
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                _ => false,
            }
        })
        .map(str::to_string)
        .collect()
}

/// Builds the record set. Fails only when an event refers to a policy text
/// that `sources.policies` lacks.
pub fn build(sources: &Sources<'_>) -> Result<ConsentRecordSet, MissingPolicyText> {
    Builder::new(sources).run()
}

struct Builder<'a> {
    sources: &'a Sources<'a>,
    texts: HashMap<String, &'a PolicyDocument>,
    receipts_by_seq: BTreeMap<u64, Vec<usize>>,
    records: Vec<ConsentRecord>,
    other: Vec<OtherEvent>,
    /// Index in `records` of the newest policy record.
    policy_record: Option<usize>,
    /// Index in `records` of the newest record of each permission.
    permission_records: BTreeMap<String, usize>,
}

impl<'a> Builder<'a> {
    fn new(sources: &'a Sources<'a>) -> Self {
        let texts = sources.policies.iter().map(|d| (d.hash(), d)).collect();
        let mut receipts_by_seq: BTreeMap<u64, Vec<usize>> = BTreeMap::new();
        for (index, receipt) in sources.receipts.iter().enumerate() {
            for ack in &receipt.body.acknowledged {
                let matches = sources
                    .events
                    .get((ack.seq as usize).wrapping_sub(1))
                    .is_some_and(|e| e.seq == ack.seq && e.id == ack.id && e.hash == ack.hash);
                let list = receipts_by_seq.entry(ack.seq).or_default();
                if matches && !list.contains(&index) {
                    list.push(index);
                }
            }
        }
        Builder {
            sources,
            texts,
            receipts_by_seq,
            records: Vec::new(),
            other: Vec::new(),
            policy_record: None,
            permission_records: BTreeMap::new(),
        }
    }

    fn run(mut self) -> Result<ConsentRecordSet, MissingPolicyText> {
        for event in self.sources.events {
            self.apply(event)?;
        }
        Ok(ConsentRecordSet {
            schema_version: SCHEMA_VERSION.into(),
            conforms_to: CONFORMS_TO.iter().map(|s| s.to_string()).collect(),
            generated_at: self.sources.generated_at.clone(),
            install_id: self.sources.install_id.to_string(),
            pii_principal_id: self.sources.subject.to_string(),
            ledger_head: self.sources.head.clone(),
            hash_rule: HASH_RULE.into(),
            records: self.records,
            other_events: self.other,
            signed_receipts: self.sources.receipts.to_vec(),
        })
    }

    fn text(&self, event: &Event) -> Result<&'a PolicyDocument, MissingPolicyText> {
        self.texts
            .get(&event.policy.hash)
            .copied()
            .ok_or_else(|| MissingPolicyText {
                seq: event.seq,
                policy_id: event.policy.id.clone(),
                version: event.policy.version,
                hash: event.policy.hash.clone(),
            })
    }

    fn apply(&mut self, event: &Event) -> Result<(), MissingPolicyText> {
        // Every kind is mapped here: a new kind must be given a place.
        match &event.kind {
            EventKind::PolicyAccepted {
                locale,
                age_confirmed: true,
            } => {
                let superseding = self.open_policy_record(&[RecordStatus::Given, RecordStatus::Objected]);
                let record = self.policy_record_for(event, locale, EntryType::Given)?;
                let id = record.record_id;
                if let Some(index) = superseding {
                    self.supersede(index, event, id);
                }
                self.records.push(record);
                self.policy_record = Some(self.records.len() - 1);
            }
            EventKind::PolicyAccepted {
                age_confirmed: false,
                ..
            } => self.other(
                event,
                "an acceptance without the 18+ attestation grants nothing (never recorded by this library)",
            ),
            EventKind::PolicyObjected { locale } => {
                match self.policy_record {
                    Some(index)
                        if matches!(
                            self.records[index].status,
                            RecordStatus::Given | RecordStatus::Objected
                        ) =>
                    {
                        let mut entry = self.entry(event, EntryType::Objected, RecordStatus::Objected);
                        entry.locale = Some(locale.clone());
                        self.push(index, entry);
                    }
                    // After a withdrawal of everything the fold keeps the
                    // policy withdrawn: the objection is noted, the status stays.
                    Some(index) if self.records[index].status == RecordStatus::Withdrawn => {
                        let mut entry =
                            self.entry(event, EntryType::Objected, RecordStatus::Withdrawn);
                        entry.locale = Some(locale.clone());
                        self.push(index, entry);
                    }
                    // An objection to a version never accepted: a refusal of
                    // the policy's consent, with a record of its own.
                    _ => {
                        let record = self.policy_record_for(event, locale, EntryType::Objected)?;
                        self.records.push(record);
                        self.policy_record = Some(self.records.len() - 1);
                    }
                }
            }
            EventKind::PolicyNoticeShown {
                locale,
                previous_version,
            } => match self.open_policy_record(&[RecordStatus::Given, RecordStatus::Objected]) {
                Some(index) => {
                    let status = self.records[index].status;
                    let mut entry = self.entry(event, EntryType::NoticeShown, status);
                    entry.locale = Some(locale.clone());
                    entry.previous_version = *previous_version;
                    self.push(index, entry);
                }
                None => self.other(event, "a notice shown while no consent to the policy stood"),
            },
            EventKind::PermissionDecided {
                permission,
                decision,
                purposes,
            } => {
                let superseding = self
                    .permission_records
                    .get(permission)
                    .copied()
                    .filter(|&i| {
                        matches!(
                            self.records[i].status,
                            RecordStatus::Given | RecordStatus::Refused
                        )
                    });
                let record = self.permission_record_for(event, permission, *decision, purposes)?;
                let id = record.record_id;
                if let Some(index) = superseding {
                    self.supersede(index, event, id);
                }
                self.records.push(record);
                self.permission_records
                    .insert(permission.clone(), self.records.len() - 1);
            }
            EventKind::ConsentWithdrawn { scope } => {
                let mut touched = false;
                let targets: Vec<usize> = match scope {
                    WithdrawalScope::Permission(id) => {
                        self.permission_records.get(id).copied().into_iter().collect()
                    }
                    WithdrawalScope::Purpose(clause) => self
                        .permission_records
                        .values()
                        .copied()
                        .filter(|&i| {
                            self.records[i]
                                .purposes
                                .iter()
                                .any(|p| &p.purpose_id == clause)
                        })
                        .collect(),
                    WithdrawalScope::All => self
                        .permission_records
                        .values()
                        .copied()
                        .chain(self.policy_record)
                        .collect(),
                };
                let scope_name = match scope {
                    WithdrawalScope::Permission(_) => "permission",
                    WithdrawalScope::Purpose(_) => "purpose",
                    WithdrawalScope::All => "all",
                };
                for index in targets {
                    let withdrawable = match self.records[index].scope {
                        // The fold withdraws a granted permission only.
                        ConsentScope::Permission => self.records[index].status == RecordStatus::Given,
                        // Withdrawing everything ends the policy's consent,
                        // objected or not.
                        ConsentScope::Policy => matches!(
                            self.records[index].status,
                            RecordStatus::Given | RecordStatus::Objected
                        ),
                    };
                    if withdrawable {
                        let mut entry =
                            self.entry(event, EntryType::Withdrawn, RecordStatus::Withdrawn);
                        entry.withdrawal_scope = Some(scope_name.into());
                        self.push(index, entry);
                        touched = true;
                    }
                }
                if !touched {
                    self.other(event, "a withdrawal that found no consent given to withdraw");
                }
            }
            EventKind::OsStatusChanged { permission, status } => {
                match self.permission_records.get(permission).copied() {
                    Some(index) => {
                        let current = self.records[index].status;
                        let mut entry = self.entry(event, EntryType::OsStatusChanged, current);
                        entry.os_status = Some(*status);
                        self.push(index, entry);
                    }
                    None => self.other(
                        event,
                        "an OS status of a permission never decided in the app",
                    ),
                }
            }
            EventKind::AccountLinked { account_id } => {
                let open = self.open_records();
                if open.is_empty() {
                    self.other(event, "an account linked while no consent was recorded");
                }
                for index in open {
                    let current = self.records[index].status;
                    let mut entry = self.entry(event, EntryType::AccountLinked, current);
                    entry.account_id = Some(account_id.clone());
                    self.push(index, entry);
                }
            }
            EventKind::StatementIssued {
                statement,
                statement_hash,
            } => {
                // The records whose history holds the decision it states.
                let decided: Vec<Uuid> = statement.events.iter().map(|e| e.id).collect();
                let targets = self.records_with(|h| decided.contains(&h.ledger_event.id));
                if targets.is_empty() {
                    self.other(event, "a written statement of a decision that touched no record");
                }
                for index in targets {
                    let current = self.records[index].status;
                    let mut entry = self.entry(event, EntryType::StatementIssued, current);
                    entry.statement_id = Some(statement.id);
                    entry.statement_hash = Some(statement_hash.clone());
                    self.push(index, entry);
                }
            }
            EventKind::StatementDelivered { receipt } => {
                let id = receipt.body.statement_id;
                let targets = self.records_with(|h| {
                    h.entry_type == EntryType::StatementIssued && h.statement_id == Some(id)
                });
                if targets.is_empty() {
                    self.other(event, "a receipt of delivery of a statement no record holds");
                }
                for index in targets {
                    let current = self.records[index].status;
                    let mut entry = self.entry(event, EntryType::StatementDelivered, current);
                    entry.statement_id = Some(id);
                    entry.statement_hash = Some(receipt.body.statement_hash.clone());
                    entry.delivered_at = Some(receipt.body.received_at.clone());
                    entry.continuing_processing = Some(
                        receipt
                            .body
                            .continuing
                            .iter()
                            .map(|h| ContinuingProcessing {
                                pii_categories: h.categories.clone(),
                                lawful_basis: h.basis.clone(),
                                until: h.until.clone(),
                            })
                            .collect(),
                    );
                    self.push(index, entry);
                }
            }
            EventKind::CompromiseReported { .. } => self.other(
                event,
                "§5.7: the user reported unauthorised access or a breach; access blocked pending the Company's review (consents unchanged)",
            ),
            EventKind::AccessRestored { .. } => self.other(
                event,
                "§5.7: the Company restored access by a signed decision (consents unchanged)",
            ),
            EventKind::StoreRecovered { reason, .. } => {
                let open = self.open_records();
                if open.is_empty() {
                    self.other(event, "a store recovery while no consent was recorded");
                }
                for index in open {
                    let current = self.records[index].status;
                    let mut entry = self.entry(event, EntryType::StoreRecovered, current);
                    entry.recovery_reason = Some(reason.clone());
                    self.push(index, entry);
                }
            }
        }
        Ok(())
    }

    /// The records whose history holds an entry `matching`.
    fn records_with(&self, matching: impl Fn(&HistoryEntry) -> bool) -> Vec<usize> {
        (0..self.records.len())
            .filter(|&i| self.records[i].history.iter().any(&matching))
            .collect()
    }

    /// The newest policy record, if its status is one of `statuses`.
    fn open_policy_record(&self, statuses: &[RecordStatus]) -> Option<usize> {
        self.policy_record
            .filter(|&i| statuses.contains(&self.records[i].status))
    }

    /// The newest record of the policy and of each permission.
    fn open_records(&self) -> Vec<usize> {
        let mut open: Vec<usize> = self
            .policy_record
            .into_iter()
            .chain(self.permission_records.values().copied())
            .collect();
        open.sort_unstable();
        open
    }

    fn supersede(&mut self, index: usize, event: &Event, by: Uuid) {
        let mut entry = self.entry(event, EntryType::Superseded, RecordStatus::Superseded);
        entry.superseded_by = Some(by);
        self.records[index].superseded_by = Some(by);
        self.push(index, entry);
    }

    fn push(&mut self, index: usize, entry: HistoryEntry) {
        let record = &mut self.records[index];
        if entry.status != record.status {
            record.status = entry.status;
            record.status_timestamp = entry.at.clone();
        }
        record.history.push(entry);
    }

    fn other(&mut self, event: &Event, reason: &str) {
        self.other.push(OtherEvent {
            ledger_event: ledger_ref(event),
            at: event.at.clone(),
            reason: reason.into(),
            receipts: self.coverage(event.seq),
        });
    }

    fn coverage(&self, seq: u64) -> Vec<ReceiptCoverage> {
        self.receipts_by_seq
            .get(&seq)
            .map(|indices| {
                indices
                    .iter()
                    .map(|&i| {
                        let r = &self.sources.receipts[i];
                        ReceiptCoverage {
                            receipt_index: i,
                            key_id: r.body.key_id.clone(),
                            received_at: r.body.received_at.clone(),
                            signature: r.signature.clone(),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn entry(&self, event: &Event, entry_type: EntryType, status: RecordStatus) -> HistoryEntry {
        HistoryEntry {
            entry_type,
            status,
            at: event.at.clone(),
            ledger_event: ledger_ref(event),
            os_status: None,
            account_id: None,
            withdrawal_scope: None,
            previous_version: None,
            superseded_by: None,
            recovery_reason: None,
            statement_id: None,
            statement_hash: None,
            delivered_at: None,
            continuing_processing: None,
            locale: None,
            receipts: self.coverage(event.seq),
        }
    }

    /// The controller from the event's text, else from the authoritative
    /// (Russian) text of the same version, else from any text of the policy.
    fn controllers(&self, doc: &PolicyDocument) -> Vec<PiiController> {
        let same_policy = |d: &&PolicyDocument| d.id == doc.id;
        std::iter::once(doc)
            .chain(self.sources.policies.iter().filter(|d| {
                same_policy(d) && d.version == doc.version && d.locale == FALLBACK_LOCALE
            }))
            .chain(self.sources.policies.iter().filter(same_policy))
            .find_map(controller_from_policy)
            .into_iter()
            .collect()
    }

    fn base_record(
        &self,
        event: &Event,
        doc: &PolicyDocument,
        scope: ConsentScope,
        language: &str,
        first: HistoryEntry,
    ) -> ConsentRecord {
        let mut lawful_basis = kazakhstan_consent_basis();
        lawful_basis.policy_clauses = doc
            .clauses()
            .filter(|c| {
                block_texts(&c.blocks)
                    .iter()
                    .any(|t| t.contains(LAW_TITLE_IN_POLICY))
            })
            .map(|c| c.id.clone())
            .collect();
        ConsentRecord {
            record_id: event.id,
            scope,
            permission: None,
            pii_principal_id: event.subject.clone(),
            pii_controllers: self.controllers(doc),
            notice: Notice {
                policy_id: event.policy.id.clone(),
                version: event.policy.version,
                hash: event.policy.hash.clone(),
                title: doc.title.clone(),
                effective_date: doc.effective_date.clone(),
            },
            language: language.to_string(),
            jurisdiction: lawful_basis.jurisdiction.clone(),
            lawful_basis,
            consent_type: ConsentType::Explicit,
            purposes: Vec::new(),
            pii_categories: Vec::new(),
            processing: Processing {
                description: String::new(),
                clauses: Vec::new(),
            },
            collection_method: CollectionMethod {
                method: "in_app_explicit".into(),
                platform: event.context.platform.clone(),
                app_version: event.context.app_version.clone(),
                os_version: event.context.os_version.clone(),
                core_version: event.context.core_version.clone(),
            },
            age_attestation: None,
            withdrawal_method: WithdrawalMethod {
                description: String::new(),
                clauses: vec![WITHDRAWAL_CLAUSE.into()],
            },
            consent_timestamp: event.at.clone(),
            status: first.status,
            status_timestamp: event.at.clone(),
            superseded_by: None,
            history: vec![first],
        }
    }

    fn policy_record_for(
        &self,
        event: &Event,
        locale: &str,
        first: EntryType,
    ) -> Result<ConsentRecord, MissingPolicyText> {
        let doc = self.text(event)?;
        let status = match first {
            EntryType::Objected => RecordStatus::Objected,
            _ => RecordStatus::Given,
        };
        let mut entry = self.entry(event, first, status);
        entry.locale = Some(locale.to_string());
        let mut record = self.base_record(event, doc, ConsentScope::Policy, locale, entry);
        let prefix = format!("{PURPOSES_CLAUSE}.");
        record.purposes = doc
            .clauses()
            .filter(|c| {
                c.id.strip_prefix(&prefix)
                    .is_some_and(|rest| !rest.contains('.'))
            })
            .map(|c| purpose(doc, &c.id))
            .collect();
        record.pii_categories = doc
            .data_categories()
            .into_iter()
            .map(|c| PiiCategory {
                category_id: c.id,
                category: Some(c.text),
                clause_id: Some(c.clause_id),
            })
            .collect();
        record.processing = Processing {
            description: format!(
                "Collection, processing and storage by the controller of the personal data of §{DATA_CATEGORIES_CLAUSE} for the purposes of §{PURPOSES_CLAUSE}, as §{PROCESSING_CLAUSE} states"
            ),
            clauses: [PROCESSING_CLAUSE, PURPOSES_CLAUSE]
                .into_iter()
                .filter(|id| doc.clause(id).is_some())
                .map(str::to_string)
                .collect(),
        };
        record.age_attestation = match &event.kind {
            EventKind::PolicyAccepted { age_confirmed, .. } => Some(AgeAttestation {
                age_confirmed: *age_confirmed,
                clauses: vec!["preamble".into(), AGE_CLAUSE.into()],
            }),
            _ => None,
        };
        record.withdrawal_method = WithdrawalMethod {
            description: format!(
                "Withdraw every consent in the app (\"withdraw all\"), or in writing to the controller (§{WITHDRAWAL_CLAUSE}); object to a changed policy by e-mail to the controller (§{OBJECTION_CLAUSE})"
            ),
            clauses: vec![WITHDRAWAL_CLAUSE.into(), OBJECTION_CLAUSE.into()],
        };
        Ok(record)
    }

    fn permission_record_for(
        &self,
        event: &Event,
        permission: &str,
        decision: Decision,
        purposes: &[String],
    ) -> Result<ConsentRecord, MissingPolicyText> {
        let doc = self.text(event)?;
        let (entry_type, status) = match decision {
            Decision::Granted => (EntryType::Given, RecordStatus::Given),
            Decision::Denied => (EntryType::Refused, RecordStatus::Refused),
        };
        let entry = self.entry(event, entry_type, status);
        let mut record = self.base_record(event, doc, ConsentScope::Permission, &doc.locale, entry);
        let listed: Option<&Permission> = self
            .sources
            .catalog
            .permissions
            .iter()
            .find(|p| p.id == permission);
        record.permission = Some(DeviceFunction {
            id: permission.to_string(),
            title: listed.and_then(|p| p.title.get(FALLBACK_LOCALE).cloned()),
            android_permissions: listed
                .map(|p| p.android.permissions.clone())
                .unwrap_or_default(),
            ios_usage_keys: listed.map(|p| p.ios.usage_keys.clone()).unwrap_or_default(),
            service_works_without: listed.map(|p| p.service_works_without),
        });
        record.purposes = purposes.iter().map(|id| purpose(doc, id)).collect();
        let categories = doc.data_categories();
        record.pii_categories = listed
            .map(|p| p.data_categories.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|id| {
                let named = categories.iter().find(|c| &c.id == id);
                PiiCategory {
                    category_id: id.clone(),
                    category: named.map(|c| c.text.clone()),
                    clause_id: named.map(|c| c.clause_id.clone()),
                }
            })
            .collect();
        let clauses = listed
            .map(|p| p.clauses.clone())
            .unwrap_or_else(|| vec!["2.4".into(), "6.1.3".into()]);
        record.processing = Processing {
            description: format!(
                "Use of the device function `{permission}` to collect the listed categories of personal data for the listed purposes, only while the user allows it in the app and the operating system grants it (§2.4)"
            ),
            clauses,
        };
        record.withdrawal_method = WithdrawalMethod {
            description: format!(
                "Withdraw this permission in the app, at once, or every consent at once; or in writing to the controller (§{WITHDRAWAL_CLAUSE})"
            ),
            clauses: vec![WITHDRAWAL_CLAUSE.into()],
        };
        Ok(record)
    }
}

fn purpose(doc: &PolicyDocument, id: &str) -> Purpose {
    Purpose {
        purpose_id: id.to_string(),
        purpose: doc.clause_summary(id).map(str::to_string),
    }
}

fn ledger_ref(event: &Event) -> LedgerEventRef {
    LedgerEventRef {
        id: event.id,
        seq: event.seq,
        hash: event.hash.clone(),
        kind: event.kind.name().to_string(),
        subject: event.subject.clone(),
        policy: event.policy.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::{AppContext, GENESIS_HASH};

    /// A chain of `kinds`, recorded under the bundled policy.
    fn chain(kinds: Vec<EventKind>) -> Vec<Event> {
        let policy = PolicyDocument::bundled().reference();
        let mut prev = GENESIS_HASH.to_string();
        kinds
            .into_iter()
            .enumerate()
            .map(|(i, kind)| {
                let mut e = Event {
                    id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 + i as u128),
                    seq: i as u64 + 1,
                    at: format!("2026-11-24T09:00:{:02}.000Z", i),
                    install_id: "install".into(),
                    subject: "install".into(),
                    policy: policy.clone(),
                    context: AppContext::new("android", "2.4.1", "Android 14"),
                    kind,
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    fn records_of(events: &[Event]) -> ConsentRecordSet {
        let policies = [PolicyDocument::bundled()];
        let catalog = PermissionCatalog::bundled();
        build(&Sources {
            generated_at: "2026-11-24T10:00:00.000Z".into(),
            install_id: "install",
            subject: "install",
            head: ChainHead {
                events: events.len() as u64,
                hash: events.last().map(|e| e.hash.clone()).unwrap_or_default(),
            },
            events,
            receipts: &[],
            policies: &policies,
            catalog: &catalog,
        })
        .unwrap()
    }

    #[test]
    fn the_controller_is_read_from_the_policy_text() {
        let controller = controller_from_policy(&PolicyDocument::bundled()).unwrap();
        assert_eq!(controller.pii_controller, "ТОО «МФО «PROcredit»");
        assert_eq!(
            controller.email.as_deref(),
            Some("info-procredit@prozaimy.kz")
        );
        assert_eq!(controller.source_clauses[0], "preamble");
        assert_eq!(
            emails_in("напишите на a.b@example.kz, или (c@d.org)."),
            ["a.b@example.kz", "c@d.org"]
        );
        assert!(emails_in("@ и a@b и x@y.").is_empty());
    }

    #[test]
    fn a_recovery_is_noted_and_the_consents_stand() {
        let events = chain(vec![
            EventKind::PolicyAccepted {
                locale: "ru".into(),
                age_confirmed: true,
            },
            EventKind::PermissionDecided {
                permission: "camera".into(),
                decision: Decision::Granted,
                purposes: vec!["4.2.1".into(), "4.2.6".into()],
            },
            EventKind::StoreRecovered {
                lost_store_id: None,
                reason: "key_lost".into(),
                quarantine: None,
                server_head: None,
            },
            // Forged: a fold ignores it, and so do the records.
            EventKind::PolicyAccepted {
                locale: "ru".into(),
                age_confirmed: false,
            },
        ]);
        let set = records_of(&events);
        assert_eq!(set.records.len(), 2);
        for record in &set.records {
            assert_eq!(record.status, RecordStatus::Given);
            let last = record.history.last().unwrap();
            assert_eq!(last.entry_type, EntryType::StoreRecovered);
            assert_eq!(last.recovery_reason.as_deref(), Some("key_lost"));
            assert_eq!(record.collection_method.platform, "android");
            assert_eq!(record.collection_method.app_version, "2.4.1");
        }
        assert_eq!(set.other_events.len(), 1);
        assert_eq!(set.other_events[0].ledger_event.seq, 4);
    }

    #[test]
    fn a_missing_policy_text_is_named() {
        let mut events = chain(vec![EventKind::PolicyAccepted {
            locale: "ru".into(),
            age_confirmed: true,
        }]);
        events[0].policy.hash = "0".repeat(64);
        let catalog = PermissionCatalog::bundled();
        let err = build(&Sources {
            generated_at: "2026-11-24T10:00:00.000Z".into(),
            install_id: "install",
            subject: "install",
            head: ChainHead {
                events: 1,
                hash: events[0].hash.clone(),
            },
            events: &events,
            receipts: &[],
            policies: &[],
            catalog: &catalog,
        })
        .unwrap_err();
        assert_eq!(err.seq, 1);
    }
}
