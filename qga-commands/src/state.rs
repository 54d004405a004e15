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

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use qga_sys::fs::create_unique;
use qga_sys::keyfile::KeyFile;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::CommandError;

/// The first handle a fresh state directory hands out.
const FIRST_HANDLE: i64 = 1000;

const STATE_FILE: &str = "qga.state";
const FROZEN_MARKER: &str = "qga.state.isfrozen";
/// The most of `qga.state` read: far more than its one counter needs.
const MAX_STATE_SIZE: u64 = 64 * 1024;

/// The persistent handle counter.
#[derive(Debug)]
pub(crate) struct PersistentState {
    path: PathBuf,
    /// The state directory, opened once: the file is always read and
    /// replaced in this directory, whatever later becomes of its path.
    dir: OwnedFd,
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
    /// It is a symbolic link or not a regular file: the agent, running as
    /// root, follows no link planted in its state directory.
    #[error("persistent state {0} is not a regular file (a symbolic link is not followed)")]
    NotAFile(PathBuf),
}

/// The next handle a state file records (`fd_counter` of its `[global]`
/// group, read as GLib's `g_key_file_get_integer` reads it).
fn parse_counter(text: &[u8]) -> Option<i64> {
    let file = KeyFile::parse(text).ok()?;
    file.value("global", "fd_counter")?.trim_end().parse().ok()
}

/// Opens the directory `path` (following links on the way: it is the
/// configured directory) for `*at` calls and `fsync`.
fn open_dir(path: &Path) -> rustix::io::Result<OwnedFd> {
    rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Reads `qga.state` in `dir`, without following a symbolic link or
/// opening anything but a regular file. `Ok(None)` if there is none.
fn read_state(dir: &OwnedFd, path: &Path) -> Result<Option<Vec<u8>>, StateError> {
    let io = |e: Errno| StateError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, STATE_FILE, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::LOOP) => return Err(StateError::NotAFile(path.to_path_buf())),
        Err(e) => return Err(io(e)),
    };
    let stat = rustix::fs::fstat(&fd).map_err(io)?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(StateError::NotAFile(path.to_path_buf()));
    }
    let bytes = qga_sys::fs::read_capped_fd(fd, MAX_STATE_SIZE).map_err(|source| StateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(Some(bytes))
}

impl PersistentState {
    /// Loads `<statedir>/qga.state`. A missing file means defaults, and is
    /// written at once unless `create` is false (as while frozen, when the
    /// agent must not write). A symbolic link or anything but a regular
    /// file there is an error.
    pub(crate) fn load(statedir: &Path, create: bool) -> Result<Self, StateError> {
        let path = statedir.join(STATE_FILE);
        let io = |source| StateError::Io {
            path: path.clone(),
            source,
        };
        let dir = open_dir(statedir).map_err(|e| io(e.into()))?;
        let next = match read_state(&dir, &path)? {
            Some(text) => parse_counter(&text).unwrap_or(FIRST_HANDLE),
            None => {
                if create {
                    write_state(&dir, FIRST_HANDLE).map_err(io)?;
                }
                FIRST_HANDLE
            }
        };
        Ok(PersistentState {
            path,
            dir,
            next_handle: Mutex::new(next),
        })
    }

    /// Takes the next handle, committing the new counter to disk first.
    pub(crate) fn take_handle(&self) -> Result<i64, CommandError> {
        let mut next = self.next_handle.lock().unwrap_or_else(|e| e.into_inner());
        let handle = *next;
        let following = if handle == i64::MAX {
            FIRST_HANDLE
        } else {
            handle + 1
        };
        if let Err(e) = write_state(&self.dir, following) {
            log::warn!("failed to write {}: {e}", self.path.display());
            return Err(CommandError::StateCommit);
        }
        *next = following;
        Ok(handle)
    }
}

/// Replaces `qga.state` in `dir` by a file holding `next`: written to a new
/// file of an unpredictable name, synced, renamed over it (which replaces
/// a symbolic link there, never what it points to), and the directory
/// synced.
fn write_state(dir: &OwnedFd, next: i64) -> std::io::Result<()> {
    let (tmp, fd) = create_unique(dir, OsStr::new(STATE_FILE), 0o644)?;
    let result = (|| {
        let mut file = File::from(fd);
        write!(file, "[global]\nfd_counter={next}\n")?;
        file.sync_all()?;
        rustix::fs::renameat(dir, tmp.as_os_str(), dir, STATE_FILE)?;
        rustix::fs::fsync(dir)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = rustix::fs::unlinkat(dir, tmp.as_os_str(), AtFlags::empty());
    }
    result
}

/// The on-disk note that filesystems are frozen. It is never followed if
/// it is a symbolic link: its presence is what counts.
#[derive(Debug, Clone)]
pub(crate) struct FrozenMarker {
    statedir: PathBuf,
    path: PathBuf,
}

impl FrozenMarker {
    /// The marker of `statedir`.
    pub(crate) fn new(statedir: &Path) -> Self {
        FrozenMarker {
            statedir: statedir.to_path_buf(),
            path: statedir.join(FROZEN_MARKER),
        }
    }

    fn dir(&self) -> rustix::io::Result<OwnedFd> {
        rustix::fs::open(
            &self.statedir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// Whether a (possibly earlier) agent left filesystems frozen:
    /// something is there by the marker's name.
    pub(crate) fn is_set(&self) -> bool {
        self.dir()
            .and_then(|dir| rustix::fs::statat(dir, FROZEN_MARKER, AtFlags::SYMLINK_NOFOLLOW))
            .is_ok()
    }

    /// Records the frozen state: a new empty file, mode 0600 (as QEMU),
    /// created only where nothing is (an existing regular file is kept;
    /// anything else there is removed first, never followed).
    pub(crate) fn set(&self) {
        if let Err(e) = self.try_set() {
            log::warn!(
                "unable to create {}, fsfreeze may not function properly: {e}",
                self.path.display()
            );
        }
    }

    fn try_set(&self) -> rustix::io::Result<()> {
        let dir = self.dir()?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut replaced = false;
        loop {
            match rustix::fs::openat(&dir, FROZEN_MARKER, flags, Mode::RUSR | Mode::WUSR) {
                Ok(_) => return Ok(()),
                Err(Errno::EXIST) => {
                    let stat = rustix::fs::statat(&dir, FROZEN_MARKER, AtFlags::SYMLINK_NOFOLLOW)?;
                    if FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                        return Ok(());
                    }
                    if replaced {
                        return Err(Errno::EXIST);
                    }
                    rustix::fs::unlinkat(&dir, FROZEN_MARKER, AtFlags::empty())?;
                    replaced = true;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Clears the frozen state (removing a symbolic link itself, not what
    /// it points to).
    pub(crate) fn clear(&self) {
        match self
            .dir()
            .and_then(|dir| rustix::fs::unlinkat(dir, FROZEN_MARKER, AtFlags::empty()))
        {
            Ok(()) | Err(Errno::NOENT) => {}
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
    use std::fs;

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
        assert_eq!(parse_counter(b"[global]\nfd_counter=1234\n"), Some(1234));
        // GLib's rules: spaces around the key and value are allowed.
        assert_eq!(
            parse_counter(b"# c\n[other]\nfd_counter=1\n[global]\n fd_counter = 7 \n"),
            Some(7)
        );
        assert_eq!(parse_counter(b"[other]\nfd_counter=7\n"), None);
        assert_eq!(parse_counter(b"[global]\nfd_counter=x\n"), None);
        assert_eq!(parse_counter(b"fd_counter=7\n"), None);
    }

    #[test]
    fn a_failed_commit_is_an_error_and_does_not_advance() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("gone");
        std::fs::create_dir(&gone).unwrap();
        let state = PersistentState::load(&gone, false).unwrap();
        std::fs::remove_dir(&gone).unwrap();
        assert_eq!(
            state.take_handle().unwrap_err().to_string(),
            "failed to commit persistent state to disk"
        );
        assert_eq!(*state.next_handle.lock().unwrap(), FIRST_HANDLE);
    }

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn a_symlink_planted_as_the_state_file_is_replaced_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious\n").unwrap();
        let state = PersistentState::load(dir.path(), true).unwrap();
        let file = dir.path().join(STATE_FILE);
        fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink(&victim, &file).unwrap();
        assert_eq!(state.take_handle().unwrap(), 1000);
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(fs::symlink_metadata(&file).unwrap().file_type().is_file());
        assert_eq!(fs::read_to_string(&file).unwrap(), "[global]\nfd_counter=1001\n");
        assert_eq!(
            names(dir.path()),
            ["qga.state", "victim"],
            "a temporary file was left"
        );
    }

    #[test]
    fn the_state_directory_is_the_one_opened_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("first");
        fs::create_dir(&first).unwrap();
        let state = PersistentState::load(&first, true).unwrap();
        // The directory's path is made to lead elsewhere.
        let moved = dir.path().join("moved");
        fs::rename(&first, &moved).unwrap();
        let elsewhere = dir.path().join("elsewhere");
        fs::create_dir(&elsewhere).unwrap();
        std::os::unix::fs::symlink(&elsewhere, &first).unwrap();
        assert_eq!(state.take_handle().unwrap(), 1000);
        assert_eq!(names(&elsewhere), Vec::<String>::new());
        assert_eq!(
            fs::read_to_string(moved.join(STATE_FILE)).unwrap(),
            "[global]\nfd_counter=1001\n"
        );
    }

    #[test]
    fn a_state_file_that_is_a_symlink_or_not_a_file_is_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "[global]\nfd_counter=5\n").unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(STATE_FILE)).unwrap();
        let err = PersistentState::load(dir.path(), true).unwrap_err();
        assert!(matches!(err, StateError::NotAFile(_)), "{err:?}");
        assert!(err.to_string().contains("not a regular file"), "{err}");
        assert_eq!(fs::read_to_string(&victim).unwrap(), "[global]\nfd_counter=5\n");

        let fifo = tempfile::tempdir().unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            fifo.path().join(STATE_FILE),
            FileType::Fifo,
            Mode::RUSR | Mode::WUSR,
            0,
        )
        .unwrap();
        assert!(matches!(
            PersistentState::load(fifo.path(), true),
            Err(StateError::NotAFile(_))
        ));
    }

    #[test]
    fn the_frozen_marker_never_follows_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        let marker = FrozenMarker::new(dir.path());
        let at = dir.path().join(FROZEN_MARKER);
        // A dangling link counts as set; a link to a file is not followed.
        std::os::unix::fs::symlink(dir.path().join("nowhere"), &at).unwrap();
        assert!(marker.is_set());
        marker.clear();
        assert!(!marker.is_set());
        std::os::unix::fs::symlink(&victim, &at).unwrap();
        marker.set();
        let meta = fs::symlink_metadata(&at).unwrap();
        assert!(meta.file_type().is_file(), "the link was not replaced");
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o600
        );
        marker.clear();
        std::os::unix::fs::symlink(&victim, &at).unwrap();
        marker.clear();
        assert!(fs::symlink_metadata(&at).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        // An existing marker file is kept as it is.
        fs::write(&at, "left by QEMU's agent").unwrap();
        marker.set();
        assert_eq!(fs::read_to_string(&at).unwrap(), "left by QEMU's agent");
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
