//! What changed between two versions of the policy, clause by clause, for the
//! screen where the user reviews the changes (§10.3) before consenting or
//! objecting.

use serde::Serialize;
use similar::{ChangeTag, TextDiff};

use super::{Block, PolicyDocument};

/// How one part of the policy changed between two versions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum ChangeKind {
    /// Only the new version has it (`new_text` set).
    Added,
    /// Only the old version had it (`old_text` set).
    Removed,
    /// Both have it with different text (both set, and `spans`).
    Changed,
}

/// What a run of words in a changed clause is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum SpanKind {
    /// In both versions.
    Same,
    /// Only in the new version.
    Inserted,
    /// Only in the old version.
    Deleted,
}

/// A run of words, marked as kept, inserted or deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Span {
    /// Kept, inserted or deleted.
    pub kind: SpanKind,
    /// The words, with the whitespace between them.
    pub text: String,
}

/// One part of the policy that differs between the two versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct ClauseChange {
    /// Clause id (`"4.2.5"`), a section id for a section's own text or title,
    /// or `"preamble"` / `"title"`.
    pub id: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The text in the old version (list entries as `• ` lines); `None`
    /// for an added part.
    pub old_text: Option<String>,
    /// The text in the new version; `None` for a removed part.
    pub new_text: Option<String>,
    /// Word-level differences, for a changed clause.
    pub spans: Vec<Span>,
}

/// What changed from one version of the policy to another, for the review
/// screen of §10.3 (built by [`diff`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct PolicyDiff {
    /// The version compared from (the one the user accepted).
    pub from_version: i32,
    /// The version compared to (the one waiting for consent).
    pub to_version: i32,
    /// Added and changed parts in the new version's order, then removed
    /// ones in the old version's order. Empty if the texts are the same.
    pub changes: Vec<ClauseChange>,
    /// The changes as text ([`PolicyDiff::to_text`]), for a terminal or a
    /// plain screen.
    pub text: String,
}

/// The text of every part of a document, keyed by a stable id, in order.
fn parts(doc: &PolicyDocument) -> Vec<(String, String)> {
    fn text(blocks: &[Block]) -> String {
        blocks
            .iter()
            .map(|b| match b {
                Block::Paragraph { text } => text.clone(),
                Block::List { items } => items
                    .iter()
                    .map(|i| format!("• {}", i.text))
                    .collect::<Vec<_>>()
                    .join("\n"),
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
    let mut out = vec![
        ("title".to_string(), doc.title.clone()),
        ("preamble".to_string(), text(&doc.preamble)),
    ];
    for section in &doc.sections {
        let own = text(&section.blocks);
        let heading = if own.is_empty() {
            section.title.clone()
        } else {
            format!("{}\n{own}", section.title)
        };
        out.push((section.id.clone(), heading));
        for clause in &section.clauses {
            out.push((clause.id.clone(), text(&clause.blocks)));
        }
    }
    out
}

/// The clause-by-clause difference from `old` to `new`.
pub fn diff(old: &PolicyDocument, new: &PolicyDocument) -> PolicyDiff {
    let old_parts = parts(old);
    let new_parts = parts(new);
    let mut changes = Vec::new();
    for (id, new_text) in &new_parts {
        match old_parts.iter().find(|(old_id, _)| old_id == id) {
            None => changes.push(ClauseChange {
                id: id.clone(),
                kind: ChangeKind::Added,
                old_text: None,
                new_text: Some(new_text.clone()),
                spans: Vec::new(),
            }),
            Some((_, old_text)) if old_text != new_text => changes.push(ClauseChange {
                id: id.clone(),
                kind: ChangeKind::Changed,
                old_text: Some(old_text.clone()),
                new_text: Some(new_text.clone()),
                spans: word_spans(old_text, new_text),
            }),
            Some(_) => {}
        }
    }
    for (id, old_text) in &old_parts {
        if !new_parts.iter().any(|(new_id, _)| new_id == id) {
            changes.push(ClauseChange {
                id: id.clone(),
                kind: ChangeKind::Removed,
                old_text: Some(old_text.clone()),
                new_text: None,
                spans: Vec::new(),
            });
        }
    }
    let mut diff = PolicyDiff {
        from_version: old.version,
        to_version: new.version,
        changes,
        text: String::new(),
    };
    diff.text = diff.to_text();
    diff
}

fn word_spans(old: &str, new: &str) -> Vec<Span> {
    let diff = TextDiff::from_words(old, new);
    let mut spans: Vec<Span> = Vec::new();
    for change in diff.iter_all_changes() {
        let kind = match change.tag() {
            ChangeTag::Equal => SpanKind::Same,
            ChangeTag::Insert => SpanKind::Inserted,
            ChangeTag::Delete => SpanKind::Deleted,
        };
        match spans.last_mut() {
            Some(last) if last.kind == kind => last.text.push_str(change.value()),
            _ => spans.push(Span {
                kind,
                text: change.value().to_string(),
            }),
        }
    }
    spans
}

impl PolicyDiff {
    /// Plain text for a terminal: `+` added, `-` removed, `~` changed with
    /// `[-deleted-]{+inserted+}` marks.
    pub fn to_text(&self) -> String {
        let mut out = format!(
            "Changes from version {} to version {}:\n",
            self.from_version, self.to_version
        );
        for change in &self.changes {
            match change.kind {
                ChangeKind::Added => out.push_str(&format!(
                    "+ {}: {}\n",
                    change.id,
                    change.new_text.as_deref().unwrap_or("")
                )),
                ChangeKind::Removed => out.push_str(&format!(
                    "- {}: {}\n",
                    change.id,
                    change.old_text.as_deref().unwrap_or("")
                )),
                ChangeKind::Changed => {
                    let marked: String = change
                        .spans
                        .iter()
                        .map(|s| match s.kind {
                            SpanKind::Same => s.text.clone(),
                            SpanKind::Inserted => format!("{{+{}+}}", s.text),
                            SpanKind::Deleted => format!("[-{}-]", s.text),
                        })
                        .collect();
                    out.push_str(&format!("~ {}: {marked}\n", change.id));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Clause;

    #[test]
    fn added_removed_and_changed_clauses_are_named() {
        let old = PolicyDocument::bundled();
        let mut new = old.clone();
        new.version = 2;
        let section = new.sections.iter_mut().find(|s| s.id == "4").unwrap();
        let c425 = section
            .clauses
            .iter_mut()
            .find(|c| c.id == "4.2.5")
            .unwrap();
        c425.blocks = vec![Block::Paragraph {
            text:
                "Определения места нахождения Пользователя только для предотвращения мошенничества."
                    .into(),
        }];
        section.clauses.push(Clause {
            id: "4.2.8".into(),
            blocks: vec![Block::Paragraph {
                text: "Новая цель.".into(),
            }],
        });
        new.sections
            .iter_mut()
            .find(|s| s.id == "9")
            .unwrap()
            .clauses
            .retain(|c| c.id != "9.5");

        let d = diff(&old, &new);
        assert_eq!((d.from_version, d.to_version), (1, 2));
        let kinds: Vec<(&str, ChangeKind)> =
            d.changes.iter().map(|c| (c.id.as_str(), c.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                ("4.2.5", ChangeKind::Changed),
                ("4.2.8", ChangeKind::Added),
                ("9.5", ChangeKind::Removed)
            ]
        );
        let spans = &d.changes[0].spans;
        assert!(
            spans
                .iter()
                .any(|s| s.kind == SpanKind::Inserted && s.text.contains("только")),
            "{spans:?}"
        );
        assert!(
            spans
                .iter()
                .any(|s| s.kind == SpanKind::Deleted && s.text.contains("безопасности")),
            "{spans:?}"
        );
        let text = d.to_text();
        assert!(
            text.contains("+ 4.2.8: Новая цель.") && text.contains("- 9.5:") && text.contains("{+"),
            "{text}"
        );
    }

    #[test]
    fn identical_versions_have_no_changes() {
        let doc = PolicyDocument::bundled();
        assert!(diff(&doc, &doc).changes.is_empty());
    }
}
