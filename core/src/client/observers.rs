//! Observers of the consent state: told once per change, after the
//! client's lock is released, the newest state winning under races.

use std::sync::atomic::{AtomicU64, Ordering};

use super::*;

/// Told whenever the consent state changes (a decision recorded, a new
/// policy installed, a restore, another process appended), so a UI can
/// update. Called on the thread that made the change, after the client's
/// lock is released: an observer may call the client again.
pub trait StateObserver: Send + Sync {
    /// The state after the change. Keep it short: it runs on the thread
    /// that made the change.
    fn state_changed(&self, state: &ConsentState);
}

/// The registered observers, and the number of the last change told to
/// them: with two threads racing, the newer state wins and an older one is
/// never told after it.
#[derive(Default)]
pub(super) struct Observers {
    pub(super) list: Mutex<Vec<(u64, Arc<dyn StateObserver>)>>,
    pub(super) next_id: AtomicU64,
    pub(super) last_told: AtomicU64,
}

impl Observers {
    pub(super) fn any(&self) -> bool {
        !self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    pub(super) fn tell(&self, change: u64, state: &ConsentState) {
        if self.last_told.fetch_max(change, Ordering::SeqCst) >= change {
            return;
        }
        let list: Vec<_> = self
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .map(|(_, o)| o.clone())
            .collect();
        for observer in list {
            observer.state_changed(state);
        }
    }
}

impl ConsentClient {
    /// Registers an observer of state changes; returns its handle for
    /// [`ConsentClient::remove_observer`].
    pub fn add_observer(&self, observer: Arc<dyn StateObserver>) -> u64 {
        let id = self.observers.next_id.fetch_add(1, Ordering::SeqCst);
        self.observers
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((id, observer));
        id
    }

    /// Removes an observer; returns whether it was registered.
    pub fn remove_observer(&self, handle: u64) -> bool {
        let mut list = self
            .observers
            .list
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let before = list.len();
        list.retain(|(id, _)| *id != handle);
        list.len() != before
    }
}
