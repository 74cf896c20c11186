//! The consent ledger: an append-only, hash-chained list of decisions.
//!
//! Each event carries `prev_hash` (the hash of the event before it, or
//! [`GENESIS_HASH`]) and `hash`, the SHA-256 of the domain string
//! `altyn-consent/event/v1`, a newline, and the canonical JSON of the event
//! without its `hash` field (see [`crate::canonical`]). Editing, removing or
//! reordering any event breaks the chain at that point, and [`verify_chain`]
//! names it. Field names follow ISO/IEC TS 27560 consent records where they
//! fit: the event id is the record id, `subject` the PII principal, `policy`
//! the notice, `kind` the consent event type and its purposes.

#[cfg(feature = "replay")]
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::canonical;
use crate::permissions::OsStatus;
use crate::policy::PolicyRef;
use crate::statement::Statement;
use crate::sync::wire::{StatementReceipt, UnblockDecision};

/// `prev_hash` of the first event.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";
const EVENT_HASH_DOMAIN: &str = "altyn-consent/event/v1";

/// One recorded decision or fact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// UUIDv7: unique, and ordered by creation time.
    pub id: Uuid,
    /// 1, 2, 3... per install, without gaps.
    pub seq: u64,
    /// UTC time of the decision, RFC 3339 with milliseconds.
    pub at: String,
    /// The installation that recorded it; the chain is per install.
    pub install_id: String,
    /// Whose consent it is: the install id until the shell links an account.
    pub subject: String,
    /// The policy version in force when the decision was made.
    pub policy: PolicyRef,
    /// The app and device it was made on, as the shell reported them.
    pub context: AppContext,
    /// What was decided or observed, with its details.
    pub kind: EventKind,
    /// `hash` of the event before it (seq − 1), or [`GENESIS_HASH`] for
    /// event 1: the link that makes removing or reordering events visible.
    pub prev_hash: String,
    /// Lower-case hex SHA-256 over the domain string and the canonical JSON
    /// of every other field ([`Event::compute_hash`]).
    pub hash: String,
}

/// The app and device a decision was made on. No personal data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct AppContext {
    /// `android`, `ios` or `desktop`.
    pub platform: String,
    /// The app's version as the shell reports it, e.g. `2.4.1`.
    pub app_version: String,
    /// The operating system's version as the shell reports it, e.g.
    /// `Android 14` or `iOS 17.5`.
    pub os_version: String,
    /// Version of this library.
    pub core_version: String,
}

impl AppContext {
    /// A context for `platform` (`android`, `ios` or `desktop`); the core
    /// fills in its own version.
    pub fn new(platform: &str, app_version: &str, os_version: &str) -> Self {
        AppContext {
            platform: platform.into(),
            app_version: app_version.into(),
            os_version: os_version.into(),
            core_version: env!("CARGO_PKG_VERSION").into(),
        }
    }
}

/// What an event records. Serialised with a `type` tag in snake_case
/// (`policy_accepted`, ...); the names are part of the hash, so they never
/// change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum EventKind {
    /// The policy in `Event::policy` was accepted, with the 18+ attestation
    /// (preamble, §11.1). `locale` is the language of the text shown.
    PolicyAccepted {
        /// BCP 47 tag of the text the user read, e.g. `ru`.
        locale: String,
        /// The user confirmed being 18 or older. Always `true` in events
        /// this library records; a forged `false` grants nothing.
        age_confirmed: bool,
    },
    /// §10.4: the user objects to the version in `Event::policy`.
    PolicyObjected {
        /// BCP 47 tag of the text the user read.
        locale: String,
    },
    /// §10.2: the notice of a new version was shown.
    PolicyNoticeShown {
        /// BCP 47 tag of the notice's text.
        locale: String,
        /// The version the user accepted before, when the notice announces
        /// a newer one (re-consent, §10.3); `None` otherwise.
        previous_version: Option<i32>,
    },
    /// §2.4, §6.1.3: the user allowed or refused a device function for the
    /// listed purposes (clause ids).
    PermissionDecided {
        /// Catalog id of the permission, e.g. `camera`.
        permission: String,
        /// Allowed or refused.
        decision: Decision,
        /// Clause ids of §4.2 the decision covers, as the catalog named
        /// them at the time (e.g. `["4.2.5"]`).
        purposes: Vec<String>,
    },
    /// §6.1.5: consent withdrawn, for one permission or for everything.
    ConsentWithdrawn {
        /// One permission, or every consent including the policy's.
        scope: WithdrawalScope,
    },
    /// The OS grant changed, as the shell observed it.
    OsStatusChanged {
        /// Catalog id of the permission.
        permission: String,
        /// What the OS now says.
        status: OsStatus,
    },
    /// The shell linked the installation to an account; later events carry
    /// the account id as their subject.
    AccountLinked {
        /// The account id the shell handed in: 1 to 128 visible ASCII
        /// characters.
        account_id: String,
    },
    /// The installation's store could not be read (missing, damaged, key
    /// lost) and was recovered: its files were moved aside and kept, and
    /// this ledger goes on from what the server held. The loss itself is
    /// evidence, so it is recorded, never hidden.
    StoreRecovered {
        /// The id of the store that could not be read, if anything named it.
        lost_store_id: Option<String>,
        /// Why: `store_missing`, `store_damaged` or `key_lost`.
        reason: String,
        /// The folder under `quarantine/` that keeps its files, if any were left.
        quarantine: Option<String>,
        /// The last event of the lost ledger that the server held with a
        /// signed receipt, if the server was asked and held any.
        server_head: Option<ChainHead>,
    },
    /// §6.1.5, §10.4: a written statement for the Company was drawn up
    /// (it follows the events it rests on, which it names). It travels with
    /// the ledger; the server's receipt of delivery is recorded later
    /// ([`EventKind::StatementDelivered`]).
    StatementIssued {
        /// The statement, whole.
        statement: Statement,
        /// [`Statement::hash`]: what a receipt of delivery names.
        statement_hash: String,
    },
    /// The Company's signed receipt of delivery of a statement, as the
    /// server sent it; it carries any processing that continues on a legal
    /// basis. `verify` checks its signature and that it names a statement
    /// of this ledger, with its hash.
    StatementDelivered {
        /// The server's signed receipt.
        receipt: StatementReceipt,
    },
    /// §5.7: the user reported unauthorised access or a suspected breach of
    /// their data's confidentiality. Access is blocked pending the
    /// Company's review: new grants are refused until a signed unblock
    /// decision is recorded ([`EventKind::AccessRestored`]).
    CompromiseReported {
        /// What the user reports.
        concern: Concern,
        /// The user's own words (may be empty). Kept in the encrypted
        /// ledger and sent to the Company; never logged.
        details: String,
    },
    /// §5.7: the Company restored access, by a decision signed with the
    /// server's key and fetched by sync. `verify` checks the signature.
    AccessRestored {
        /// The signed decision, as the server sent it.
        decision: UnblockDecision,
    },
}

/// What a compromise report (§5.7) is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum Concern {
    /// Someone used the service without the user's permission (e.g. a lost
    /// or stolen device).
    UnauthorizedAccess,
    /// The user suspects the confidentiality of their data was breached.
    ConfidentialityBreach,
}

impl Concern {
    /// A stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Concern::UnauthorizedAccess => "unauthorized_access",
            Concern::ConfidentialityBreach => "confidentiality_breach",
        }
    }
}

/// The user's answer to the in-app question for one permission (§2.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The user allowed the device function for the listed purposes.
    Granted,
    /// The user refused it; the refusal is respected and not asked again.
    Denied,
}

/// What a withdrawal covers (§6.1.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WithdrawalScope {
    /// The consent to one permission, by catalog id; the policy stays
    /// accepted.
    Permission(String),
    /// The consent for one purpose (a §4.2 clause id): every permission
    /// consented to for it is withdrawn; the policy stays accepted.
    Purpose(String),
    /// Every consent, the policy's included: the app goes back to the
    /// policy screen.
    All,
}

impl EventKind {
    /// A short name for lists and logs (no personal data).
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::PolicyAccepted { .. } => "policy_accepted",
            EventKind::PolicyObjected { .. } => "policy_objected",
            EventKind::PolicyNoticeShown { .. } => "policy_notice_shown",
            EventKind::PermissionDecided { .. } => "permission_decided",
            EventKind::ConsentWithdrawn { .. } => "consent_withdrawn",
            EventKind::OsStatusChanged { .. } => "os_status_changed",
            EventKind::AccountLinked { .. } => "account_linked",
            EventKind::StoreRecovered { .. } => "store_recovered",
            EventKind::StatementIssued { .. } => "statement_issued",
            EventKind::StatementDelivered { .. } => "statement_delivered",
            EventKind::CompromiseReported { .. } => "compromise_reported",
            EventKind::AccessRestored { .. } => "access_restored",
        }
    }
}

impl Event {
    /// The hash this event must carry, computed from all its other fields.
    pub fn compute_hash(&self) -> String {
        let mut value = serde_json::to_value(self).expect("an event always serialises");
        if let Some(map) = value.as_object_mut() {
            map.remove("hash");
        }
        canonical::domain_hash(EVENT_HASH_DOMAIN, &value).expect("an event always serialises")
    }
}

/// Where time comes from. Injectable so that a recorded journey replays to
/// the same hashes on every platform.
pub trait Clock: Send + Sync {
    /// The current time; events record it in UTC with milliseconds
    /// ([`format_time`]).
    fn now(&self) -> OffsetDateTime;
}

/// Where event and install ids come from. Injectable for the same reason.
pub trait IdSource: Send + Sync {
    /// The id of a new event: a UUIDv7, so ids sort by creation time.
    fn event_id(&self) -> Uuid;
    /// The id of a new installation, asked once when a store is created.
    fn install_id(&self) -> Uuid;
}

/// The system's UTC clock: what every app build uses.
pub(crate) struct SystemClock;
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// UUIDv7 event ids and UUIDv4 install ids: what every app build uses.
pub(crate) struct RandomIds;
impl IdSource for RandomIds {
    fn event_id(&self) -> Uuid {
        Uuid::now_v7()
    }
    fn install_id(&self) -> Uuid {
        Uuid::new_v4()
    }
}

/// A clock that starts at a fixed instant and moves one second per reading
/// (the golden journey; feature `replay`, never in an app).
#[cfg(feature = "replay")]
pub(crate) struct SteppingClock {
    start: OffsetDateTime,
    step: AtomicU64,
}
#[cfg(feature = "replay")]
impl SteppingClock {
    pub(crate) fn new(start: OffsetDateTime) -> Self {
        SteppingClock {
            start,
            step: AtomicU64::new(0),
        }
    }
}
#[cfg(feature = "replay")]
impl Clock for SteppingClock {
    fn now(&self) -> OffsetDateTime {
        let n = self.step.fetch_add(1, Ordering::SeqCst);
        self.start + time::Duration::seconds(n as i64)
    }
}

/// Ids counted up from zero, for reproducible journeys (feature `replay`).
#[cfg(feature = "replay")]
#[derive(Default)]
pub(crate) struct CountingIds {
    next: AtomicU64,
}
#[cfg(feature = "replay")]
impl IdSource for CountingIds {
    fn event_id(&self) -> Uuid {
        // A valid v7 layout: the counter stands in for the timestamp.
        let n = self.next.fetch_add(1, Ordering::SeqCst);
        uuid::Builder::from_unix_timestamp_millis(n, &[0; 10]).into_uuid()
    }
    fn install_id(&self) -> Uuid {
        Uuid::from_u128(0x00000000_0000_4000_8000_000000000001)
    }
}

/// RFC 3339, UTC, always three digits of milliseconds:
/// `2026-11-24T09:30:00.120Z`. Fixed width, so the text sorts as time does
/// and every platform writes the same bytes (the hash covers them).
pub fn format_time(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .expect("a UTC time always formats")
}

/// Reads an event time as written by [`format_time`] (any RFC 3339 time is
/// accepted); `None` if it is not one.
pub fn parse_time(text: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// Where and why a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the ledger is broken at event #{seq} ({id}): {reason}")]
pub struct ChainBreak {
    /// Sequence number of the first event that does not check out (for
    /// events removed from the end, the last one left; 0 if none is).
    pub seq: u64,
    /// That event's id (UUID), or empty if there is no event.
    pub id: String,
    /// What is wrong with it, in words (altered, removed, another
    /// installation's, a bad time).
    pub reason: String,
}

/// The result of walking a whole chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Events walked, all linked: the ledger's length.
    pub events: u64,
    /// Hash of the last event, or [`GENESIS_HASH`] for an empty ledger.
    pub head_hash: String,
}

/// Walks the chain from the first event and stops at the first broken one:
/// a gap or repeat in sequence numbers, a wrong `prev_hash`, a hash that does
/// not match the event's content, or an event of another installation.
/// `expected_head` (count and last hash recorded apart from the events)
/// catches events removed from the end.
pub fn verify_chain(
    events: &[Event],
    expected_head: Option<(u64, &str)>,
) -> Result<ChainReport, ChainBreak> {
    let mut prev = GENESIS_HASH.to_string();
    for (i, event) in events.iter().enumerate() {
        let broken = |reason: String| ChainBreak {
            seq: event.seq,
            id: event.id.to_string(),
            reason,
        };
        let expected_seq = i as u64 + 1;
        if event.seq != expected_seq {
            return Err(broken(format!(
                "sequence number is {} where {expected_seq} was expected",
                event.seq
            )));
        }
        if event.install_id != events[0].install_id {
            return Err(broken("it belongs to another installation".into()));
        }
        if event.prev_hash != prev {
            return Err(broken("its link to the previous event does not match: an event before it was altered or removed".into()));
        }
        if parse_time(&event.at).is_none() {
            return Err(broken(format!(
                "its time {:?} is not an RFC 3339 date-time",
                event.at
            )));
        }
        if event.compute_hash() != event.hash {
            return Err(broken(
                "its content does not match its hash: it was altered after it was recorded".into(),
            ));
        }
        prev = event.hash.clone();
    }
    let count = events.len() as u64;
    if let Some((head_count, head_hash)) = expected_head {
        if head_count != count || head_hash != prev {
            let (seq, id) = events
                .last()
                .map(|e| (e.seq, e.id.to_string()))
                .unwrap_or((0, String::new()));
            return Err(ChainBreak {
                seq,
                id,
                reason: format!("the ledger ends at event #{count} but {head_count} event(s) were recorded: events were removed from the end"),
            });
        }
    }
    Ok(ChainReport {
        events: count,
        head_hash: prev,
    })
}

/// The end of a chain: how many events it holds and the last one's hash.
/// Exports, receipts and `store_recovered` events name a ledger by it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainHead {
    /// Number of events, which is also the last event's `seq` (0: empty).
    pub events: u64,
    /// Hash of event `events`, or [`GENESIS_HASH`] if there is none.
    pub hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: usize) -> Vec<Event> {
        let clock = SteppingClock::new(time::macros::datetime!(2026-11-24 09:00 UTC));
        let ids = CountingIds::default();
        let mut prev = GENESIS_HASH.to_string();
        (1..=n)
            .map(|seq| {
                let mut e = Event {
                    id: ids.event_id(),
                    seq: seq as u64,
                    at: format_time(clock.now()),
                    install_id: "install".into(),
                    subject: "install".into(),
                    policy: PolicyRef {
                        id: "p".into(),
                        version: 1,
                        hash: "h".into(),
                    },
                    context: AppContext::new("desktop", "1.0", "test"),
                    kind: EventKind::OsStatusChanged {
                        permission: "camera".into(),
                        status: OsStatus::Granted,
                    },
                    prev_hash: prev.clone(),
                    hash: String::new(),
                };
                e.hash = e.compute_hash();
                prev = e.hash.clone();
                e
            })
            .collect()
    }

    #[test]
    fn an_intact_chain_verifies() {
        let events = chain(5);
        let report = verify_chain(&events, Some((5, &events[4].hash))).unwrap();
        assert_eq!(report.events, 5);
        assert_eq!(verify_chain(&[], None).unwrap().head_hash, GENESIS_HASH);
    }

    #[test]
    fn an_edited_event_is_named() {
        let mut events = chain(5);
        events[2].kind = EventKind::OsStatusChanged {
            permission: "camera".into(),
            status: OsStatus::Denied,
        };
        let err = verify_chain(&events, None).unwrap_err();
        assert_eq!(err.seq, 3);
        assert!(err.reason.contains("altered"));
    }

    #[test]
    fn a_removed_event_is_named() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(verify_chain(&events, None).unwrap_err().seq, 3);
        let mut events = chain(5);
        let head = events[4].hash.clone();
        events.pop();
        let err = verify_chain(&events, Some((5, &head))).unwrap_err();
        assert!(err.reason.contains("removed from the end"), "{err}");
    }

    #[test]
    fn a_recomputed_hash_still_breaks_the_next_link() {
        let mut events = chain(4);
        events[1].at = "2020-01-01T00:00:00.000Z".into();
        events[1].hash = events[1].compute_hash();
        let err = verify_chain(&events, None).unwrap_err();
        assert_eq!(err.seq, 3, "the link from #3 exposes the rewrite of #2");
    }

    #[test]
    fn times_have_milliseconds_in_utc() {
        let t = time::macros::datetime!(2026-11-24 15:30:01.123456 +05:00);
        assert_eq!(format_time(t), "2026-11-24T10:30:01.123Z");
        let round = time::macros::datetime!(2026-11-24 10:30:04.840 UTC);
        assert_eq!(
            format_time(round),
            "2026-11-24T10:30:04.840Z",
            "trailing zeros are kept"
        );
        assert_eq!(
            format_time(time::macros::datetime!(2026-11-24 10:30:04 UTC)),
            "2026-11-24T10:30:04.000Z"
        );
    }

    #[test]
    fn hash_is_independent_of_field_order_in_json() {
        let events = chain(1);
        let json = serde_json::to_string(&events[0]).unwrap();
        let value: serde_json::Value = serde_json::from_str(&json).unwrap();
        let reparsed: Event = serde_json::from_value(value).unwrap();
        assert_eq!(reparsed.compute_hash(), events[0].hash);
    }
}
