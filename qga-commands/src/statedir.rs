//! An agent's hold on its state directory: an exclusive `flock` on the
//! directory itself, for as long as the agent runs.
//!
//! Only the agent that holds the directory acts on a freeze recorded there
//! (`qga.state.isfrozen`) that it did not make itself: it thaws it on exit
//! and by its auto-thaw. A second agent started on the same directory
//! (while the first runs, or while the first lingers in the kernel on its
//! way out) serves, but leaves that freeze alone; it waits, in the
//! background, for the directory, and takes it over (freeze included) once
//! the first has let go. A directory that cannot be locked at all (a
//! filesystem without `flock`) is held without a lock: no other agent can
//! hold it either.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use rustix::fs::{flock, FlockOperation, OFlags};
use rustix::io::Errno;

/// An agent's hold on its state directory.
#[derive(Debug, Default)]
pub(crate) struct StatedirHold {
    /// The locked directory, while this agent holds it with a lock.
    locked: Mutex<Option<File>>,
    /// Another agent holds the directory.
    elsewhere: AtomicBool,
}

fn open_dir(statedir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((OFlags::DIRECTORY | OFlags::CLOEXEC).bits() as i32)
        .open(statedir)
}

impl StatedirHold {
    /// Takes `statedir` if no other agent holds it.
    pub(crate) fn take(statedir: &Path) -> StatedirHold {
        let hold = StatedirHold::default();
        let Ok(dir) = open_dir(statedir) else {
            return hold;
        };
        match flock(&dir, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => *hold.lock() = Some(dir),
            Err(Errno::WOULDBLOCK) => hold.elsewhere.store(true, Ordering::SeqCst),
            // No locks on this filesystem: nobody else holds it either.
            Err(_) => {}
        }
        hold
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<File>> {
        self.locked.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether another agent holds the directory.
    pub(crate) fn is_elsewhere(&self) -> bool {
        self.elsewhere.load(Ordering::SeqCst)
    }

    /// When another agent holds the directory: waits, on a thread of its
    /// own, until it lets go, takes the directory and calls `took_over`.
    pub(crate) fn take_over_later(
        self: &std::sync::Arc<Self>,
        statedir: PathBuf,
        took_over: impl FnOnce() + Send + 'static,
    ) {
        if !self.is_elsewhere() {
            return;
        }
        let hold = std::sync::Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("qga-statedir".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let Ok(dir) = open_dir(&statedir) else { return };
                loop {
                    match flock(&dir, FlockOperation::LockExclusive) {
                        Ok(()) => break,
                        Err(Errno::INTR) => {}
                        Err(_) => return,
                    }
                }
                *hold.lock() = Some(dir);
                hold.elsewhere.store(false, Ordering::SeqCst);
                log::warn!(
                    "took over the state directory {} from the agent that held it",
                    statedir.display()
                );
                took_over();
            });
        if let Err(e) = spawned {
            log::warn!("cannot wait for the state directory: {e}");
        }
    }

    /// Lets go of the directory (an agent on its way out, before anything
    /// that may keep the process around: a thread stuck in the kernel
    /// would keep the lock, held by the descriptor table, with it).
    pub(crate) fn release(&self) {
        if let Some(dir) = self.lock().take() {
            let _ = flock(&dir, FlockOperation::Unlock);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[test]
    fn one_agent_at_a_time_holds_a_state_directory() {
        let dir = tempfile::tempdir().unwrap();
        let first = StatedirHold::take(dir.path());
        assert!(!first.is_elsewhere());
        let second = Arc::new(StatedirHold::take(dir.path()));
        assert!(second.is_elsewhere());
        let (tx, rx) = std::sync::mpsc::channel();
        second.take_over_later(dir.path().to_path_buf(), move || tx.send(()).unwrap());
        assert!(rx.recv_timeout(Duration::from_millis(200)).is_err());
        first.release();
        rx.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(!second.is_elsewhere());
        assert!(StatedirHold::take(dir.path()).is_elsewhere());
        // A directory that cannot be opened is nobody else's either.
        assert!(!StatedirHold::take(&dir.path().join("missing")).is_elsewhere());
    }
}
