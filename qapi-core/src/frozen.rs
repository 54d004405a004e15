//! Whether the agent has filesystems frozen, shared by everything that must
//! not write while they are: the registry (which commands may run), the
//! logger, and code that defers a write until the thaw (the pidfile).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// The frozen flag, with a lock that writers hold while they write.
///
/// A write done under [`FrozenState::while_thawed`] either finishes before
/// [`FrozenState::set`] marks the agent frozen, or does not happen: the
/// freezer marks the agent frozen before its first `FIFREEZE`, so no such
/// write can reach a filesystem that is being frozen.
#[derive(Debug, Default)]
pub struct FrozenState {
    /// The state itself; held by writers for the length of their write.
    frozen: Mutex<bool>,
    /// A copy for lock-free reads (policy checks on every command).
    mirror: AtomicBool,
    /// Signalled on every thaw.
    thawed: Condvar,
}

impl FrozenState {
    /// A state, frozen or not.
    pub fn new(frozen: bool) -> Self {
        FrozenState {
            frozen: Mutex::new(frozen),
            mirror: AtomicBool::new(frozen),
            thawed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        self.frozen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether filesystems are frozen (without waiting for writers).
    pub fn is_frozen(&self) -> bool {
        self.mirror.load(Ordering::SeqCst)
    }

    /// Enters or leaves the frozen state. Entering waits for writes in
    /// progress under [`FrozenState::while_thawed`] to finish; leaving wakes
    /// [`FrozenState::wait_thawed`].
    pub fn set(&self, frozen: bool) {
        let mut state = self.lock();
        *state = frozen;
        self.mirror.store(frozen, Ordering::SeqCst);
        if !frozen {
            self.thawed.notify_all();
        }
    }

    /// Runs `write` unless frozen, holding off a freeze until it returns.
    /// `None` when frozen (nothing was run). `write` must not change the
    /// frozen state.
    pub fn while_thawed<R>(&self, write: impl FnOnce() -> R) -> Option<R> {
        let state = self.lock();
        if *state {
            return None;
        }
        let result = write();
        drop(state);
        Some(result)
    }

    /// Blocks until the agent is not frozen.
    pub fn wait_thawed(&self) {
        let mut state = self.lock();
        while *state {
            state = self.thawed.wait(state).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn writes_happen_only_while_thawed() {
        let state = FrozenState::new(false);
        assert_eq!(state.while_thawed(|| 1), Some(1));
        state.set(true);
        assert!(state.is_frozen());
        assert_eq!(state.while_thawed(|| 2), None);
        state.set(false);
        assert_eq!(state.while_thawed(|| 3), Some(3));
    }

    #[test]
    fn freezing_waits_for_a_write_in_progress() {
        let state = Arc::new(FrozenState::new(false));
        let (started_tx, started) = std::sync::mpsc::channel();
        let writer = {
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                state.while_thawed(|| {
                    started_tx.send(()).unwrap();
                    std::thread::sleep(Duration::from_millis(200));
                    // Still thawed: the freeze below waits for this write.
                    assert!(!state.is_frozen());
                })
            })
        };
        started.recv().unwrap();
        state.set(true);
        assert!(writer.join().unwrap().is_some());
        assert!(state.is_frozen());
    }

    #[test]
    fn waiters_wake_at_the_thaw() {
        let state = Arc::new(FrozenState::new(true));
        let waiter = {
            let state = Arc::clone(&state);
            std::thread::spawn(move || state.wait_thawed())
        };
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished());
        state.set(false);
        waiter.join().unwrap();
    }
}
