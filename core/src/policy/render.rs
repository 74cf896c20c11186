//! Rendering a policy for a screen: plain text (a text view, a terminal) or
//! Markdown (a Markdown view). Text is never wrapped here; screens wrap.

use super::{Block, Clause, PolicyDocument, PolicyError, Section};

/// The form [`render_document`] and [`render_section`] write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderFormat {
    /// Plain text: headings and clause numbers as text, `•` bullets.
    PlainText,
    /// Markdown: `#`/`##` headings, bold clause numbers, `-` lists, the
    /// policy's own characters escaped so it shows as written.
    Markdown,
}

/// The whole document.
pub fn render_document(doc: &PolicyDocument, format: RenderFormat) -> String {
    let mut out = String::new();
    match format {
        RenderFormat::PlainText => {
            out.push_str(&doc.title);
            out.push_str("\n\n");
        }
        RenderFormat::Markdown => {
            out.push_str("# ");
            out.push_str(&escape_markdown(&doc.title));
            out.push_str("\n\n");
        }
    }
    render_blocks(&doc.preamble, format, &mut out);
    for section in &doc.sections {
        render_section_body(
            section,
            &section.clauses.iter().collect::<Vec<_>>(),
            format,
            &mut out,
        );
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    out
}

/// One section (`"6"`) or one clause with the clauses under it (`"6.1"`
/// renders 6.1 and 6.1.1–6.1.5), under its section's heading.
pub fn render_section(
    doc: &PolicyDocument,
    id: &str,
    format: RenderFormat,
) -> Result<String, PolicyError> {
    let id = id.trim().trim_end_matches('.');
    let section_id = id.split('.').next().unwrap_or("");
    let section = doc
        .sections
        .iter()
        .find(|s| s.id == section_id)
        .filter(|_| doc.has_clause(id))
        .ok_or_else(|| PolicyError::UnknownSection {
            id: id.to_string(),
            known: doc.section_ids().join(", "),
        })?;
    let mut out = String::new();
    if section.id == id {
        render_section_body(
            section,
            &section.clauses.iter().collect::<Vec<_>>(),
            format,
            &mut out,
        );
    } else {
        let nested_prefix = format!("{id}.");
        let clauses: Vec<&Clause> = section
            .clauses
            .iter()
            .filter(|c| c.id == id || c.id.starts_with(&nested_prefix))
            .collect();
        let heading_only = Section {
            blocks: Vec::new(),
            ..section.clone()
        };
        render_section_body(&heading_only, &clauses, format, &mut out);
    }
    out.truncate(out.trim_end().len());
    out.push('\n');
    Ok(out)
}

fn render_section_body(
    section: &Section,
    clauses: &[&Clause],
    format: RenderFormat,
    out: &mut String,
) {
    match format {
        RenderFormat::PlainText => out.push_str(&format!("{}. {}\n\n", section.id, section.title)),
        RenderFormat::Markdown => out.push_str(&format!(
            "## {}. {}\n\n",
            section.id,
            escape_markdown(&section.title)
        )),
    }
    render_blocks(&section.blocks, format, out);
    for clause in clauses {
        render_clause(clause, format, out);
    }
}

fn render_clause(clause: &Clause, format: RenderFormat, out: &mut String) {
    let depth = clause.id.matches('.').count();
    let indent = "  ".repeat(depth.saturating_sub(1));
    for (i, block) in clause.blocks.iter().enumerate() {
        match (i, block, format) {
            (0, Block::Paragraph { text }, RenderFormat::PlainText) => {
                out.push_str(&format!("{indent}{}. {text}\n\n", clause.id));
            }
            (0, Block::Paragraph { text }, RenderFormat::Markdown) => {
                out.push_str(&format!("**{}.** {}\n\n", clause.id, escape_markdown(text)));
            }
            (_, Block::Paragraph { text }, RenderFormat::PlainText) => {
                out.push_str(&format!("{indent}{text}\n\n"))
            }
            (_, block, _) => render_blocks(std::slice::from_ref(block), format, out),
        }
    }
}

fn render_blocks(blocks: &[Block], format: RenderFormat, out: &mut String) {
    for block in blocks {
        match (block, format) {
            (Block::Paragraph { text }, RenderFormat::PlainText) => {
                out.push_str(text);
                out.push_str("\n\n");
            }
            (Block::Paragraph { text }, RenderFormat::Markdown) => {
                out.push_str(&escape_markdown(text));
                out.push_str("\n\n");
            }
            (Block::List { items }, RenderFormat::PlainText) => {
                for item in items {
                    out.push_str("  • ");
                    out.push_str(&item.text);
                    out.push('\n');
                }
                out.push('\n');
            }
            (Block::List { items }, RenderFormat::Markdown) => {
                for item in items {
                    out.push_str("- ");
                    out.push_str(&escape_markdown(&item.text));
                    out.push('\n');
                }
                out.push('\n');
            }
        }
    }
}

/// Escapes the characters that Markdown would read as markup, so the policy
/// text shows exactly as written.
fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for (i, c) in text.chars().enumerate() {
        let at_start = i == 0;
        match c {
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '#' | '+' | '-' if at_start => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_document_has_every_clause_once() {
        let doc = PolicyDocument::bundled();
        let text = render_document(&doc, RenderFormat::PlainText);
        assert!(text.starts_with(&doc.title));
        for clause in doc.clauses() {
            let marker = format!("{}. ", clause.id);
            assert!(text.contains(&marker), "clause {} missing", clause.id);
        }
    }

    #[test]
    fn one_clause_renders_with_its_children_only() {
        let doc = PolicyDocument::bundled();
        let text = render_section(&doc, "6.1", RenderFormat::PlainText).unwrap();
        assert!(text.starts_with("6. Права и обязанности"), "{text}");
        assert!(text.contains("6.1. Пользователь Интернет-ресурса имеет право:"));
        assert!(text.contains("6.1.5. отзыва своего согласия"));
        assert!(!text.contains("6.2."), "6.2 must not appear under 6.1");
    }

    #[test]
    fn markdown_section_has_heading_and_bold_clause_numbers() {
        let doc = PolicyDocument::bundled();
        let md = render_section(&doc, "10", RenderFormat::Markdown).unwrap();
        assert!(
            md.starts_with("## 10. Изменения в политике конфиденциальности\n"),
            "{md}"
        );
        assert!(md.contains("**10.4.** В случае несогласия"));
        let md = render_section(&doc, "2.3", RenderFormat::Markdown).unwrap();
        assert!(
            md.contains("\n- индивидуальный идентификационный номер (ИИН);\n"),
            "{md}"
        );
    }

    #[test]
    fn unknown_section_lists_the_known_ones() {
        let doc = PolicyDocument::bundled();
        let err = render_section(&doc, "12.1", RenderFormat::PlainText).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("12.1") && message.contains("1, 2, 3"),
            "{message}"
        );
        assert!(render_section(&doc, "6.9", RenderFormat::PlainText).is_err());
    }

    #[test]
    fn markdown_escapes_markup() {
        assert_eq!(escape_markdown("a*b_c [x] <y>"), r"a\*b\_c \[x\] \<y\>");
        assert_eq!(escape_markdown("- not a list"), r"\- not a list");
        assert_eq!(escape_markdown("cookie-файлов"), "cookie-файлов");
    }
}
