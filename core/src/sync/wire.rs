//! What travels between the app and the backend, and the signatures that
//! make it proof: the server signs each receipt with its Ed25519 key, and the
//! publisher signs each policy text with the policy key. Both sign the
//! canonical JSON (see [`crate::canonical`]) behind a domain string.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::canonical;
use crate::ledger::{ChainHead, Event};
use crate::policy::PolicyDocument;

/// The [`ReceiptBody::format`] of receipts of this version.
pub const RECEIPT_FORMAT: &str = "altyn-consent-receipt/1";
const RECEIPT_DOMAIN: &[u8] = b"altyn-consent/receipt/v1\n";
const POLICY_SIGNATURE_DOMAIN: &[u8] = b"altyn-consent/policy-signature/v1\n";

/// `POST /v1/events`: the next events of one installation, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UploadBatch {
    /// The installation whose ledger the events continue.
    pub install_id: String,
    /// Consecutive events of its ledger, oldest first, as recorded.
    pub events: Vec<Event>,
}

impl UploadBatch {
    /// The JSON of a batch built from events already in canonical JSON (as
    /// the store keeps them), without decoding and encoding them again.
    pub fn encode_from_bodies<'a>(
        install_id: &str,
        bodies: impl IntoIterator<Item = &'a str>,
    ) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 * 1024);
        out.extend_from_slice(b"{\"events\":[");
        for (i, body) in bodies.into_iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(body.as_bytes());
        }
        out.extend_from_slice(b"],\"install_id\":");
        serde_json::to_writer(&mut out, install_id).expect("a string serialises");
        out.push(b'}');
        out
    }
}

/// One acknowledged event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AckedEvent {
    /// The event's id.
    pub id: Uuid,
    /// Its sequence number in the installation's ledger.
    pub seq: u64,
    /// Its hash, as the server holds it: the app's event must have the same.
    pub hash: String,
}

/// What the server attests: it holds these events of this installation, and
/// its copy of the chain ends at `head`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// [`RECEIPT_FORMAT`].
    pub format: String,
    /// Which server key signed (first 16 hex digits of its SHA-256).
    pub key_id: String,
    /// Whose consents these are: the subject the access token names.
    pub subject: String,
    /// The installation whose events are acknowledged.
    pub install_id: String,
    /// Server time of the acknowledgement: UTC, RFC 3339 with milliseconds.
    pub received_at: String,
    /// The events of this upload the server now holds.
    pub acknowledged: Vec<AckedEvent>,
    /// The end of the server's copy of the chain after this upload.
    pub head: ChainHead,
}

/// A signed receipt: the consent's proof on the app's side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Receipt {
    /// What the server attests.
    pub body: ReceiptBody,
    /// Base64 Ed25519 signature over the domain string and the canonical body.
    pub signature: String,
}

/// `GET /v1/policies/{id}`: a policy text with the publisher's signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPolicy {
    /// The policy text.
    pub policy: PolicyDocument,
    /// Which policy key signed ([`key_id`] of the publisher's key).
    pub key_id: String,
    /// Base64 Ed25519 signature over the domain string and the canonical policy.
    pub signature: String,
}

/// `GET /v1/events`: everything the server holds for the caller's subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsPage {
    /// The subject's events, of every installation it has had, each
    /// installation's in sequence order.
    pub events: Vec<Event>,
    /// The server's signed receipts over them, oldest first.
    pub receipts: Vec<Receipt>,
    /// Asked for in pages (`?limit=N`): the cursor of the next page
    /// (`?after=`), absent on the last one. Each receipt comes in the page
    /// that holds the last event it acknowledges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// The [`StatementReceiptBody::format`] of statement receipts of this version.
pub const STATEMENT_RECEIPT_FORMAT: &str = "altyn-consent-statement-receipt/1";
const STATEMENT_RECEIPT_DOMAIN: &[u8] = b"altyn-consent/statement-receipt/v1\n";
/// The [`UnblockBody::format`] of unblock decisions of this version.
pub const UNBLOCK_FORMAT: &str = "altyn-consent-unblock/1";
const UNBLOCK_DOMAIN: &[u8] = b"altyn-consent/unblock/v1\n";

/// §6.1.5 "except in cases established by the law": processing that goes on
/// after a withdrawal because the law requires it (e.g. records the lender
/// must keep while a loan is outstanding).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct LegalHold {
    /// The data categories (§2.3 ids) still processed.
    pub categories: Vec<String>,
    /// The legal basis, in words (the law and article).
    pub basis: String,
    /// Until when (`YYYY-MM-DD`), if the basis has an end.
    pub until: Option<String>,
}

/// What the server attests on receiving a written statement: the Company
/// received it, when, and what processing continues on a legal basis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementReceiptBody {
    /// [`STATEMENT_RECEIPT_FORMAT`].
    pub format: String,
    /// Which server key signed.
    pub key_id: String,
    /// Whose statement: the subject the access token names.
    pub subject: String,
    /// The installation that sent it.
    pub install_id: String,
    /// The statement's id.
    pub statement_id: Uuid,
    /// The statement's hash ([`crate::statement::Statement::hash`]).
    pub statement_hash: String,
    /// The ledger event that carried it.
    pub event_id: Uuid,
    /// When the Company received it: UTC, RFC 3339 with milliseconds.
    pub received_at: String,
    /// Processing that continues on a legal basis despite a withdrawal
    /// (empty for an objection, or when none does).
    pub continuing: Vec<LegalHold>,
}

/// A signed receipt of delivery of a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementReceipt {
    /// What the server attests.
    pub body: StatementReceiptBody,
    /// Base64 Ed25519 signature over the domain string and the canonical body.
    pub signature: String,
}

/// `GET /v1/statements`: the receipts of the subject's delivered statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementReceiptsPage {
    /// Oldest first.
    pub receipts: Vec<StatementReceipt>,
}

/// `POST /v1/reports`: a compromise report (§5.7), sent ahead of the
/// ledger's upload so that the Company can block access at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportUpload {
    /// The installation whose ledger holds the report.
    pub install_id: String,
    /// The report's ledger event (`compromise_reported`), as recorded.
    pub event: Event,
}

/// The answer to a report: received, and the subject's access blocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportAck {
    /// The report's event id.
    pub report_id: Uuid,
    /// When the server received it first.
    pub received_at: String,
    /// Access is blocked pending the Company's review.
    pub blocked: bool,
}

/// The Company's decision to restore a subject's access after reviewing its
/// compromise reports (§5.7).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnblockBody {
    /// [`UNBLOCK_FORMAT`].
    pub format: String,
    /// Which server key signed.
    pub key_id: String,
    /// The decision's id.
    pub decision_id: Uuid,
    /// Whose access is restored.
    pub subject: String,
    /// The reports (their event ids) the decision closes.
    pub reports: Vec<Uuid>,
    /// When it was decided: UTC, RFC 3339 with milliseconds.
    pub decided_at: String,
}

/// A signed unblock decision: the only thing that lifts a block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnblockDecision {
    /// What the Company decided.
    pub body: UnblockBody,
    /// Base64 Ed25519 signature over the domain string and the canonical body.
    pub signature: String,
}

/// `GET /v1/access`: whether the subject's access is blocked, and the
/// unblock decisions made so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessStatus {
    /// Blocked pending the Company's review.
    pub blocked: bool,
    /// Reports not yet closed by a decision.
    pub open_reports: Vec<Uuid>,
    /// Every unblock decision for the subject, oldest first.
    pub decisions: Vec<UnblockDecision>,
}

/// Every error the API answers, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    /// A stable code: `broken_chain`, `conflict`, `too_large`, `bad_request`,
    /// `unauthorized`, `forbidden`, `not_found`, `rate_limited`, `internal`.
    pub error: String,
    /// What went wrong, in words, for a log (no personal data).
    pub message: String,
    /// The event the error is about, if it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    /// That event's sequence number, if the error is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
}

/// Why a signature or a public key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The document names a key that is not among the trusted ones: refuse
    /// it (or configure the right key).
    #[error("the {what} is not signed by a trusted key (key id {key_id})")]
    UnknownKey {
        /// `receipt`, `policy`, `statement receipt` or `unblock decision`.
        what: &'static str,
        /// The key id it names.
        key_id: String,
    },
    /// The signature is not valid base64 Ed25519, or does not match the
    /// content: it was altered or forged. Refuse it.
    #[error("the {what}'s signature does not verify: it was altered or forged")]
    Invalid {
        /// `receipt` or `policy`.
        what: &'static str,
    },
    /// A public key given as text is not 64 hex digits of a valid Ed25519
    /// key (the message says which): fix the key given.
    #[error("{0}")]
    BadKey(String),
}

/// A short, stable name for a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))[..16].to_string()
}

/// Reads a public key written as 64 hex digits.
pub fn parse_verifying_key(text: &str) -> Result<VerifyingKey, SignatureError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| SignatureError::BadKey("a public key must be 64 hex digits".into()))?;
    let bytes: [u8; 32] = bytes
        .try_into()
        .map_err(|_| SignatureError::BadKey("a public key must be 32 bytes".into()))?;
    VerifyingKey::from_bytes(&bytes)
        .map_err(|_| SignatureError::BadKey("not a valid Ed25519 public key".into()))
}

/// A new random signing key.
pub fn generate_signing_key() -> SigningKey {
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    getrandom::fill(seed.as_mut()).expect("system randomness");
    SigningKey::from_bytes(&seed)
}

fn signed_bytes<T: Serialize>(domain: &[u8], value: &T) -> Vec<u8> {
    let mut bytes = domain.to_vec();
    bytes.extend(canonical::to_canonical_json(value).expect("wire types serialise"));
    bytes
}

fn verify(
    what: &'static str,
    key_id_claimed: &str,
    bytes: &[u8],
    signature: &str,
    keys: &[VerifyingKey],
) -> Result<(), SignatureError> {
    let key = keys
        .iter()
        .find(|k| key_id(k) == key_id_claimed)
        .ok_or_else(|| SignatureError::UnknownKey {
            what,
            key_id: key_id_claimed.to_string(),
        })?;
    let raw = BASE64
        .decode(signature)
        .map_err(|_| SignatureError::Invalid { what })?;
    let signature = Signature::from_slice(&raw).map_err(|_| SignatureError::Invalid { what })?;
    key.verify(bytes, &signature)
        .map_err(|_| SignatureError::Invalid { what })
}

impl Receipt {
    /// Signs `body` with the server's key (what the server does on each
    /// upload; also for tests).
    pub fn sign(key: &SigningKey, body: ReceiptBody) -> Receipt {
        let signature = key.sign(&signed_bytes(RECEIPT_DOMAIN, &body));
        Receipt {
            body,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the signature against the trusted server keys.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<(), SignatureError> {
        verify(
            "receipt",
            &self.body.key_id,
            &signed_bytes(RECEIPT_DOMAIN, &self.body),
            &self.signature,
            keys,
        )
    }
}

impl StatementReceipt {
    /// Signs `body` with the server's key.
    pub fn sign(key: &SigningKey, body: StatementReceiptBody) -> StatementReceipt {
        let signature = key.sign(&signed_bytes(STATEMENT_RECEIPT_DOMAIN, &body));
        StatementReceipt {
            body,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the signature against the trusted server keys.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<(), SignatureError> {
        verify(
            "statement receipt",
            &self.body.key_id,
            &signed_bytes(STATEMENT_RECEIPT_DOMAIN, &self.body),
            &self.signature,
            keys,
        )
    }
}

impl UnblockDecision {
    /// Signs `body` with the server's key.
    pub fn sign(key: &SigningKey, body: UnblockBody) -> UnblockDecision {
        let signature = key.sign(&signed_bytes(UNBLOCK_DOMAIN, &body));
        UnblockDecision {
            body,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the signature against the trusted server keys.
    pub fn verify(&self, keys: &[VerifyingKey]) -> Result<(), SignatureError> {
        verify(
            "unblock decision",
            &self.body.key_id,
            &signed_bytes(UNBLOCK_DOMAIN, &self.body),
            &self.signature,
            keys,
        )
    }
}

impl SignedPolicy {
    /// Signs `policy` with the publisher's key.
    pub fn sign(key: &SigningKey, policy: PolicyDocument) -> SignedPolicy {
        let signature = key.sign(&signed_bytes(POLICY_SIGNATURE_DOMAIN, &policy));
        SignedPolicy {
            key_id: key_id(&key.verifying_key()),
            policy,
            signature: BASE64.encode(signature.to_bytes()),
        }
    }

    /// Checks the publisher's signature, then the document's own rules.
    pub fn verify(self, keys: &[VerifyingKey]) -> Result<PolicyDocument, SignatureError> {
        verify(
            "policy",
            &self.key_id,
            &signed_bytes(POLICY_SIGNATURE_DOMAIN, &self.policy),
            &self.signature,
            keys,
        )?;
        Ok(self.policy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body() -> ReceiptBody {
        ReceiptBody {
            format: RECEIPT_FORMAT.into(),
            key_id: String::new(),
            subject: "s".into(),
            install_id: "i".into(),
            received_at: "2026-11-24T00:00:00.000Z".into(),
            acknowledged: vec![AckedEvent {
                id: Uuid::nil(),
                seq: 1,
                hash: "h".into(),
            }],
            head: ChainHead {
                events: 1,
                hash: "h".into(),
            },
        }
    }

    #[test]
    fn a_signed_receipt_verifies_and_an_altered_one_does_not() {
        let key = generate_signing_key();
        let mut b = body();
        b.key_id = key_id(&key.verifying_key());
        let receipt = Receipt::sign(&key, b);
        receipt.verify(&[key.verifying_key()]).unwrap();
        let mut altered = receipt.clone();
        altered.body.acknowledged[0].seq = 2;
        assert_eq!(
            altered.verify(&[key.verifying_key()]),
            Err(SignatureError::Invalid { what: "receipt" })
        );
        let other = generate_signing_key();
        assert!(matches!(
            receipt.verify(&[other.verifying_key()]),
            Err(SignatureError::UnknownKey { .. })
        ));
    }

    #[test]
    fn a_signed_policy_verifies_and_a_changed_clause_does_not() {
        let key = generate_signing_key();
        let signed = SignedPolicy::sign(&key, PolicyDocument::bundled());
        assert_eq!(
            signed.clone().verify(&[key.verifying_key()]).unwrap(),
            PolicyDocument::bundled()
        );
        let mut forged = signed;
        forged.policy.title.push('!');
        assert!(forged.verify(&[key.verifying_key()]).is_err());
    }

    #[test]
    fn a_batch_built_from_stored_bodies_is_an_upload_batch() {
        let bodies = [r#"{"a":1}"#, r#"{"b":2}"#];
        let json = UploadBatch::encode_from_bodies("install \"x\"", bodies);
        let value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"install_id": "install \"x\"", "events": [{"a": 1}, {"b": 2}]})
        );
    }

    #[test]
    fn public_keys_round_trip_as_hex() {
        let key = generate_signing_key().verifying_key();
        assert_eq!(
            parse_verifying_key(&hex::encode(key.as_bytes())).unwrap(),
            key
        );
        assert!(parse_verifying_key("zz").is_err());
    }
}
