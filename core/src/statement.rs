//! The written statements a decision produces for the Company: the
//! withdrawal of consent (§6.1.5: "by drawing up a written document, which
//! may be sent to the Company") and the objection to a changed policy
//! (§10.4: "send an objection to info-procredit@prozaimy.kz").
//!
//! A statement is a document of its own: who (the subject and the
//! installation), what (the permissions, the purposes with the clauses they
//! rest on, the categories of personal data of §2.3), when (UTC and the
//! device's local time), under which policy version and hash, and the ledger
//! events it rests on. It is recorded in the ledger
//! ([`EventKind::StatementIssued`](crate::ledger::EventKind::StatementIssued))
//! together with the hash of its canonical JSON, travels with the next sync,
//! and the server answers with a signed receipt of delivery
//! ([`StatementReceipt`](crate::sync::wire::StatementReceipt)), recorded
//! beside it. It is rendered in Russian (the authoritative language) as
//! plain text and Markdown, and as a ready `mailto:` link to the address the
//! policy itself names.
//!
//! Nothing here waits for the statement: the withdrawal is effective on the
//! device the moment it is recorded.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::canonical;
use crate::permissions::{localized, PermissionCatalog};
use crate::policy::{PolicyDocument, PolicyRef};

/// The [`Statement::format`] of statements of this version.
pub const STATEMENT_FORMAT: &str = "altyn-consent-statement/1";
const STATEMENT_DOMAIN: &str = "altyn-consent/statement/v1";

/// What a statement is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum StatementKind {
    /// §6.1.5: consent withdrawn.
    Withdrawal,
    /// §10.4: objection to a changed policy.
    Objection,
}

impl StatementKind {
    /// The clause the statement is made under.
    pub fn clause(self) -> &'static str {
        match self {
            StatementKind::Withdrawal => "6.1.5",
            StatementKind::Objection => "10.4",
        }
    }

    /// Its Russian title.
    pub fn title_ru(self) -> &'static str {
        match self {
            StatementKind::Withdrawal => "Заявление об отзыве согласия на сбор и обработку данных",
            StatementKind::Objection => "Возражение против изменений Политики конфиденциальности",
        }
    }
}

/// The Company as the policy names it: the controller of the data and where
/// statements go.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct Controller {
    /// Its name as the preamble gives it, e.g. `ТОО «МФО «PROcredit»`.
    pub name: String,
    /// The e-mail address the policy names for objections (§10.4) and
    /// applications (§5.7, §11.6).
    pub email: String,
}

/// A clause (or a data category) named by a statement, with its words, so
/// that the statement reads on its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cited {
    /// Clause id (`"4.2.5"`) or data category id (`"geolocation"`).
    pub id: String,
    /// Its text in the policy version the statement is made under.
    pub text: String,
}

/// One consent a withdrawal statement covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatementItem {
    /// Catalog id of the permission, or `None` for the consent to the
    /// policy itself (a withdrawal of everything).
    pub permission: Option<String>,
    /// What it is, in Russian: the permission's title, or the policy's.
    pub label: String,
    /// The purposes (§4.2 clauses) the consent was given for.
    pub purposes: Vec<Cited>,
    /// The categories of personal data (§2.3) it let the Company collect.
    pub data_categories: Vec<Cited>,
}

/// A ledger event a statement rests on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRef {
    /// The event's id.
    pub id: Uuid,
    /// Its number in the installation's ledger.
    pub seq: u64,
    /// Its hash.
    pub hash: String,
}

/// A written statement for the Company (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Statement {
    /// [`STATEMENT_FORMAT`].
    pub format: String,
    /// UUIDv7 of the statement.
    pub id: Uuid,
    /// A withdrawal or an objection.
    pub kind: StatementKind,
    /// Whose statement it is: the linked account id, else the install id.
    pub subject: String,
    /// The installation it was made on.
    pub install_id: String,
    /// To whom: the Company as the policy names it.
    pub controller: Controller,
    /// When, UTC, RFC 3339 with milliseconds (the time of the decision).
    pub issued_at: String,
    /// The same instant in the device's local time, with its offset
    /// (`2026-12-01T14:05:00.000+05:00`), if the shell told the offset.
    pub issued_at_local: Option<String>,
    /// The policy version (and hash) in force.
    pub policy: PolicyRef,
    /// The clauses the statement is made under (`6.1.5` or `10.4`) with
    /// their words.
    pub grounds: Vec<Cited>,
    /// Withdrawal: the consents withdrawn. Objection: empty.
    pub withdrawn: Vec<StatementItem>,
    /// Objection: the version objected to. Withdrawal: `None`.
    pub objected_version: Option<i32>,
    /// The ledger events that record the decision.
    pub events: Vec<EventRef>,
}

impl Statement {
    /// The hash recorded in the ledger: SHA-256 of the domain string and the
    /// statement's canonical JSON.
    pub fn hash(&self) -> String {
        canonical::domain_hash(STATEMENT_DOMAIN, self).expect("a statement always serialises")
    }

    /// The canonical JSON the hash is computed over.
    pub fn canonical_json(&self) -> String {
        String::from_utf8(canonical::to_canonical_json(self).expect("a statement serialises"))
            .expect("canonical JSON is UTF-8")
    }

    /// The statement in Russian, as plain text (what an e-mail carries).
    pub fn to_text(&self) -> String {
        render(self, false)
    }

    /// The statement in Russian, as Markdown (what a screen or a share sheet
    /// shows).
    pub fn to_markdown(&self) -> String {
        render(self, true)
    }

    /// A `mailto:` link (RFC 6068) to the Company's address with the
    /// statement's title as subject and its plain text as body.
    pub fn mailto(&self) -> String {
        mailto(
            &self.controller.email,
            &format!("{} ({})", self.kind.title_ru(), self.id),
            &self.to_text(),
        )
    }
}

/// The Company as `policy` names it: the name from the preamble ("Компания
/// ТОО «…» (далее — Компания)") and the first e-mail address of the clauses
/// on objections (10.4), applications (5.7) and questions (11.6). `None` if
/// the text names neither: a statement is then not made, and the caller
/// says why.
pub fn controller_of(policy: &PolicyDocument) -> Option<Controller> {
    let paragraphs = |blocks: &[crate::policy::Block]| -> Vec<String> {
        blocks
            .iter()
            .map(|b| match b {
                crate::policy::Block::Paragraph { text } => text.clone(),
                crate::policy::Block::List { items } => items
                    .iter()
                    .map(|i| i.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
            })
            .collect()
    };
    let name = paragraphs(&policy.preamble).iter().find_map(|p| {
        let start = p.find("Компания ")? + "Компания ".len();
        let rest = &p[start..];
        let end = rest.find(" (далее")?;
        let name = rest[..end].trim();
        (!name.is_empty()).then(|| name.to_string())
    })?;
    let email = ["10.4", "5.7", "11.6"].iter().find_map(|id| {
        let clause = policy.clause(id)?;
        paragraphs(&clause.blocks)
            .iter()
            .find_map(|p| find_email(p))
    })?;
    Some(Controller { name, email })
}

/// The first e-mail address in `text` (ASCII local part and domain).
fn find_email(text: &str) -> Option<String> {
    let is_part = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+');
    let at = text.find('@')?;
    let start = text[..at]
        .char_indices()
        .rev()
        .take_while(|(_, c)| is_part(*c))
        .last()
        .map(|(i, _)| i)?;
    let end = text[at + 1..]
        .char_indices()
        .take_while(|(_, c)| is_part(*c))
        .last()
        .map(|(i, c)| at + 1 + i + c.len_utf8())?;
    let email = text[start..end].trim_end_matches('.');
    let (local, domain) = email.split_once('@')?;
    (!local.is_empty() && domain.contains('.')).then(|| email.to_string())
}

/// The words of clause `id` in `policy`, or a note that this version lacks it.
pub(crate) fn cite_clause(policy: &PolicyDocument, id: &str) -> Cited {
    Cited {
        id: id.to_string(),
        text: policy
            .clause_summary(id)
            .unwrap_or("(пункт отсутствует в этой редакции Политики)")
            .to_string(),
    }
}

/// The statement item of one permission's consent.
pub(crate) fn item_for_permission(
    policy: &PolicyDocument,
    catalog: &PermissionCatalog,
    permission: &str,
    purposes: &[String],
) -> StatementItem {
    let entry = catalog.get(permission).ok();
    let categories = policy.data_categories();
    StatementItem {
        permission: Some(permission.to_string()),
        label: entry
            .map(|p| localized(&p.title, "ru").to_string())
            .unwrap_or_else(|| permission.to_string()),
        purposes: purposes.iter().map(|c| cite_clause(policy, c)).collect(),
        data_categories: entry
            .map(|p| {
                p.data_categories
                    .iter()
                    .map(|id| Cited {
                        id: id.clone(),
                        text: categories
                            .iter()
                            .find(|c| &c.id == id)
                            .map(|c| c.text.clone())
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The statement item of the consent to the policy itself: every purpose of
/// §4.2 and every data category of §2.3.
pub(crate) fn item_for_policy(policy: &PolicyDocument) -> StatementItem {
    StatementItem {
        permission: None,
        label: format!(
            "Согласие с Политикой конфиденциальности (редакция {}): все цели и категории данных",
            policy.version
        ),
        purposes: policy
            .clauses()
            .filter(|c| c.id.starts_with("4.2.") && c.id.matches('.').count() == 2)
            .map(|c| cite_clause(policy, &c.id))
            .collect(),
        data_categories: policy
            .data_categories()
            .into_iter()
            .map(|c| Cited {
                id: c.id,
                text: c.text,
            })
            .collect(),
    }
}

/// `time` in the offset of `offset_seconds`, RFC 3339 with milliseconds.
pub(crate) fn local_time(utc: &str, offset_seconds: Option<i32>) -> Option<String> {
    let offset = time::UtcOffset::from_whole_seconds(offset_seconds?).ok()?;
    let t = crate::ledger::parse_time(utc)?.to_offset(offset);
    const FORMAT: &[time::format_description::FormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3][offset_hour sign:mandatory]:[offset_minute]"
    );
    t.format(FORMAT).ok()
}

fn render(s: &Statement, markdown: bool) -> String {
    let mut out = String::new();
    let h = |out: &mut String, text: &str| {
        if markdown {
            out.push_str(&format!("## {text}\n\n"));
        } else {
            out.push_str(&format!("{text}\n\n"));
        }
    };
    let bullet = if markdown { "- " } else { "  • " };
    if markdown {
        out.push_str(&format!("# {}\n\n", s.kind.title_ru()));
    } else {
        out.push_str(&format!("{}\n\n", s.kind.title_ru().to_uppercase()));
    }
    out.push_str(&format!(
        "Кому: {} ({})\n",
        s.controller.name, s.controller.email
    ));
    out.push_str(&format!("От: субъект персональных данных {}\n", s.subject));
    out.push_str(&format!("Установка приложения: {}\n", s.install_id));
    match &s.issued_at_local {
        Some(local) => out.push_str(&format!(
            "Дата и время: {} (UTC), {} (местное время)\n",
            s.issued_at, local
        )),
        None => out.push_str(&format!("Дата и время: {} (UTC)\n", s.issued_at)),
    }
    out.push_str(&format!(
        "Политика конфиденциальности: {}, редакция {}, SHA-256 {}\n\n",
        s.policy.id, s.policy.version, s.policy.hash
    ));
    match s.kind {
        StatementKind::Withdrawal => {
            out.push_str(
                "Настоящим я, на основании пункта 6.1.5 Политики конфиденциальности, \
                 отзываю своё согласие на сбор и обработку данных в следующем объёме:\n\n",
            );
            for item in &s.withdrawn {
                h(&mut out, &item.label);
                if !item.purposes.is_empty() {
                    out.push_str("Цели обработки (п. 4.2):\n");
                    for p in &item.purposes {
                        out.push_str(&format!("{bullet}п. {}: {}\n", p.id, p.text));
                    }
                    out.push('\n');
                }
                if !item.data_categories.is_empty() {
                    out.push_str("Категории персональных данных (п. 2.3):\n");
                    for c in &item.data_categories {
                        out.push_str(&format!("{bullet}{}\n", c.text));
                    }
                    out.push('\n');
                }
            }
            out.push_str(
                "Отзыв действует с указанного момента: приложение прекратило использование \
                 перечисленного на устройстве. Прошу прекратить обработку, за исключением \
                 случаев, установленных законодательством Республики Казахстан.\n\n",
            );
        }
        StatementKind::Objection => {
            out.push_str(&format!(
                "Настоящим я, на основании пункта 10.4 Политики конфиденциальности, \
                 заявляю о несогласии с изменениями Политики конфиденциальности \
                 (редакция {}) и возражаю против них.\n\n",
                s.objected_version.unwrap_or(s.policy.version)
            ));
        }
    }
    h(&mut out, "Основания");
    for g in &s.grounds {
        out.push_str(&format!("{bullet}п. {}: {}\n", g.id, g.text));
    }
    out.push('\n');
    h(&mut out, "Записи журнала согласий");
    for e in &s.events {
        out.push_str(&format!(
            "{bullet}№ {} ({}), SHA-256 {}\n",
            e.seq, e.id, e.hash
        ));
    }
    out.push_str(&format!(
        "\nИдентификатор заявления: {}\nФормат: {}\n",
        s.id, s.format
    ));
    out
}

/// A `mailto:` URI (RFC 6068): `to`, with subject and body percent-encoded
/// as UTF-8 and line breaks as `%0D%0A`.
pub fn mailto(to: &str, subject: &str, body: &str) -> String {
    fn encode(text: &str) -> String {
        let mut out = String::with_capacity(text.len() * 3);
        let text = text.replace("\r\n", "\n").replace('\n', "\r\n");
        for b in text.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    format!(
        "mailto:{}?subject={}&body={}",
        to,
        encode(subject),
        encode(body)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bundled_policy_names_the_company_and_its_address() {
        let c = controller_of(&PolicyDocument::bundled()).expect("named");
        assert_eq!(c.name, "ТОО «МФО «PROcredit»");
        assert_eq!(c.email, "info-procredit@prozaimy.kz");
    }

    #[test]
    fn an_address_is_found_inside_words_and_before_a_full_stop() {
        assert_eq!(
            find_email("по адресу info-procredit@prozaimy.kz.").as_deref(),
            Some("info-procredit@prozaimy.kz")
        );
        assert_eq!(find_email("нет адреса"), None);
        assert_eq!(find_email("a@b"), None);
    }

    #[test]
    fn mailto_encodes_cyrillic_and_line_breaks() {
        let uri = mailto("a@b.kz", "Отзыв", "строка 1\nline 2 & more");
        assert!(uri.starts_with("mailto:a@b.kz?subject=%D0%9E"));
        assert!(uri.contains("%0D%0Aline%202%20%26%20more"));
        assert!(!uri.contains(' '));
    }

    #[test]
    fn local_time_carries_the_offset() {
        assert_eq!(
            local_time("2026-12-01T09:05:00.120Z", Some(5 * 3600)).as_deref(),
            Some("2026-12-01T14:05:00.120+05:00")
        );
        assert_eq!(local_time("2026-12-01T09:05:00.120Z", None), None);
    }
}
