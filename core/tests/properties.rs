//! Properties over random journeys: whatever a user does, the kept state is
//! the fold of the ledger, the ledger verifies, and `may_use` never holds
//! without both the user's consent and the OS grant.

mod common;

use altyn_consent_core::state::fold;
use altyn_consent_core::{OsStatus, UserConsent};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Accept,
    Decide(usize, bool),
    Os(usize, usize),
    Withdraw(usize),
    WithdrawAll,
    Reopen,
}

/// The bundled catalog's permissions (the strategies below pick indices).
fn permissions() -> Vec<String> {
    altyn_consent_core::permissions::PermissionCatalog::bundled()
        .ids()
        .into_iter()
        .map(String::from)
        .collect()
}
const STATUSES: [OsStatus; 6] = [
    OsStatus::NotDetermined,
    OsStatus::Granted,
    OsStatus::Limited,
    OsStatus::Denied,
    OsStatus::Blocked,
    OsStatus::Unavailable,
];

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Accept),
        4 => (0..6usize, any::<bool>()).prop_map(|(p, g)| Op::Decide(p, g)),
        3 => (0..6usize, 0..6usize).prop_map(|(p, s)| Op::Os(p, s)),
        2 => (0..6usize).prop_map(Op::Withdraw),
        1 => Just(Op::WithdrawAll),
        1 => Just(Op::Reopen),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn kept_state_is_always_the_fold_of_the_ledger(ops in proptest::collection::vec(op(), 1..24)) {
        let (dir, keys, mut client) = common::fresh();
        let ids = permissions();
        prop_assert_eq!(ids.len(), 6, "the strategies pick among six permissions");
        for op in ops {
            // Refusals (e.g. a decision before acceptance) are part of the
            // journey: they must record nothing.
            let before = client.event_count();
            let result = match op {
                Op::Accept => { let p = client.policy("ru"); client.accept_policy(p.version, &p.hash(), "ru", true).map(|_| ()) }
                Op::Decide(p, g) => client.set_permission(&ids[p], g).map(|_| ()),
                Op::Os(p, s) => client.report_os_status(&ids[p], STATUSES[s]).map(|_| ()),
                Op::Withdraw(p) => client.withdraw(&ids[p]).map(|_| ()),
                Op::WithdrawAll => client.withdraw_all().map(|_| ()),
                Op::Reopen => { drop(client); client = common::open(dir.path(), &keys); Ok(()) }
            };
            if result.is_err() {
                prop_assert_eq!(client.event_count(), before);
            }
            let state = client.state().unwrap();
            let events = client.history().unwrap();
            let refolded = fold(&events, &state.install_id, &client.policy("ru").reference(), &client.catalog());
            // The fold of the ledger, to the client's own count of changes.
            prop_assert_eq!(&common::consent_of(state.clone()), &refolded);
            for p in &state.permissions {
                if p.may_use {
                    prop_assert!(state.can_proceed);
                    prop_assert_eq!(p.consent, UserConsent::Granted);
                    prop_assert!(matches!(p.os_status, OsStatus::Granted | OsStatus::Limited));
                }
            }
        }
        client.verify().unwrap();
    }
}
