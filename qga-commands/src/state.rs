//! What the agent keeps in its state directory across restarts.
//!
//! - `qga.state`, a key file (`[global]` / `fd_counter=N`) holding the next
//!   file handle, so handles are never reused, even by a restarted agent.
//!   Rewritten (to a temporary file, then renamed over) on every
//!   `guest-file-open`.
//! - `qga.state.isfrozen`, an empty file present while the agent has
//!   filesystems frozen, so a restarted agent knows.
//!
//! Both names and formats are QEMU's, so either agent can take over the
//! other's state directory.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::error::CommandError;

/// The first handle a fresh state directory hands out.
pub const FIRST_HANDLE: i64 = 1000;

const STATE_FILE: &str = "qga.state";
const FROZEN_MARKER: &str = "qga.state.isfrozen";

/// The persistent handle counter.
#[derive(Debug)]
pub struct PersistentState {
    path: PathBuf,
    next_handle: Mutex<i64>,
}

/// Why the state file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// Reading or writing it failed.
    #[error("failed to access persistent state at {path}")]
    Io {
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

fn parse_counter(text: &str) -> Option<i64> {
    let mut in_global = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') {
            in_global = line == "[global]";
        } else if in_global {
            if let Some(value) = line.strip_prefix("fd_counter=") {
                return value.trim().parse().ok();
            }
        }
    }
    None
}

impl PersistentState {
    /// Loads `<statedir>/qga.state`. A missing file means defaults, and is
    /// written at once unless `create` is false (as while frozen, when the
    /// agent must not write).
    pub fn load(statedir: &Path, create: bool) -> Result<Self, StateError> {
        let path = statedir.join(STATE_FILE);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let next = match fs::read_to_string(&path) {
            Ok(text) => parse_counter(&text).unwrap_or(FIRST_HANDLE),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if create {
                    write_state(&path, FIRST_HANDLE).map_err(io)?;
                }
                FIRST_HANDLE
            }
            Err(e) => return Err(io(e)),
        };
        Ok(PersistentState {
            path,
            next_handle: Mutex::new(next),
        })
    }

    /// Takes the next handle, committing the new counter to disk first.
    pub fn take_handle(&self) -> Result<i64, CommandError> {
        let mut next = self.next_handle.lock().unwrap_or_else(|e| e.into_inner());
        let handle = *next;
        let following = if handle == i64::MAX {
            FIRST_HANDLE
        } else {
            handle + 1
        };
        if let Err(e) = write_state(&self.path, following) {
            log::warn!("failed to write {}: {e}", self.path.display());
            return Err(CommandError::msg("failed to commit persistent state to disk"));
        }
        *next = following;
        Ok(handle)
    }
}

fn write_state(path: &Path, next: i64) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("state.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        write!(file, "[global]\nfd_counter={next}\n")?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The on-disk note that filesystems are frozen.
#[derive(Debug, Clone)]
pub struct FrozenMarker {
    path: PathBuf,
}

impl FrozenMarker {
    /// The marker of `statedir`.
    pub fn new(statedir: &Path) -> Self {
        FrozenMarker {
            path: statedir.join(FROZEN_MARKER),
        }
    }

    /// Whether a (possibly earlier) agent left filesystems frozen.
    pub fn is_set(&self) -> bool {
        self.path.exists()
    }

    /// Records the frozen state (mode 0600, as QEMU).
    pub fn set(&self) {
        let created = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(&self.path);
        if let Err(e) = created {
            log::warn!(
                "unable to create {}, fsfreeze may not function properly: {e}",
                self.path.display()
            );
        }
    }

    /// Clears the frozen state.
    pub fn clear(&self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "unable to delete {}, fsfreeze may not function properly: {e}",
                self.path.display()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handles_persist_across_loads() {
        let dir = tempfile::tempdir().unwrap();
        let state = PersistentState::load(dir.path(), true).unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("qga.state")).unwrap(),
            "[global]\nfd_counter=1000\n"
        );
        assert_eq!(state.take_handle().unwrap(), 1000);
        assert_eq!(state.take_handle().unwrap(), 1001);
        drop(state);
        let again = PersistentState::load(dir.path(), true).unwrap();
        assert_eq!(again.take_handle().unwrap(), 1002);
        assert_eq!(
            fs::read_to_string(dir.path().join("qga.state")).unwrap(),
            "[global]\nfd_counter=1003\n"
        );
    }

    #[test]
    fn reads_qemu_state_files() {
        assert_eq!(parse_counter("[global]\nfd_counter=1234\n"), Some(1234));
        assert_eq!(
            parse_counter("# c\n[other]\nfd_counter=1\n[global]\n fd_counter = 7\n"),
            None
        );
        assert_eq!(parse_counter("[global]\nfd_counter=7\n"), Some(7));
    }

    #[test]
    fn a_failed_commit_is_an_error_and_does_not_advance() {
        let dir = tempfile::tempdir().unwrap();
        let state = PersistentState::load(dir.path(), true).unwrap();
        let gone = dir.path().join("gone");
        let state_elsewhere = PersistentState {
            path: gone.join("qga.state"),
            next_handle: Mutex::new(5),
        };
        assert_eq!(
            state_elsewhere.take_handle().unwrap_err().to_string(),
            "failed to commit persistent state to disk"
        );
        assert_eq!(*state_elsewhere.next_handle.lock().unwrap(), 5);
        drop(state);
    }

    #[test]
    fn frozen_marker_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let marker = FrozenMarker::new(dir.path());
        assert!(!marker.is_set());
        marker.set();
        assert!(marker.is_set());
        marker.clear();
        assert!(!marker.is_set());
    }
}
