//! The pidfile: created or taken over, locked while the agent runs, removed
//! on exit.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
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
