//! Exit codes, derived from the kind of failure (never from its text).

use altyn_consent_core::ErrorKind;

pub const FAILURE: u8 = 1;
pub const SETUP: u8 = 2;
pub const RULES: u8 = 3;
pub const STORE: u8 = 4;
pub const VERIFICATION: u8 = 5;
pub const REMOTE: u8 = 6;
pub const LOCKED: u8 = 7;

/// The exit code of a failure of this kind (the table is in `--help`).
pub fn code(kind: ErrorKind) -> u8 {
    match kind {
        ErrorKind::Storage | ErrorKind::Internal => FAILURE,
        ErrorKind::SyncSetup => SETUP,
        ErrorKind::AgeNotConfirmed
        | ErrorKind::StalePolicy
        | ErrorKind::PolicyNotAccepted
        | ErrorKind::InvalidRequest
        | ErrorKind::StoreNotEmpty
        | ErrorKind::AccessBlocked => RULES,
        ErrorKind::NoStoreYet
        | ErrorKind::StoreMissing
        | ErrorKind::StoreDamaged
        | ErrorKind::KeyLost
        | ErrorKind::StoreTooNew => STORE,
        ErrorKind::VerificationFailed => VERIFICATION,
        ErrorKind::Network | ErrorKind::ServerRejected => REMOTE,
        ErrorKind::KeyLocked => LOCKED,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_a_code_and_only_store_kinds_say_the_store_cannot_open() {
        for kind in ErrorKind::ALL {
            let c = code(kind);
            assert!((1..=7).contains(&c), "{kind}");
            assert_eq!(
                c == STORE,
                kind.calls_for_recovery()
                    || matches!(kind, ErrorKind::NoStoreYet | ErrorKind::StoreTooNew),
                "{kind}"
            );
        }
    }
}
