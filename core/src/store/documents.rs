//! The policy texts and permission catalogs the store keeps.

use rusqlite::{params, OptionalExtension};

use super::*;

impl Store {
    /// Stores a policy text. The same id, version and locale with another
    /// hash is refused as a conflict; the stored text stays.
    pub fn put_policy(&self, doc: &PolicyDocument) -> Result<bool, StoreError> {
        if let Some(existing) = self.policy(&doc.id, doc.version, &doc.locale)? {
            existing.check_no_conflict(doc)?;
            return Ok(false);
        }
        let body = serde_json::to_string(doc)
            .map_err(|e| StoreError::Internal(format!("a policy does not serialise: {e}")))?;
        self.conn.execute(
            "INSERT INTO policies (policy_id, version, locale, hash, body, stored_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![doc.id, doc.version, doc.locale, doc.hash(), body, crate::ledger::format_time(time::OffsetDateTime::now_utc())],
        )?;
        Ok(true)
    }

    /// The stored text of policy `id`, `version`, `locale`, if any.
    pub(crate) fn policy(
        &self,
        id: &str,
        version: i32,
        locale: &str,
    ) -> Result<Option<PolicyDocument>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM policies WHERE policy_id = ?1 AND version = ?2 AND locale = ?3",
                params![id, version, locale],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| decode_policy(&b)).transpose()
    }

    /// Every stored text of the newest stored version of policy `id`.
    pub fn latest_policies(&self, id: &str) -> Result<Vec<PolicyDocument>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT body FROM policies WHERE policy_id = ?1 AND version = (SELECT max(version) FROM policies WHERE policy_id = ?1) ORDER BY locale",
        )?;
        let bodies = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .collect::<Result<Vec<_>, _>>()?;
        bodies.iter().map(|b| decode_policy(b)).collect()
    }

    /// Every stored policy text whose hash is among `hashes`.
    pub fn policies_by_hash(&self, hashes: &[String]) -> Result<Vec<PolicyDocument>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT body FROM policies WHERE hash = ?1")?;
        let mut out = Vec::new();
        for hash in hashes {
            if let Some(body) = stmt
                .query_row([hash], |r| r.get::<_, String>(0))
                .optional()?
            {
                out.push(decode_policy(&body)?);
            }
        }
        Ok(out)
    }

    /// Stores a permission catalog; a version already stored is kept as it
    /// is.
    pub(crate) fn put_catalog(&self, catalog: &PermissionCatalog) -> Result<(), StoreError> {
        let body = serde_json::to_string(catalog)
            .map_err(|e| StoreError::Internal(format!("a catalog does not serialise: {e}")))?;
        self.conn.execute(
            "INSERT OR IGNORE INTO catalogs (version, body, stored_at) VALUES (?1, ?2, ?3)",
            params![
                catalog.version,
                body,
                crate::ledger::format_time(time::OffsetDateTime::now_utc())
            ],
        )?;
        Ok(())
    }

    /// The newest stored permission catalog, if any.
    pub fn latest_catalog(&self) -> Result<Option<PermissionCatalog>, StoreError> {
        let body: Option<String> = self
            .conn
            .query_row(
                "SELECT body FROM catalogs ORDER BY version DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        body.map(|b| {
            PermissionCatalog::parse(b.as_bytes()).map_err(|e| StoreError::Decode(e.to_string()))
        })
        .transpose()
    }
}

pub(super) fn decode_policy(body: &str) -> Result<PolicyDocument, StoreError> {
    PolicyDocument::parse(body.as_bytes())
        .map_err(|e| StoreError::Decode(format!("a stored policy does not parse: {e}")))
}
