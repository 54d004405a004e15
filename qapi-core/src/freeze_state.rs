//! Whether the agent has filesystems frozen, shared by everything that must
//! not write while they are: dispatch (which commands may run), the logger,
//! and code that defers a write until the thaw (the pidfile).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Work deferred until the next thaw.
type OnThaw = Box<dyn FnOnce() + Send>;

/// The frozen flag, with a lock that writers hold while they write, and the
/// work waiting for the next thaw.
///
/// One instance belongs to the agent (its freezer sets it); dispatch, the
/// logger and the pidfile writer hold it too. A write done under
/// [`FreezeState::while_thawed`] either finishes before
/// [`FreezeState::set`] marks the agent frozen, or does not happen: the
/// freezer marks the agent frozen before its first `FIFREEZE`, so no such
/// write can reach a filesystem that is being frozen. Work given to
/// [`FreezeState::when_thawed`] runs at the thaw, on a thread of its own
/// (never on the thread that thaws, which may hold the freezer's locks):
/// nobody polls.
#[derive(Default)]
pub struct FreezeState {
    /// The state itself; held by writers for the length of their write.
    inner: Mutex<Inner>,
    /// A copy of the flag for lock-free reads (policy checks on every
    /// command).
    mirror: AtomicBool,
}

#[derive(Default)]
struct Inner {
    frozen: bool,
    on_thaw: Vec<OnThaw>,
}

impl std::fmt::Debug for FreezeState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FreezeState")
            .field("frozen", &self.is_frozen())
            .finish_non_exhaustive()
    }
}

impl FreezeState {
    /// A state, frozen or not.
    pub fn new(frozen: bool) -> Self {
        FreezeState {
            inner: Mutex::new(Inner {
                frozen,
                on_thaw: Vec::new(),
            }),
            mirror: AtomicBool::new(frozen),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether filesystems are frozen (without waiting for writers).
    pub fn is_frozen(&self) -> bool {
        self.mirror.load(Ordering::SeqCst)
    }

    /// Enters or leaves the frozen state. Entering waits for writes in
    /// progress under [`FreezeState::while_thawed`] to finish; leaving
    /// starts the work given to [`FreezeState::when_thawed`], on a thread of
    /// its own, and does not wait for it.
    pub fn set(&self, frozen: bool) {
        let due = {
            let mut inner = self.lock();
            inner.frozen = frozen;
            self.mirror.store(frozen, Ordering::SeqCst);
            if frozen {
                Vec::new()
            } else {
                std::mem::take(&mut inner.on_thaw)
            }
        };
        if due.is_empty() {
            return;
        }
        // Whoever takes the work first runs it: the new thread, or, should
        // no thread be had, this one (late rather than never).
        let work = Arc::new(Mutex::new(due));
        let taken = Arc::clone(&work);
        let run = |work: &Mutex<Vec<OnThaw>>| {
            let due = std::mem::take(&mut *work.lock().unwrap_or_else(PoisonError::into_inner));
            due.into_iter().for_each(|work| work());
        };
        let spawned = std::thread::Builder::new()
            .name("qga-on-thaw".into())
            .spawn(move || run(&taken));
        if let Err(e) = spawned {
            log::warn!("cannot start a thread for the work waiting for the thaw ({e}); running it here");
            run(&work);
        }
    }

    /// Runs `write` unless frozen, holding off a freeze until it returns.
    /// `None` when frozen (nothing was run). `write` must not change the
    /// frozen state.
    pub fn while_thawed<R>(&self, write: impl FnOnce() -> R) -> Option<R> {
        let inner = self.lock();
        if inner.frozen {
            return None;
        }
        let result = write();
        drop(inner);
        Some(result)
    }

    /// Runs `work` once the agent is not frozen: now, on this thread, if it
    /// is not; else after the next thaw, on a thread of its own. The agent
    /// may be frozen again by the time it runs: work that writes does so
    /// under [`FreezeState::while_thawed`] (and waits for the next thaw if
    /// that says frozen), without logging meanwhile (the logger takes the
    /// same lock).
    pub fn when_thawed(&self, work: impl FnOnce() + Send + 'static) {
        {
            let mut inner = self.lock();
            if inner.frozen {
                inner.on_thaw.push(Box::new(work));
                return;
            }
        }
        work();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::sync::mpsc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn writes_happen_only_while_thawed() {
        let state = FreezeState::new(false);
        assert_eq!(state.while_thawed(|| 1), Some(1));
        state.set(true);
        assert!(state.is_frozen());
        assert_eq!(state.while_thawed(|| 2), None);
        state.set(false);
        assert_eq!(state.while_thawed(|| 3), Some(3));
    }

    #[test]
    fn freezing_waits_for_a_write_in_progress() {
        let state = Arc::new(FreezeState::new(false));
        let (started_tx, started) = mpsc::channel();
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
    fn deferred_work_runs_at_the_thaw_once() {
        let state = FreezeState::new(true);
        let (done, ran) = mpsc::channel();
        let again = done.clone();
        state.when_thawed(move || done.send("deferred").unwrap());
        assert!(ran.try_recv().is_err());
        // Freezing again does not run it.
        state.set(true);
        assert!(ran.try_recv().is_err());
        state.set(false);
        assert_eq!(ran.recv_timeout(Duration::from_secs(5)).unwrap(), "deferred");
        state.set(true);
        state.set(false);
        assert!(ran.recv_timeout(Duration::from_millis(100)).is_err(), "ran twice");
        // While thawed, it runs at once.
        state.when_thawed(move || again.send("now").unwrap());
        assert_eq!(ran.try_recv().unwrap(), "now");
    }

    #[test]
    fn deferred_work_never_runs_on_the_thawing_thread() {
        let state = Arc::new(FreezeState::new(true));
        let (done, ran) = mpsc::channel();
        let (release, blocked) = mpsc::channel::<()>();
        let thawing = std::thread::current().id();
        state.when_thawed(move || {
            done.send(std::thread::current().id()).unwrap();
            // Work that blocks (a write on a filesystem frozen again) holds
            // nothing of the thaw's.
            let _ = blocked.recv_timeout(Duration::from_secs(5));
        });
        state.set(false);
        assert_ne!(ran.recv_timeout(Duration::from_secs(5)).unwrap(), thawing);
        // The thaw has returned while the work still runs; freezing again
        // does not wait for it either.
        state.set(true);
        assert!(state.is_frozen());
        release.send(()).unwrap();
    }
}
