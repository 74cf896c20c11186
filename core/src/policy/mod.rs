//! The privacy policy as structured data: parsing with limits, canonical hash,
//! rendering for a screen, and locale selection.
//!
//! A document is a list of numbered sections; each section holds numbered
//! clauses (`"4.2.5"`) whose ids are stable across versions, so a consent, a
//! permission purpose or a diff can point at a clause by id.

pub mod diff;
mod render;
pub mod seed;

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::canonical;

pub use render::{render_document, render_section, RenderFormat};

/// The document format this build reads and writes.
pub const POLICY_FORMAT: u32 = 1;
/// Largest policy document accepted, in bytes. The bundled Russian policy is
/// about 60 KB of JSON; a thirty-fold margin covers any honest revision.
pub const MAX_POLICY_BYTES: usize = 2 * 1024 * 1024;
/// Largest number of clauses accepted (the bundled policy has 70).
pub const MAX_CLAUSES: usize = 5_000;
/// The locale every lookup falls back to: the Russian text is authoritative.
pub const FALLBACK_LOCALE: &str = "ru";
/// Hash domain of policy documents.
const HASH_DOMAIN: &str = "altyn-consent/policy/v1";

/// The bundled policy, generated from the seed text by [`seed::import`]
/// (see `core/policy/README.md`).
pub const BUNDLED_POLICY_RU: &str = include_str!("../../policy/altyncoin-privacy-ru.json");

/// One version of the policy in one language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDocument {
    /// Format of this document; a newer format is refused with a clear error.
    pub format: u32,
    /// Stable id of the policy, e.g. `altyncoin-privacy`.
    pub id: String,
    /// Version number, 1 or higher; a higher number is a newer policy (§10).
    pub version: i32,
    /// BCP 47 language tag of the text, e.g. `ru`.
    pub locale: String,
    /// Date the version takes effect, `YYYY-MM-DD`.
    pub effective_date: String,
    /// The document's title, not empty.
    pub title: String,
    /// Text before the first section.
    pub preamble: Vec<Block>,
    /// The numbered sections, in document order; at least one.
    pub sections: Vec<Section>,
}

/// A numbered section (`"6"`), with its own text (section 1 is definitions
/// without numbers) and its numbered clauses in document order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    /// The section number, e.g. `"6"`; unique in the document.
    pub id: String,
    /// The heading, without its number.
    pub title: String,
    /// Text of the section before its first clause (may be empty when it
    /// has clauses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blocks: Vec<Block>,
    /// The numbered clauses; each id starts with the section's (`"6."`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub clauses: Vec<Clause>,
}

/// A numbered clause (`"6.1.5"`). Nesting follows from the id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clause {
    /// The clause number, e.g. `"6.1.5"`: stable across versions, unique
    /// in the document; consents and diffs refer to it.
    pub id: String,
    /// The clause's text, at least one block.
    pub blocks: Vec<Block>,
}

/// A unit of text: a paragraph or a bulleted list. Serialised with a
/// `type` tag (`paragraph`, `list`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Block {
    /// One paragraph.
    Paragraph {
        /// Its text, not blank; never wrapped (screens wrap).
        text: String,
    },
    /// A bulleted list.
    List {
        /// Its entries, at least one, none blank.
        items: Vec<ListItem>,
    },
}

/// A list entry. An entry with a `category` is a category of personal data
/// (§2.3) that other data, such as the permission catalog, can refer to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListItem {
    /// Stable id of the data category this entry names, e.g. `iin`;
    /// unique in the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// The entry's text.
    pub text: String,
}

/// A category of personal data the policy names (§2.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DataCategory {
    /// Stable id, e.g. `selfie_photo`; what the catalog refers to.
    pub id: String,
    /// The clause whose list names it (`"2.3"`).
    pub clause_id: String,
    /// The list entry's text, as the policy words it.
    pub text: String,
}

/// Identity of a policy version: what a consent is given to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PolicyRef {
    /// Stable id of the policy, e.g. `altyncoin-privacy`.
    pub id: String,
    /// Version number, 1 or higher.
    pub version: i32,
    /// SHA-256 (hex) of the canonical document: what the user saw.
    pub hash: String,
}

/// Why a policy document was refused, or a part of it not found. Nothing
/// was stored; through the client these are kind `invalid_request`.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The document is larger than [`MAX_POLICY_BYTES`]: refuse it.
    #[error("policy document is {size} bytes; the limit is {limit} bytes")]
    TooLarge {
        /// The document's size, in bytes.
        size: usize,
        /// The limit, in bytes.
        limit: usize,
    },
    /// The bytes are not a policy document's JSON (syntax, a missing or
    /// unknown field): fix the document's source.
    #[error("policy document is not valid JSON for format {POLICY_FORMAT}: {reason}")]
    Malformed {
        /// The JSON parser's message, with line and column.
        reason: String,
    },
    /// The document is of a newer format than this build reads: the user
    /// must update the app.
    #[error(
        "policy document has format {found}; this app reads format {supported}: update the app"
    )]
    NewerFormat {
        /// The document's format.
        found: u32,
        /// [`POLICY_FORMAT`].
        supported: u32,
    },
    /// Nothing to show: no content, no title, no sections, or a section,
    /// clause, paragraph or list without text.
    #[error("policy document is empty: {what}")]
    Empty {
        /// What is empty, e.g. `clause 6.1.5 has no text`.
        what: String,
    },
    /// Two clauses share an id, so a consent could not say which it means.
    #[error("policy document has clause {id} more than once")]
    DuplicateClause {
        /// The repeated clause id.
        id: String,
    },
    /// The document breaks another rule (id, version, locale, date,
    /// section or clause numbering, a repeated data category).
    #[error("policy document is invalid: {reason}")]
    Invalid {
        /// Which rule, and where.
        reason: String,
    },
    /// A text with the id, version and locale of a stored one but another
    /// hash. The stored text is kept; the publisher must issue a new
    /// version number.
    #[error(
        "two different texts claim to be policy {id} version {version} (hashes {existing_hash} and {new_hash}); \
         the stored one is kept: the publisher must issue a new version number"
    )]
    Conflict {
        /// The policy id.
        id: String,
        /// The version both texts claim.
        version: i32,
        /// Hash of the text already stored.
        existing_hash: String,
        /// Hash of the text offered.
        new_hash: String,
    },
    /// A section or clause id asked for (e.g. to render it) is not in the
    /// document: use one of `known`.
    #[error("the policy has no section or clause {id}; sections are {known}")]
    UnknownSection {
        /// The id as asked, without a trailing dot.
        id: String,
        /// The document's section ids, comma-separated.
        known: String,
    },
}

impl PolicyDocument {
    /// Parses and validates a document. Rejects oversized, malformed, newer
    /// format, empty and duplicate-clause documents with a precise error.
    ///
    /// ```rust
    /// use altyn_consent_core::policy::{PolicyDocument, PolicyError, BUNDLED_POLICY_RU};
    ///
    /// let doc = PolicyDocument::parse(BUNDLED_POLICY_RU.as_bytes())?;
    /// assert_eq!((doc.id.as_str(), doc.version), ("altyncoin-privacy", 1));
    ///
    /// // Cut short: the JSON parser's message says where.
    /// let err = PolicyDocument::parse(br#"{"format": 1, "id": "altyncoin-privacy""#).unwrap_err();
    /// assert!(matches!(err, PolicyError::Malformed { .. }));
    /// assert!(err.to_string().contains("EOF while parsing"), "{err}");
    ///
    /// // A newer format asks for an app update instead of naming a field.
    /// let err = PolicyDocument::parse(br#"{"format": 2}"#).unwrap_err();
    /// assert_eq!(err, PolicyError::NewerFormat { found: 2, supported: 1 });
    /// assert!(err.to_string().ends_with("update the app"));
    /// # Ok::<(), PolicyError>(())
    /// ```
    pub fn parse(bytes: &[u8]) -> Result<Self, PolicyError> {
        if bytes.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::TooLarge {
                size: bytes.len(),
                limit: MAX_POLICY_BYTES,
            });
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(PolicyError::Empty {
                what: "no content at all".into(),
            });
        }
        // Read the format first so that a newer document gets "update the app"
        // rather than a confusing field error.
        #[derive(Deserialize)]
        struct FormatProbe {
            format: Option<u32>,
        }
        if let Ok(FormatProbe {
            format: Some(found),
        }) = serde_json::from_slice::<FormatProbe>(bytes)
        {
            if found > POLICY_FORMAT {
                return Err(PolicyError::NewerFormat {
                    found,
                    supported: POLICY_FORMAT,
                });
            }
        }
        let doc: PolicyDocument =
            serde_json::from_slice(bytes).map_err(|e| PolicyError::Malformed {
                reason: e.to_string(),
            })?;
        doc.validate()?;
        Ok(doc)
    }

    /// The bundled Russian policy, shipped for the first start offline (§10.6).
    pub fn bundled() -> Self {
        Self::parse(BUNDLED_POLICY_RU.as_bytes())
            .expect("the bundled policy is valid; a test checks it")
    }

    /// Checks the invariants every document must hold.
    pub fn validate(&self) -> Result<(), PolicyError> {
        let invalid = |reason: String| Err(PolicyError::Invalid { reason });
        if self.format != POLICY_FORMAT {
            return invalid(format!(
                "format {} is not supported (expected {POLICY_FORMAT})",
                self.format
            ));
        }
        if self.id.is_empty()
            || !self
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return invalid(format!(
                "id {:?} must be lower-case letters, digits and '-'",
                self.id
            ));
        }
        if self.version < 1 {
            return invalid("version must be 1 or higher".into());
        }
        if !is_language_tag(&self.locale) {
            return invalid(format!(
                "locale {:?} is not a language tag such as \"ru\" or \"kk-KZ\"",
                self.locale
            ));
        }
        let date_format = time::macros::format_description!("[year]-[month]-[day]");
        if time::Date::parse(&self.effective_date, date_format).is_err() {
            return invalid(format!(
                "effective_date {:?} is not a YYYY-MM-DD date",
                self.effective_date
            ));
        }
        if self.title.trim().is_empty() {
            return Err(PolicyError::Empty {
                what: "the title is empty".into(),
            });
        }
        if self.sections.is_empty() {
            return Err(PolicyError::Empty {
                what: "the document has no sections".into(),
            });
        }
        check_blocks(&self.preamble, "the preamble")?;
        let mut section_ids = HashSet::new();
        let mut clause_ids = HashSet::new();
        let mut categories = HashSet::new();
        let mut clause_count = 0usize;
        for section in &self.sections {
            if !is_number_path(&section.id) || section.id.contains('.') {
                return invalid(format!(
                    "section id {:?} must be a number such as \"6\"",
                    section.id
                ));
            }
            if !section_ids.insert(section.id.as_str()) {
                return invalid(format!("section {} appears more than once", section.id));
            }
            if section.title.trim().is_empty() {
                return Err(PolicyError::Empty {
                    what: format!("section {} has no title", section.id),
                });
            }
            if section.blocks.is_empty() && section.clauses.is_empty() {
                return Err(PolicyError::Empty {
                    what: format!("section {} has no text", section.id),
                });
            }
            check_blocks(&section.blocks, &format!("section {}", section.id))?;
            for clause in &section.clauses {
                clause_count += 1;
                if clause_count > MAX_CLAUSES {
                    return invalid(format!("more than {MAX_CLAUSES} clauses"));
                }
                let prefix = format!("{}.", section.id);
                if !is_number_path(&clause.id) || !clause.id.starts_with(&prefix) {
                    return invalid(format!(
                        "clause id {:?} in section {} must be a number path starting with \"{prefix}\"",
                        clause.id, section.id
                    ));
                }
                if !clause_ids.insert(clause.id.as_str()) {
                    return Err(PolicyError::DuplicateClause {
                        id: clause.id.clone(),
                    });
                }
                if clause.blocks.is_empty() {
                    return Err(PolicyError::Empty {
                        what: format!("clause {} has no text", clause.id),
                    });
                }
                check_blocks(&clause.blocks, &format!("clause {}", clause.id))?;
            }
        }
        for category in self.data_categories() {
            if !categories.insert(category.id.clone()) {
                return invalid(format!(
                    "data category {:?} appears more than once",
                    category.id
                ));
            }
        }
        Ok(())
    }

    /// Canonical bytes: what the hash and the publisher's signature cover.
    pub fn canonical_bytes(&self) -> Vec<u8> {
        canonical::to_canonical_json(self).expect("a policy document always serialises")
    }

    /// SHA-256 (hex) of the canonical form: the content identity of this text.
    pub fn hash(&self) -> String {
        canonical::domain_hash(HASH_DOMAIN, self).expect("a policy document always serialises")
    }

    /// What a consent to this text names: id, version and [`Self::hash`].
    pub fn reference(&self) -> PolicyRef {
        PolicyRef {
            id: self.id.clone(),
            version: self.version,
            hash: self.hash(),
        }
    }

    /// Two texts with the same id and version must be the same text.
    pub fn check_no_conflict(&self, other: &PolicyDocument) -> Result<(), PolicyError> {
        if self.id == other.id && self.version == other.version && self.locale == other.locale {
            let (a, b) = (self.hash(), other.hash());
            if a != b {
                return Err(PolicyError::Conflict {
                    id: self.id.clone(),
                    version: self.version,
                    existing_hash: a,
                    new_hash: b,
                });
            }
        }
        Ok(())
    }

    /// Every clause, in document order.
    pub fn clauses(&self) -> impl Iterator<Item = &Clause> {
        self.sections.iter().flat_map(|s| s.clauses.iter())
    }

    /// The clause numbered `id` (`"6.1.5"`), if the document has it.
    pub fn clause(&self, id: &str) -> Option<&Clause> {
        self.clauses().find(|c| c.id == id)
    }

    /// Whether `id` names a section (`"6"`) or a clause (`"6.1.5"`).
    pub(crate) fn has_clause(&self, id: &str) -> bool {
        self.sections.iter().any(|s| s.id == id) || self.clause(id).is_some()
    }

    /// The categories of personal data the policy names (§2.3).
    pub fn data_categories(&self) -> Vec<DataCategory> {
        let mut out = Vec::new();
        for clause in self.clauses() {
            for block in &clause.blocks {
                if let Block::List { items } = block {
                    for item in items {
                        if let Some(id) = &item.category {
                            out.push(DataCategory {
                                id: id.clone(),
                                clause_id: clause.id.clone(),
                                text: item.text.clone(),
                            });
                        }
                    }
                }
            }
        }
        out
    }

    /// Section ids, for error messages and navigation.
    pub fn section_ids(&self) -> Vec<&str> {
        self.sections.iter().map(|s| s.id.as_str()).collect()
    }

    /// The first paragraph of a clause, for one-line references (e.g. a
    /// permission's purpose shown under its switch).
    pub fn clause_summary(&self, id: &str) -> Option<&str> {
        self.clause(id).and_then(|c| {
            c.blocks.iter().find_map(|b| match b {
                Block::Paragraph { text } => Some(text.as_str()),
                Block::List { .. } => None,
            })
        })
    }
}

fn check_blocks(blocks: &[Block], place: &str) -> Result<(), PolicyError> {
    for block in blocks {
        match block {
            Block::Paragraph { text } if text.trim().is_empty() => {
                return Err(PolicyError::Empty {
                    what: format!("{place} has an empty paragraph"),
                })
            }
            Block::List { items } if items.is_empty() => {
                return Err(PolicyError::Empty {
                    what: format!("{place} has an empty list"),
                })
            }
            Block::List { items } if items.iter().any(|i| i.text.trim().is_empty()) => {
                return Err(PolicyError::Empty {
                    what: format!("{place} has an empty list item"),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

fn is_number_path(id: &str) -> bool {
    !id.is_empty()
        && id.split('.').all(|part| {
            !part.is_empty() && part.len() <= 4 && part.bytes().all(|b| b.is_ascii_digit())
        })
}

fn is_language_tag(tag: &str) -> bool {
    let mut parts = tag.split('-');
    let primary = parts.next().unwrap_or("");
    (2..=3).contains(&primary.len())
        && primary.bytes().all(|b| b.is_ascii_lowercase())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// Picks the best available locale for a request: the exact tag, then the
/// same language (`ru-KZ` → `ru`), then [`FALLBACK_LOCALE`]. Returns `None`
/// only if nothing is available at all.
pub fn select_locale<'a>(available: &[&'a str], requested: &str) -> Option<&'a str> {
    let requested = requested.trim().replace('_', "-").to_ascii_lowercase();
    let language = requested.split('-').next().unwrap_or("");
    available
        .iter()
        .find(|a| a.to_ascii_lowercase() == requested)
        .or_else(|| {
            available.iter().find(|a| {
                a.split('-')
                    .next()
                    .unwrap_or("")
                    .eq_ignore_ascii_case(language)
            })
        })
        .or_else(|| {
            available
                .iter()
                .find(|a| a.eq_ignore_ascii_case(FALLBACK_LOCALE))
        })
        .or_else(|| available.first())
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> PolicyDocument {
        PolicyDocument {
            format: 1,
            id: "test-policy".into(),
            version: 1,
            locale: "ru".into(),
            effective_date: "2026-01-01".into(),
            title: "Политика".into(),
            preamble: vec![],
            sections: vec![Section {
                id: "1".into(),
                title: "Общие положения".into(),
                blocks: vec![],
                clauses: vec![Clause {
                    id: "1.1".into(),
                    blocks: vec![Block::Paragraph {
                        text: "Текст.".into(),
                    }],
                }],
            }],
        }
    }

    fn parse_json(doc: &PolicyDocument) -> Result<PolicyDocument, PolicyError> {
        PolicyDocument::parse(&serde_json::to_vec(doc).unwrap())
    }

    #[test]
    fn bundled_policy_parses_and_has_stable_hash() {
        let doc = PolicyDocument::bundled();
        assert_eq!(doc.locale, "ru");
        assert_eq!(doc.hash(), PolicyDocument::bundled().hash());
        assert_eq!(doc.hash().len(), 64);
    }

    #[test]
    fn round_trip_keeps_the_hash() {
        let doc = tiny();
        let again = parse_json(&doc).unwrap();
        assert_eq!(doc.hash(), again.hash());
    }

    #[test]
    fn rejects_oversized_document() {
        let big = vec![b' '; MAX_POLICY_BYTES + 1];
        assert!(matches!(
            PolicyDocument::parse(&big),
            Err(PolicyError::TooLarge { .. })
        ));
    }

    #[test]
    fn rejects_malformed_and_empty() {
        assert!(matches!(
            PolicyDocument::parse(b"{not json"),
            Err(PolicyError::Malformed { .. })
        ));
        assert!(matches!(
            PolicyDocument::parse(b"   "),
            Err(PolicyError::Empty { .. })
        ));
        let mut doc = tiny();
        doc.sections.clear();
        assert!(matches!(parse_json(&doc), Err(PolicyError::Empty { .. })));
        let mut doc = tiny();
        doc.sections[0].clauses[0].blocks = vec![Block::Paragraph { text: "  ".into() }];
        assert!(matches!(parse_json(&doc), Err(PolicyError::Empty { .. })));
    }

    #[test]
    fn rejects_unknown_fields_and_newer_format() {
        let err = PolicyDocument::parse(br#"{"format":1,"id":"x","surprise":true}"#).unwrap_err();
        assert!(matches!(err, PolicyError::Malformed { .. }), "{err}");
        let err = PolicyDocument::parse(br#"{"format":7,"whatever":[]}"#).unwrap_err();
        assert_eq!(
            err,
            PolicyError::NewerFormat {
                found: 7,
                supported: 1
            }
        );
        assert!(err.to_string().contains("update the app"));
    }

    #[test]
    fn rejects_duplicate_clause() {
        let mut doc = tiny();
        let clause = doc.sections[0].clauses[0].clone();
        doc.sections[0].clauses.push(clause);
        assert_eq!(
            parse_json(&doc).unwrap_err(),
            PolicyError::DuplicateClause { id: "1.1".into() }
        );
    }

    #[test]
    fn rejects_clause_outside_its_section() {
        let mut doc = tiny();
        doc.sections[0].clauses[0].id = "2.1".into();
        assert!(matches!(parse_json(&doc), Err(PolicyError::Invalid { .. })));
    }

    #[test]
    fn same_version_different_text_is_a_conflict() {
        let a = tiny();
        let mut b = tiny();
        b.sections[0].clauses[0].blocks = vec![Block::Paragraph {
            text: "Другой текст.".into(),
        }];
        let err = a.check_no_conflict(&b).unwrap_err();
        assert!(matches!(err, PolicyError::Conflict { version: 1, .. }));
        let mut c = tiny();
        c.version = 2;
        c.sections[0].clauses[0].blocks = b.sections[0].clauses[0].blocks.clone();
        assert!(
            a.check_no_conflict(&c).is_ok(),
            "a new version may change the text"
        );
    }

    #[test]
    fn locale_selection_falls_back_to_russian() {
        let available = ["ru", "kk", "en-US"];
        assert_eq!(select_locale(&available, "kk"), Some("kk"));
        assert_eq!(select_locale(&available, "kk_KZ"), Some("kk"));
        assert_eq!(select_locale(&available, "EN-us"), Some("en-US"));
        assert_eq!(select_locale(&available, "en-GB"), Some("en-US"));
        assert_eq!(select_locale(&available, "de"), Some("ru"));
        assert_eq!(select_locale(&["ru"], ""), Some("ru"));
        assert_eq!(select_locale(&[], "ru"), None);
    }
}
