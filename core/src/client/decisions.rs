//! The decisions a user makes, each checked against the rules and recorded
//! as one ledger event: acceptance with the 18+ attestation, objection,
//! the notice shown, permissions, OS status, withdrawal, account linking;
//! and the documents they are made under (policy versions, the catalog).

use super::*;
use crate::ledger::Concern;
use crate::statement::{EventRef, Statement};

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
        inner.refuse_if_blocked()?;
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
        let statement =
            inner.statement_template(StatementKind::Objection, Vec::new(), Some(version));
        inner.record_with(shown, EventKind::PolicyObjected { locale }, statement)?;
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
        if granted {
            inner.refuse_if_blocked()?;
        }
        let state = inner.state()?;
        // A refusal stays possible while access is blocked (§5.7).
        let policy_accepted = matches!(state.policy, PolicyStatus::Accepted { .. });
        if !(state.can_proceed || (!granted && policy_accepted)) {
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

    /// §6.1.5: withdraws the consent to one permission, at once, and draws
    /// up the written statement for the Company in the same step (see
    /// [`ConsentClient::statements`]).
    pub fn withdraw(&self, permission: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        inner.catalog.get(permission)?;
        let state = inner.state()?;
        let current = state.permission(permission);
        let consent = current
            .map(|p| p.consent)
            .unwrap_or(UserConsent::NeverAsked);
        if consent != UserConsent::Granted {
            return Err(ConsentError::NothingToWithdraw {
                what: permission.to_string(),
                state: consent.to_string(),
            });
        }
        let purposes = current
            .map(|p| p.consented_purposes.clone())
            .unwrap_or_default();
        let item = inner.statement_item(permission, &purposes);
        let statement = inner.statement_template(StatementKind::Withdrawal, vec![item], None);
        let policy = inner.authoritative_ref();
        inner.record_with(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::Permission(permission.to_string()),
            },
            statement,
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws the consent for one purpose (a §4.2 clause id,
    /// e.g. `4.2.5`): every permission consented to for it is withdrawn at
    /// once; the policy stays accepted. Draws up the written statement.
    pub fn withdraw_purpose(&self, purpose: &str) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let known = inner
            .catalog
            .permissions
            .iter()
            .any(|p| p.purposes.iter().any(|c| c == purpose));
        if !known {
            return Err(ConsentError::Statement(format!(
                "no permission of the catalog is used for purpose {purpose:?}; purposes are §4.2 clause ids such as \"4.2.5\""
            )));
        }
        let state = inner.state()?;
        let covered: Vec<(String, Vec<String>)> = state
            .permissions
            .iter()
            .filter(|p| {
                p.consent == UserConsent::Granted
                    && p.consented_purposes.iter().any(|c| c == purpose)
            })
            .map(|p| (p.id.clone(), p.consented_purposes.clone()))
            .collect();
        if covered.is_empty() {
            return Err(ConsentError::NothingToWithdraw {
                what: format!("purpose {purpose}"),
                state: "no permission is allowed for it".into(),
            });
        }
        let items = covered
            .iter()
            .map(|(id, purposes)| inner.statement_item(id, purposes))
            .collect();
        let statement = inner.statement_template(StatementKind::Withdrawal, items, None);
        let policy = inner.authoritative_ref();
        inner.record_with(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::Purpose(purpose.to_string()),
            },
            statement,
        )?;
        inner.state()
    }

    /// §6.1.5: withdraws every consent, the policy's included, and draws up
    /// the written statement. The app goes back to the policy screen.
    pub fn withdraw_all(&self) -> Result<ConsentState, ConsentError> {
        let mut inner = self.lock_fresh()?;
        let state = inner.state()?;
        let granted: Vec<(String, Vec<String>)> = state
            .permissions
            .iter()
            .filter(|p| p.consent == UserConsent::Granted)
            .map(|p| (p.id.clone(), p.consented_purposes.clone()))
            .collect();
        let policy_consented = matches!(
            state.policy,
            PolicyStatus::Accepted { .. } | PolicyStatus::ReconsentRequired { .. }
        );
        if granted.is_empty() && !policy_consented {
            return Err(ConsentError::NothingToWithdraw {
                what: "the policy".into(),
                state: describe_policy_status(&state.policy),
            });
        }
        let mut items = Vec::new();
        if policy_consented {
            items.push(crate::statement::item_for_policy(
                inner.text_for(FALLBACK_LOCALE),
            ));
        }
        items.extend(
            granted
                .iter()
                .map(|(id, purposes)| inner.statement_item(id, purposes)),
        );
        let statement = inner.statement_template(StatementKind::Withdrawal, items, None);
        let policy = inner.authoritative_ref();
        inner.record_with(
            policy,
            EventKind::ConsentWithdrawn {
                scope: WithdrawalScope::All,
            },
            statement,
        )?;
        inner.state()
    }

    /// §5.7: the user reports unauthorised access to the service or a
    /// suspected breach of their data's confidentiality. Recorded at once;
    /// access is blocked pending the Company's review (new grants are
    /// refused; withdrawals, refusals and objections stay possible). The
    /// next sync sends the report ahead of everything else, and only the
    /// Company's signed unblock decision, fetched by a later sync, lifts
    /// the block. `details` are the user's own words (up to 4,000
    /// characters; may be empty): kept encrypted and sent to the Company,
    /// never logged.
    pub fn report_compromise(
        &self,
        concern: Concern,
        details: &str,
    ) -> Result<ConsentState, ConsentError> {
        if details.chars().count() > MAX_REPORT_DETAILS {
            return Err(ConsentError::Statement(format!(
                "the report's details are longer than {MAX_REPORT_DETAILS} characters; shorten them"
            )));
        }
        let mut inner = self.lock_fresh()?;
        let policy = inner.authoritative_ref();
        inner.record(
            policy,
            EventKind::CompromiseReported {
                concern,
                details: details.to_string(),
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

    /// §5.7: refuses a grant while access is blocked.
    pub(super) fn refuse_if_blocked(&mut self) -> Result<(), ConsentError> {
        match self.state()?.access_blocked {
            Some(block) => Err(ConsentError::AccessBlocked { since: block.since }),
            None => Ok(()),
        }
    }

    /// The statement item of one permission's consent, in the current
    /// policy's Russian words.
    fn statement_item(
        &self,
        permission: &str,
        purposes: &[String],
    ) -> crate::statement::StatementItem {
        crate::statement::item_for_permission(
            self.text_for(FALLBACK_LOCALE),
            &self.catalog,
            permission,
            purposes,
        )
    }

    /// A statement to be recorded right after its decision (which fills in
    /// the event it rests on and the time). `None`, with a warning, if the
    /// policy names no Company address: the decision is still recorded.
    fn statement_template(
        &mut self,
        kind: StatementKind,
        withdrawn: Vec<crate::statement::StatementItem>,
        objected_version: Option<i32>,
    ) -> Option<Statement> {
        let policy = self.text_for(FALLBACK_LOCALE).clone();
        let Some(controller) = crate::statement::controller_of(&policy) else {
            tracing::warn!("the policy names no Company address; the decision is recorded without a written statement");
            return None;
        };
        let subject = self.state().ok()?.subject;
        Some(Statement {
            format: crate::statement::STATEMENT_FORMAT.into(),
            id: self.ids.event_id(),
            kind,
            subject,
            install_id: self.install_id.clone(),
            controller,
            issued_at: String::new(),
            issued_at_local: None,
            policy: self.authoritative_ref(),
            grounds: vec![crate::statement::cite_clause(&policy, kind.clause())],
            withdrawn,
            objected_version,
            events: Vec::new(),
        })
    }

    pub(super) fn record(
        &mut self,
        policy: PolicyRef,
        kind: EventKind,
    ) -> Result<Event, ConsentError> {
        Ok(self.record_with(policy, kind, None)?.remove(0))
    }

    /// Records `kind` and, if given, the statement it produces
    /// (`StatementIssued`, naming the first event), in one transaction:
    /// both or neither.
    pub(super) fn record_with(
        &mut self,
        policy: PolicyRef,
        kind: EventKind,
        statement: Option<Statement>,
    ) -> Result<Vec<Event>, ConsentError> {
        if self.store.is_read_only() {
            return Err(StoreError::ReadOnly.into());
        }
        let count = 1 + usize::from(statement.is_some());
        let install_id = self.install_id.clone();
        let subject = self.state()?.subject;
        let stamps: Vec<(uuid::Uuid, String)> = (0..count)
            .map(|_| (self.ids.event_id(), ledger::format_time(self.clock.now())))
            .collect();
        let context = self.context.clone();
        let offset = self.utc_offset;
        let mut next_fold = self.fold.clone();
        let mut first = Some(kind);
        let mut statement = statement;
        let mut previous: Option<Event> = None;
        let events = self
            .store
            .append_many(self.fold.seq, count, |i, seq, prev| {
                let kind = match (first.take(), previous.as_ref()) {
                    (Some(kind), _) => kind,
                    (None, Some(decision)) => {
                        let mut st = statement.take().expect("a second event is the statement");
                        st.events = vec![EventRef {
                            id: decision.id,
                            seq: decision.seq,
                            hash: decision.hash.clone(),
                        }];
                        st.issued_at = decision.at.clone();
                        st.issued_at_local = crate::statement::local_time(&decision.at, offset);
                        EventKind::StatementIssued {
                            statement_hash: st.hash(),
                            statement: st,
                        }
                    }
                    (None, None) => unreachable!("the first event is built first"),
                };
                let mut event = Event {
                    id: stamps[i].0,
                    seq,
                    at: stamps[i].1.clone(),
                    install_id: install_id.clone(),
                    subject: subject.clone(),
                    policy: policy.clone(),
                    context: context.clone(),
                    kind,
                    prev_hash: prev.to_string(),
                    hash: String::new(),
                };
                event.hash = event.compute_hash();
                next_fold.apply(&event);
                let snapshot = serde_json::to_string(&next_fold).expect("a fold serialises");
                previous = Some(event.clone());
                (event, snapshot)
            })?;
        self.fold = next_fold;
        self.invalidate();
        for event in &events {
            tracing::info!(
                seq = event.seq,
                kind = event.kind.name(),
                "consent event recorded"
            );
        }
        Ok(events)
    }
}
