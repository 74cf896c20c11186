//! Recovery: the explicit way out of a store that cannot be read (missing,
//! damaged, key lost). Nothing here happens on its own: `open` only reports,
//! and the app or the user calls `recover`. The unreadable files are moved
//! aside, never deleted; the new ledger records the loss as its own event;
//! what the server holds is restored first when it can be reached.

use serde::Serialize;

use super::sync::fetch_restore_plan;
use super::{ClientConfig, ConsentClient, ConsentError};
use crate::error::ErrorKind;
use crate::ledger::EventKind;
use crate::store::{quarantine, Store, StoreError, StoreKey, KEYCHECK_FILE};
use crate::sync::api::Api;
use crate::sync::SyncConfig;

/// What `recover` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct RecoveryReport {
    /// Why the old store could not be read: `store_missing`,
    /// `store_damaged` or `key_lost`.
    pub reason: ErrorKind,
    /// The id of the store that was lost, if anything named it.
    pub lost_store_id: Option<String>,
    /// Where its files were moved (kept), if any were left.
    pub quarantine: Option<String>,
    /// Events restored from the server (0 if it was not asked or held none).
    pub restored_events: i64,
    /// The number of the last event of the lost ledger that the server
    /// held, if it held any.
    pub server_head_events: Option<i64>,
    /// That event's hash.
    pub server_head_hash: Option<String>,
}

/// A recovered store, open, and the account of what happened.
pub struct Recovered {
    /// The client of the new store, open for reading and writing; its
    /// ledger starts with (or continues, after restore, with) the
    /// `store_recovered` event.
    pub client: ConsentClient,
    /// What was lost, kept and restored.
    pub report: RecoveryReport,
}

impl ConsentClient {
    /// Recovers a store that cannot be read: only for the kinds
    /// [`ErrorKind::StoreMissing`], [`ErrorKind::StoreDamaged`] and
    /// [`ErrorKind::KeyLost`] (see [`ErrorKind::calls_for_recovery`]); a
    /// readable store, a locked keystore or a store from a newer app is
    /// refused and left alone.
    ///
    /// With `server`, the subject's ledger is fetched and checked first
    /// (nothing is moved if that fails, so the call can be repeated when the
    /// network is back). Then the store's files are moved into
    /// `quarantine/<UTC time>-<reason>/` beside it, a new store is created,
    /// the server's ledger (if any) is imported, and a `store_recovered`
    /// event records the loss: the old store's id, the reason, the
    /// quarantine folder and what the server had acknowledged. Without
    /// `server` the new ledger starts with that event.
    pub async fn recover(
        config: ClientConfig,
        server: Option<&SyncConfig>,
    ) -> Result<Recovered, ConsentError> {
        let (reason, lost_store_id) = Self::why_unreadable(&config)?;
        let fetched = match server {
            Some(sync) => {
                let api = Api::new(&sync.base_url)?;
                let http = sync.http()?;
                let (plan, token) = fetch_restore_plan(http.as_ref(), &api, sync).await?;
                Some((http, api, token, plan))
            }
            None => None,
        };

        let dir = &config.data_dir;
        let leftovers = crate::store::STORE_FILES
            .iter()
            .any(|name| dir.join(name).exists());
        let quarantined = if leftovers {
            let stamp = config
                .clock
                .now()
                .to_offset(time::UtcOffset::UTC)
                .format(time::macros::format_description!(
                    "[year][month][day]T[hour][minute][second]Z"
                ))
                .expect("a UTC time formats");
            Some(quarantine(dir, &stamp, reason.name())?)
        } else {
            None
        };
        tracing::warn!(
            reason = reason.name(),
            "consent store recovered; old files kept aside"
        );

        let ids = config.ids.clone();
        let store = Store::create_replacing(
            dir,
            StoreKey::Provider(config.key_provider.as_ref()),
            &config.installation_marker,
            || ids.install_id().to_string(),
        )?;
        let client = Self::from_store(store, config)?;
        let plan = fetched.as_ref().and_then(|(_, _, _, plan)| plan.clone());
        if let Some(plan) = &plan {
            client.import_plan(plan)?;
        }
        let server_head = plan.as_ref().map(|p| p.head.clone());
        {
            let mut inner = client.lock_fresh()?;
            let policy = inner.authoritative_ref();
            inner.record(
                policy,
                EventKind::StoreRecovered {
                    lost_store_id: lost_store_id.clone(),
                    reason: reason.name().to_string(),
                    quarantine: quarantined
                        .as_ref()
                        .and_then(|p| p.file_name())
                        .map(|n| n.to_string_lossy().into_owned()),
                    server_head: server_head.clone(),
                },
            )?;
            // Only now is the new store complete: a crash before this line
            // leaves it marked as an interrupted recovery.
            inner.store.finish_recovery()?;
        }
        if let (Some((http, api, token, _)), Some(sync)) = (&fetched, server) {
            // A newer policy version, if any; its failure is for the next sync.
            let _ = client.refresh_policy(http.as_ref(), api, token, sync).await;
        }
        Ok(Recovered {
            client,
            report: RecoveryReport {
                reason,
                lost_store_id,
                quarantine: quarantined.map(|p| p.display().to_string()),
                restored_events: plan.as_ref().map_or(0, |p| p.events.len() as i64),
                server_head_events: server_head.as_ref().map(|h| h.events as i64),
                server_head_hash: server_head.map(|h| h.hash),
            },
        })
    }

    /// Why the store cannot be read, if it is a reason to recover; an
    /// error otherwise. Writes nothing.
    fn why_unreadable(config: &ClientConfig) -> Result<(ErrorKind, Option<String>), ConsentError> {
        // Reads take no lock: another process writing meanwhile could make a
        // healthy store look damaged. The files must be the same before and
        // after the check for its verdict to count.
        let files_before = file_stats(&config.data_dir);
        let opened = Self::open_read_only(config.clone()).and_then(|client| client.verify());
        if file_stats(&config.data_dir) != files_before {
            return Err(StoreError::Io {
                path: config.data_dir.display().to_string(),
                source: std::io::Error::other(
                    "the store changed while it was checked (is the app using it?); nothing was moved, try again",
                ),
            }
            .into());
        }
        let error = match opened {
            Ok(_) | Err(ConsentError::NoTrustedKey { .. }) => {
                return Err(ConsentError::NothingToRecover(
                    "the store opens and its pages check out; nothing is lost".into(),
                ))
            }
            Err(e) => e,
        };
        let kind = error.kind();
        if kind == ErrorKind::NoStoreYet {
            return Err(ConsentError::NothingToRecover(
                "there is no store yet: opening it creates one".into(),
            ));
        }
        if kind == ErrorKind::VerificationFailed {
            return Err(ConsentError::NothingToRecover(format!(
                "the store opens, but its proof does not check out ({error}). That is evidence of \
                 an alteration: keep the store as it is and investigate; recovery is not for this"
            )));
        }
        if !kind.calls_for_recovery() {
            return Err(error);
        }
        let lost_store_id = match &error {
            ConsentError::Store(StoreError::StoreMissing { store_id, .. }) => store_id.clone(),
            ConsentError::Store(StoreError::KeyMissing { store_id }) => Some(store_id.clone()),
            _ => std::fs::read(config.data_dir.join(KEYCHECK_FILE))
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v.get("store_id").and_then(|s| s.as_str()).map(String::from)),
        };
        Ok((kind, lost_store_id))
    }
}

/// Size and modification time of each store file present.
fn file_stats(dir: &std::path::Path) -> Vec<(String, u64, Option<std::time::SystemTime>)> {
    crate::store::STORE_FILES
        .iter()
        .filter_map(|name| {
            let meta = std::fs::metadata(dir.join(name)).ok()?;
            Some((name.to_string(), meta.len(), meta.modified().ok()))
        })
        .collect()
}
