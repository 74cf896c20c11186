//! Builds a [`PolicyDocument`] from the policy's plain text, as the company
//! publishes it (text extracted from its PDF, one printed line per line).
//!
//! The words are kept exactly; only the layout of the extraction is undone
//! (line breaks, hyphenated line ends, runs of spaces) and the typing errors
//! listed in [`FIXES`] are corrected, each one named and counted, so a reviewer
//! can check that nothing else changed. `core/tests/policy_seed.rs` proves it
//! word by word against the seed.

use super::{Block, Clause, ListItem, PolicyDocument, Section, POLICY_FORMAT};

/// A correction of an obvious typing error in the seed.
#[derive(Debug, Clone, Copy)]
pub struct TextFix {
    /// The text as the seed has it; a space also matches a line break.
    pub from: &'static str,
    /// What replaces it.
    pub to: &'static str,
    /// How many times the error occurs in the seed; the import fails if the
    /// seed differs, so a fix can never apply where it was not reviewed.
    pub occurrences: usize,
    /// Where the error is and what is wrong, for the reviewer.
    pub reason: &'static str,
}

/// Every correction made to the seed text, in the order applied.
pub const FIXES: &[TextFix] = &[
    TextFix {
        from: "использующему Интернет-ресурс/",
        to: "использующему Интернет-ресурс.",
        occurrences: 1,
        reason: "§1: a slash typed for the full stop that ends the definition",
    },
    TextFix {
        from: "Интернет ресрус",
        to: "Интернет-ресурс",
        occurrences: 1,
        reason: "§1: misspelt \"ресрус\" and the missing hyphen of \"Интернет-ресурс\"",
    },
    TextFix {
        from: "соглашается с предоставлять",
        to: "соглашается предоставлять",
        occurrences: 1,
        reason: "preamble: a stray preposition \"с\"",
    },
    TextFix {
        from: "Интернет-ресурса а,",
        to: "Интернет-ресурса,",
        occurrences: 2,
        reason: "§4.2, §6.3.4: a stray letter \"а\" split off the word",
    },
    TextFix {
        from: "Интернет-ресурса е ",
        to: "Интернет-ресурсе ",
        occurrences: 1,
        reason: "§4.2.1: the ending \"е\" split off \"Интернет-ресурсе\"",
    },
    TextFix {
        from: "Интернет-ресурса а ",
        to: "Интернет-ресурса ",
        occurrences: 1,
        reason: "§4.2.4: a stray letter \"а\" split off the word",
    },
    TextFix {
        from: "Интернет-ресурса у ",
        to: "Интернет-ресурсу ",
        occurrences: 3,
        reason: "§5.3, §5.7, §11.2: the ending \"у\" split off \"Интернет-ресурсу\"",
    },
    TextFix {
        from: "Интернет-ресурc",
        to: "Интернет-ресурс",
        occurrences: 1,
        reason: "§5.6: a Latin \"c\" typed for the Cyrillic \"с\"",
    },
    TextFix {
        from: "и порталы и порталы",
        to: "и порталы",
        occurrences: 1,
        reason: "§6.3.3: the words \"и порталы\" typed twice",
    },
    TextFix {
        from: "Компания в праве",
        to: "Компания вправе",
        occurrences: 1,
        reason: "§8.1: \"вправе\" written as two words",
    },
    TextFix {
        from: "ассиметричного",
        to: "асимметричного",
        occurrences: 1,
        reason: "§9.3: misspelt \"асимметричного\"",
    },
];

/// Lines of the extracted text that are not part of the policy: the PDF's
/// link annotation printed after §10.6 (`mailto:...`). The address itself is
/// in §5.7, §10.4 and §11.6.
pub const DROPPED_LINE_PREFIXES: &[&str] = &["mailto:"];

/// What the text itself does not say.
#[derive(Debug, Clone)]
pub struct SeedMeta {
    /// The document's [`PolicyDocument::id`], e.g. `altyncoin-privacy`.
    pub id: String,
    /// The document's version, 1 or higher.
    pub version: i32,
    /// BCP 47 tag of the text, e.g. `ru`.
    pub locale: String,
    /// Date the version takes effect, `YYYY-MM-DD`.
    pub effective_date: String,
    /// How many leading lines form the title.
    pub title_lines: usize,
    /// Ids for the items of the list of personal data (§2.3), in order.
    pub category_ids: Vec<String>,
    /// The clause whose list is the list of personal data.
    pub category_clause: String,
}

/// Ids of the 25 categories of personal data of §2.3, in the order of the text.
pub const ALTYNCOIN_CATEGORY_IDS: [&str; 25] = [
    "full_name",
    "iin",
    "citizenship",
    "sex",
    "address",
    "identity_document",
    "phone_numbers",
    "email",
    "bank_card_account",
    "selfie_photo",
    "identity_document_photo",
    "foreign_pep_status",
    "beneficial_owner_status",
    "family_status",
    "microcredit",
    "device_info",
    "ip_address",
    "employer",
    "browser_device_info",
    "server_log",
    "cookies_and_trackers",
    "usage_data",
    "location",
    "access_time",
    "other_information",
];

impl SeedMeta {
    /// The metadata of the bundled Altyncoin policy. The seed carries no
    /// date; the effective date is the day this text was bundled.
    pub fn altyncoin_ru() -> Self {
        SeedMeta {
            id: "altyncoin-privacy".into(),
            version: 1,
            locale: "ru".into(),
            effective_date: "2026-11-24".into(),
            title_lines: 2,
            category_ids: ALTYNCOIN_CATEGORY_IDS
                .iter()
                .map(|s| s.to_string())
                .collect(),
            category_clause: "2.3".into(),
        }
    }
}

/// Why the seed text could not be imported. Nothing is written; the seed
/// or the reviewed fixes must change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SeedError {
    /// The seed holds no text (after dropping blank and link lines).
    #[error("the seed text is empty")]
    Empty,
    /// A fix of [`FIXES`] occurs another number of times than reviewed:
    /// the seed changed, so the fix must be reviewed again.
    #[error(
        "fix {from:?} → {to:?} was reviewed for {expected} occurrence(s) but the text has {found}"
    )]
    FixMismatch {
        /// The fix's [`TextFix::from`].
        from: String,
        /// The fix's [`TextFix::to`].
        to: String,
        /// [`TextFix::occurrences`]: the count reviewed.
        expected: usize,
        /// The count in this seed.
        found: usize,
    },
    /// The lines do not form the expected policy (nothing after the title,
    /// a clause before any section, a list of personal data missing or of
    /// another length than the category ids); says where.
    #[error("the seed text is out of order: {0}")]
    Structure(String),
    /// The built document fails [`PolicyDocument::validate`].
    #[error(transparent)]
    Policy(#[from] super::PolicyError),
}

/// The seed text as one line per printed line, with the extraction's layout
/// undone and every fix applied. Lines ending in a hyphen (`Интернет-`) are
/// joined to the next without a space.
pub fn clean_lines(text: &str) -> Result<Vec<String>, SeedError> {
    let mut joined = join_printed_lines(text);
    if joined.is_empty() {
        return Err(SeedError::Empty);
    }
    for fix in FIXES {
        joined = apply_fix(&joined, fix)?;
    }
    Ok(joined.split('\n').map(str::to_string).collect())
}

fn join_printed_lines(text: &str) -> String {
    let mut joined = String::with_capacity(text.len());
    for line in text.lines() {
        let line = line.split_whitespace().collect::<Vec<_>>().join(" ");
        if line.is_empty() || DROPPED_LINE_PREFIXES.iter().any(|p| line.starts_with(p)) {
            continue;
        }
        if !joined.is_empty() && !joined.ends_with('-') {
            joined.push('\n');
        }
        joined.push_str(&line);
    }
    joined
}

/// Replaces every occurrence of the fix, letting a space in the pattern match
/// a line break (a typing error may straddle two printed lines).
fn apply_fix(text: &str, fix: &TextFix) -> Result<String, SeedError> {
    let flat = text.replace('\n', " ");
    let positions: Vec<usize> = flat.match_indices(fix.from).map(|(i, _)| i).collect();
    if positions.len() != fix.occurrences {
        return Err(SeedError::FixMismatch {
            from: fix.from.into(),
            to: fix.to.into(),
            expected: fix.occurrences,
            found: positions.len(),
        });
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for start in positions {
        out.push_str(&text[last..start]);
        out.push_str(fix.to);
        last = start + fix.from.len();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// A clause number at the start of a line: `"4.2.5. text"` → `("4.2.5", "text")`.
fn clause_start(line: &str) -> Option<(&str, &str)> {
    let (number, rest) = line
        .split_once(". ")
        .or_else(|| line.strip_suffix('.').map(|n| (n, "")))?;
    let parts: Vec<&str> = number.split('.').collect();
    let numeric = parts
        .iter()
        .all(|p| !p.is_empty() && p.len() <= 3 && p.bytes().all(|b| b.is_ascii_digit()));
    (numeric && parts.len() >= 2).then_some((number, rest))
}

/// A section heading at the start of a line: `"6. Права ..."` → `("6", "Права ...")`.
fn section_start(line: &str, expected: u32) -> Option<(&str, &str)> {
    let (number, rest) = line.split_once(". ")?;
    (number.parse::<u32>().ok() == Some(expected)).then_some((number, rest))
}

enum Unit {
    Preamble(Vec<String>),
    Section { id: String, lines: Vec<String> },
    Clause { id: String, lines: Vec<String> },
}

/// Imports the seed text into a validated document.
pub fn import(text: &str, meta: &SeedMeta) -> Result<PolicyDocument, SeedError> {
    let lines = clean_lines(text)?;
    if lines.len() <= meta.title_lines {
        return Err(SeedError::Structure("nothing after the title".into()));
    }
    let title = lines[..meta.title_lines].join(" ");

    let mut units = vec![Unit::Preamble(Vec::new())];
    let mut section_number = 0u32;
    for line in &lines[meta.title_lines..] {
        if let Some((id, rest)) = section_start(line, section_number + 1) {
            section_number += 1;
            units.push(Unit::Section {
                id: id.into(),
                lines: vec![rest.into()],
            });
            continue;
        }
        if let Some((id, rest)) = clause_start(line) {
            if section_number > 0
                && id.split('.').next() == Some(section_number.to_string().as_str())
            {
                units.push(Unit::Clause {
                    id: id.into(),
                    lines: vec![rest.into()],
                });
                continue;
            }
        }
        match units.last_mut() {
            Some(
                Unit::Preamble(lines) | Unit::Section { lines, .. } | Unit::Clause { lines, .. },
            ) => lines.push(line.clone()),
            None => unreachable!("units starts with the preamble"),
        }
    }

    let mut preamble = Vec::new();
    let mut sections: Vec<Section> = Vec::new();
    let mut units = units.into_iter().peekable();
    while let Some(unit) = units.next() {
        match unit {
            Unit::Preamble(lines) => preamble = blocks_from_lines(&lines),
            Unit::Section { id, lines } => {
                let has_clauses = matches!(units.peek(), Some(Unit::Clause { .. }));
                // A heading may run over two printed lines (§6, §7); a section
                // without clauses (§1) has its heading on one line and text after.
                let (title, blocks) = if has_clauses {
                    (lines.join(" "), Vec::new())
                } else {
                    (lines[0].clone(), blocks_from_lines(&lines[1..]))
                };
                sections.push(Section {
                    id,
                    title,
                    blocks,
                    clauses: Vec::new(),
                });
            }
            Unit::Clause { id, lines } => {
                let mut blocks = blocks_from_lines(&lines);
                if id == meta.category_clause {
                    tag_categories(&mut blocks, &meta.category_ids, &id)?;
                }
                sections
                    .last_mut()
                    .ok_or_else(|| SeedError::Structure(format!("clause {id} before any section")))?
                    .clauses
                    .push(Clause { id, blocks });
            }
        }
    }

    let doc = PolicyDocument {
        format: POLICY_FORMAT,
        id: meta.id.clone(),
        version: meta.version,
        locale: meta.locale.clone(),
        effective_date: meta.effective_date.clone(),
        title,
        preamble,
        sections,
    };
    doc.validate()?;
    Ok(doc)
}

fn tag_categories(blocks: &mut [Block], ids: &[String], clause: &str) -> Result<(), SeedError> {
    let items = blocks
        .iter_mut()
        .find_map(|b| match b {
            Block::List { items } => Some(items),
            Block::Paragraph { .. } => None,
        })
        .ok_or_else(|| {
            SeedError::Structure(format!("clause {clause} has no list of personal data"))
        })?;
    if items.len() != ids.len() {
        return Err(SeedError::Structure(format!(
            "clause {clause} lists {} categories of personal data but {} ids were given",
            items.len(),
            ids.len()
        )));
    }
    for (item, id) in items.iter_mut().zip(ids) {
        item.category = Some(id.clone());
    }
    Ok(())
}

/// Groups printed lines into paragraphs and lists.
///
/// A paragraph ends where a line ends a sentence (`.` or `!`) and the next
/// begins with a capital letter. A line ending in `:` opens a list; each item
/// ends with `;`, and the item that ends with `.` closes the list.
fn blocks_from_lines(lines: &[String]) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut paragraph: Vec<&str> = Vec::new();
    let mut items: Vec<ListItem> = Vec::new();
    let mut item: Vec<&str> = Vec::new();
    let mut in_list = false;

    fn flush_paragraph(paragraph: &mut Vec<&str>, blocks: &mut Vec<Block>) {
        if !paragraph.is_empty() {
            blocks.push(Block::Paragraph {
                text: paragraph.join(" "),
            });
            paragraph.clear();
        }
    }

    for line in lines {
        let line = line.as_str();
        if in_list {
            item.push(line);
            if line.ends_with(';') || line.ends_with('.') {
                items.push(ListItem {
                    category: None,
                    text: item.join(" "),
                });
                item.clear();
                if line.ends_with('.') {
                    blocks.push(Block::List {
                        items: std::mem::take(&mut items),
                    });
                    in_list = false;
                }
            }
            continue;
        }
        if let Some(previous) = paragraph.last() {
            let ends_sentence = previous.ends_with('.') || previous.ends_with('!');
            let starts_sentence = line
                .chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || c == '«');
            if ends_sentence && starts_sentence {
                flush_paragraph(&mut paragraph, &mut blocks);
            }
        }
        paragraph.push(line);
        if line.ends_with(':') {
            flush_paragraph(&mut paragraph, &mut blocks);
            in_list = true;
        }
    }
    if !item.is_empty() {
        items.push(ListItem {
            category: None,
            text: item.join(" "),
        });
    }
    if !items.is_empty() {
        blocks.push(Block::List { items });
    }
    flush_paragraph(&mut paragraph, &mut blocks);
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hyphenated_line_ends_join_without_space() {
        let joined =
            join_printed_lines("при   использовании Интернет- \n \nресурса, а\nmailto:x@y\nдалее");
        assert_eq!(joined, "при использовании Интернет-ресурса, а\nдалее");
        assert_eq!(clean_lines(" \n"), Err(SeedError::Empty));
    }

    #[test]
    fn a_fix_that_no_longer_matches_stops_the_import() {
        let fix = TextFix {
            from: "ресрус",
            to: "ресурс",
            occurrences: 1,
            reason: "test",
        };
        assert!(matches!(
            apply_fix("нет ошибок", &fix),
            Err(SeedError::FixMismatch { found: 0, .. })
        ));
        assert_eq!(
            apply_fix(
                "Интернет\nресрус",
                &TextFix {
                    from: "Интернет ресрус",
                    ..fix
                }
            )
            .unwrap(),
            "ресурс"
        );
    }

    #[test]
    fn clause_and_section_numbers_are_recognised() {
        assert_eq!(
            clause_start("4.2.5. Определения места"),
            Some(("4.2.5", "Определения места"))
        );
        assert_eq!(clause_start("18 лет."), None);
        assert_eq!(clause_start("6. Права"), None);
        assert_eq!(section_start("6. Права", 6), Some(("6", "Права")));
        assert_eq!(section_start("6. Права", 7), None);
    }

    #[test]
    fn lists_and_paragraphs() {
        let lines: Vec<String> = [
            "Текст такие как:",
            "первый;",
            "второй длинный",
            "пункт.",
            "Новый абзац.",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let blocks = blocks_from_lines(&lines);
        assert_eq!(blocks.len(), 3);
        match &blocks[1] {
            Block::List { items } => {
                assert_eq!(items[1].text, "второй длинный пункт.");
            }
            other => panic!("expected a list, got {other:?}"),
        }
    }
}
