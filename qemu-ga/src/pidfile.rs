//! The pidfile: created or taken over, locked while the agent runs, removed
//! on exit. An agent that starts while filesystems are frozen writes it
//! only once they are thawed, as QEMU's does: the pidfile may be on a frozen
//! filesystem, and writing to it would block the agent before it could
//! serve the thaw.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Context};
use qapi_core::FrozenState;
use rustix::fs::{flock, FlockOperation};

/// A pidfile this process holds: locked, naming this process.
#[derive(Debug)]
pub struct Pidfile {
    path: PathBuf,
    _file: File,
}

impl Pidfile {
    /// Writes this process's pid to `path`, holding an exclusive lock on it.
    /// Fails if another live process holds the lock; a file left by a
    /// process that is gone is taken over.
    pub fn acquire(path: &Path) -> anyhow::Result<Pidfile> {
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o644)
                .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
                .open(path)
                .with_context(|| format!("cannot open pid file {}", path.display()))?;
            if let Err(e) = flock(&file, FlockOperation::NonBlockingLockExclusive) {
                let holder = std::fs::read_to_string(path).unwrap_or_default();
                let holder = holder.trim();
                if holder.is_empty() {
                    bail!("cannot lock pid file {}: {e}", path.display());
                }
                bail!(
                    "cannot lock pid file {}: {e} (held by pid {holder})",
                    path.display()
                );
            }
            // The file may have been removed or replaced between open and
            // lock by its previous owner exiting: lock the current one.
            let same = match std::fs::metadata(path) {
                Ok(meta) => {
                    let ours = file.metadata()?;
                    meta.ino() == ours.ino() && meta.dev() == ours.dev()
                }
                Err(_) => false,
            };
            if !same {
                continue;
            }
            file.set_len(0)?;
            writeln!(file, "{}", std::process::id())
                .and_then(|()| file.flush())
                .with_context(|| format!("failed to write pid file {}", path.display()))?;
            return Ok(Pidfile {
                path: path.to_path_buf(),
                _file: file,
            });
        }
    }
}

impl Drop for Pidfile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The pidfile of a running agent: held now, or to be acquired once the
/// filesystems are thawed. Dropping it removes the file and cancels a
/// pending acquisition.
#[derive(Debug)]
pub struct PidfileSlot {
    shared: Arc<Mutex<SlotState>>,
}

#[derive(Debug, Default)]
struct SlotState {
    pidfile: Option<Pidfile>,
    released: bool,
}

impl PidfileSlot {
    /// Acquires the pidfile at `path` now, or, while `frozen`, at the thaw
    /// (a failure then is logged, since start-up is over).
    pub fn acquire_when_thawed(path: PathBuf, frozen: Arc<FrozenState>) -> anyhow::Result<PidfileSlot> {
        if !frozen.is_frozen() {
            let pidfile = Pidfile::acquire(&path)?;
            return Ok(PidfileSlot {
                shared: Arc::new(Mutex::new(SlotState {
                    pidfile: Some(pidfile),
                    released: false,
                })),
            });
        }
        let shared = Arc::new(Mutex::new(SlotState::default()));
        let pending = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("pidfile".into())
            .spawn(move || {
                frozen.wait_thawed();
                let mut state = pending.lock().unwrap_or_else(PoisonError::into_inner);
                if state.released {
                    return;
                }
                match Pidfile::acquire(&path) {
                    Ok(pidfile) => state.pidfile = Some(pidfile),
                    Err(e) => log::warn!("failed to create the pid file after the thaw: {e:#}"),
                }
            })
            .context("cannot start the pidfile thread")?;
        Ok(PidfileSlot { shared })
    }
}

impl Drop for PidfileSlot {
    /// Removes the pidfile if it was written, and cancels writing it.
    fn drop(&mut self) {
        let mut state = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        state.released = true;
        state.pidfile = None;
    }
}
