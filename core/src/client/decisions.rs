//! The decisions a user makes, each checked against the rules and recorded
//! as one ledger event: acceptance with the 18+ attestation, objection,
//! the notice shown, permissions, OS status, withdrawal, account linking;
//! and the documents they are made under (policy versions, the catalog).

use super::*;

impl ConsentClient {
    /// Records acceptance of the policy text shown (`version`, `hash`,
    /// `locale`) with the 18+ attestation. Accepting a version that is already
    /// accepted records nothing new.
    pub fn accept_policy(
        &self,
        version: i32,
        hash: &str,
        locale: &str,
        age_confirmed: bool,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        // Preamble, §11.1: the app is for adults; no attestation, no consent.
        if !age_confirmed {
            return Err(ConsentError::AgeNotConfirmed);
        }
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        if let PolicyStatus::Accepted { version: v, .. } = inner.state()?.policy {
            if v == version {
                return inner.state();
            }
        }
        inner.record(
            shown,
            EventKind::PolicyAccepted {
                locale,
                age_confirmed: true,
            },
        )?;
        inner.state()
    }

    /// §10.4: records the user's objection to the current version.
    pub fn object_to_policy(
        &self,
        version: i32,
        hash: &str,
        locale: &str,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        if let PolicyStatus::Objected { version: v, .. } = inner.state()?.policy {
            if v == version {
                return inner.state();
            }
        }
        inner.record(shown, EventKind::PolicyObjected { locale })?;
        inner.state()
    }

    /// §10.2: records that the notice of the current version was shown.
    pub fn record_notice_shown(
        &self,
        version: i32,
        hash: &str,
        locale: &str,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let (shown, locale) = inner.check_current(version, hash, locale)?;
        let previous_version = match inner.state()?.policy {
            PolicyStatus::ReconsentRequired { from_version, .. } => Some(from_version),
            _ => None,
        };
        inner.record(
            shown,
            EventKind::PolicyNoticeShown {
                locale,
                previous_version,
            },
        )?;
        inner.state()
    }

    /// §2.4, §6.1.3: the user allows or refuses one device function, for the
    /// purposes the catalog names. The same decision again records nothing.
    pub fn set_permission(
        &self,
        permission: &str,
        granted: bool,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let purposes = inner.catalog.get(permission)?.purposes.clone();
        let state = inner.state()?;
        if !state.can_proceed {
            return Err(ConsentError::PolicyNotAccepted {
                status: describe_policy_status(&state.policy),
            });
        }
        let current = state
            .permission(permission)
            .expect("catalog permissions are in the state");
        let wanted = if granted {
            UserConsent::Granted
        } else {
            UserConsent::Denied
        };
        if current.consent == wanted && current.consented_purposes == purposes {
            return Ok(state);
        }
        let decision = if granted {
            Decision::Granted
        } else {
            Decision::Denied
        };
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::PermissionDecided {
                permission: permission.to_string(),
                decision,
                purposes,
            },
        )?;
        inner.state()
    }

    /// The shell reports what the OS says. Only a change is recorded, so a
    /// shell may report on every start.
    pub fn report_os_status(
        &self,
        permission: &str,
        status: OsStatus,
    ) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        inner.catalog.get(permission)?;
        let state = inner.state()?;
        let unchanged = state
            .permission(permission)
            .is_some_and(|p| p.os_status == status && inner.fold.os_status_reported(permission));
        if unchanged {
            return Ok(state);
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::OsStatusChanged {
                permission: permission.to_string(),
                status,
            },
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws the consent to one permission, at once.
    pub fn withdraw(&self, permission: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        inner.catalog.get(permission)?;
        let state = inner.state()?;
        let consent = state
            .permission(permission)
            .map(|p| p.consent)
            .unwrap_or(UserConsent::NeverAsked);
        if consent != UserConsent::Granted {
            return Err(ConsentError::NothingToWithdraw {
                what: permission.to_string(),
                state: consent.to_string(),
            });
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::Permission(permission.to_string()),
            },
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws every consent, the policy's included. The app goes
    /// back to the policy screen.
    pub fn withdraw_all(&self) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let state = inner.state()?;
        let anything_granted = state
            .permissions
            .iter()
            .any(|p| p.consent == UserConsent::Granted);
        let policy_consented = matches!(
            state.policy,
            PolicyStatus::Accepted { .. } | PolicyStatus::ReconsentRequired { .. }
        );
        if !anything_granted && !policy_consented {
            return Err(ConsentError::NothingToWithdraw {
                what: "the policy".into(),
                state: describe_policy_status(&state.policy),
            });
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::All,
            },
        )?;
        inner.state()
    }

    /// Links this installation to the user's account: later events carry the
    /// account id as their subject.
    pub fn link_account(&self, account_id: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let valid = !account_id.is_empty()
            && account_id.chars().count() <= MAX_ACCOUNT_ID
            && account_id.chars().all(|c| c.is_ascii_graphic());
        if !valid {
            return Err(ConsentError::InvalidAccountId);
        }
        if inner.state()?.subject == account_id {
            return inner.state();
        }
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::AccountLinked {
                account_id: account_id.to_string(),
            },
        )?;
        inner.state()
    }

    /// Stores a new policy text (e.g. fetched and verified by sync). A newer
    /// version becomes current, which asks the user to consent again (§10).
    /// Returns whether the current version changed.
    pub fn install_policy(&self, doc: PolicyDocument) -> Result<bool, ConsentError> {
        let mut inner = self.lock_fresh()?;
        if inner.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        doc.validate()?;
        if doc.id != inner.policy_id {
            return Err(PolicyError::Invalid {
                reason: format!("policy {:?} is not {:?}", doc.id, inner.policy_id),
            }
            .into());
        }
        inner.catalog.validate_against(&doc)?;
        let before = inner.current[0].1.version;
        inner.store.put_policy(&doc)?;
        inner.current = with_refs(inner.store.latest_policies(&inner.policy_id.clone())?);
        inner.invalidate();
        Ok(inner.current[0].1.version != before)
    }

    /// Replaces the permission catalog with a newer version.
    pub fn update_catalog(&self, json: &[u8]) -> Result<PermissionCatalog, ConsentError> {
        let mut inner = self.lock_fresh()?;
        if inner.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        let catalog = PermissionCatalog::parse(json)?;
        catalog.check_replaces(&inner.catalog)?;
        catalog.validate_against(inner.text_for(FALLBACK_LOCALE))?;
        inner.store.put_catalog(&catalog)?;
        inner.catalog = catalog.clone();
        inner.invalidate();
        Ok(catalog)
    }
}

impl Inner {
    /// The text the user was shown must be the current version, and exactly
    /// the stored text of it.
    pub(super) fn check_current(
        &self,
        version: i32,
        hash: &str,
        locale: &str,
    ) -> Result<(PolicyRef, String), ConsentError> {
        let current = self.authoritative_ref();
        let (shown, shown_ref) = self
            .current
            .iter()
            .find(|(d, _)| d.locale.eq_ignore_ascii_case(locale))
            .ok_or_else(|| ConsentError::UnknownLocale {
                locale: locale.to_string(),
                available: self
                    .current
                    .iter()
                    .map(|(d, _)| d.locale.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        if version != shown_ref.version || hash != shown_ref.hash {
            return Err(ConsentError::StalePolicy {
                offered_version: version,
                offered_hash: hash.to_string(),
                current_version: current.version,
                current_hash: shown_ref.hash.clone(),
            });
        }
        Ok((shown_ref.clone(), shown.locale.clone()))
    }

    pub(super) fn record(
        &mut self,
        policy: PolicyRef,
        kind: EventKind,
    ) -> Result<Event, ConsentError> {
        if self.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        let install_id = self.install_id.clone();
        let subject = self.state()?.subject;
        let (id, at, context) = (
            self.ids.event_id(),
            ledger::format_time(self.clock.now()),
            self.context.clone(),
        );
        let mut next_fold = self.fold.clone();
        let event = self.store.append(self.fold.seq, |seq, prev| {
            let mut event = Event {
                id,
                seq,
                at,
                install_id,
                subject,
                policy,
                context,
                kind,
                prev_hash: prev.to_string(),
                hash: String::new(),
            };
            event.hash = event.compute_hash();
            next_fold.apply(&event);
            let snapshot = serde_json::to_string(&next_fold).expect("a fold serialises");
            (event, snapshot)
        })?;
        self.fold = next_fold;
        self.invalidate();
        tracing::info!(
            seq = event.seq,
            kind = event.kind.name(),
            "consent event recorded"
        );
        Ok(event)
    }
}
