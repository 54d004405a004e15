//! The pidfile: created or taken over, locked while the agent runs, removed
//! on exit. An agent that starts while filesystems are frozen writes it
//! within the thaw, as QEMU's does (it subscribes to the agent's
//! [`FreezeState`]): the pidfile may be on a frozen filesystem, and writing
//! to it would block the agent before it could serve the thaw.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use anyhow::{bail, Context};
use qapi_core::FreezeState;
use rustix::fs::{flock, AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

/// How many times the pidfile may change under the agent while it takes
/// it before it gives up.
const MAX_RACES: u32 = 100;

/// A pidfile this process holds: locked, naming this process.
///
/// It is never written in place: the pid goes into a new file of an
/// unpredictable name, which is synced, locked, and renamed into place,
/// so a symbolic link or another file planted at the path is never
/// followed or written. An existing file is first locked (failing if a
/// live agent holds it) and then replaced; where there is none, the rename
/// does not replace whatever may have appeared meanwhile, so two agents
/// starting together cannot both believe they hold it.
#[derive(Debug)]
pub struct Pidfile {
    /// The directory holding the pidfile, and its name there.
    dir: OwnedFd,
    name: OsString,
    /// The pidfile, open and locked while this process runs.
    file: File,
}

/// A temporary file removed when dropped, unless it was renamed away.
struct Temporary<'a> {
    dir: &'a OwnedFd,
    name: OsString,
    placed: bool,
}

impl Drop for Temporary<'_> {
    fn drop(&mut self) {
        if !self.placed {
            let _ = rustix::fs::unlinkat(self.dir, self.name.as_os_str(), AtFlags::empty());
        }
    }
}

/// Device and inode of the entry `name` in `dir`, not following a symlink.
fn entry_id(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<(u64, u64)> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok((stat.st_dev, stat.st_ino))
}

/// Device and inode of an open file.
fn open_id(file: impl std::os::fd::AsFd) -> rustix::io::Result<(u64, u64)> {
    let stat = rustix::fs::fstat(file)?;
    Ok((stat.st_dev, stat.st_ino))
}

impl Pidfile {
    /// Writes this process's pid to `path`, holding an exclusive lock on it.
    /// Fails if another live process holds the lock, or if `path` is a
    /// symbolic link or not a regular file; a file left by a process that
    /// is gone is replaced.
    pub fn acquire(path: &Path) -> anyhow::Result<Pidfile> {
        let shown = path.display();
        let Some(name) = path.file_name() else {
            bail!("invalid pid file path {shown}");
        };
        let dir_path = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let dir = rustix::fs::open(
            dir_path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| format!("cannot open pid file {shown}"))?;
        let (tmp, fd) = qga_sys::fs::create_unique(&dir, name, 0o644)
            .with_context(|| format!("cannot open pid file {shown}"))?;
        let mut tmp = Temporary {
            dir: &dir,
            name: tmp,
            placed: false,
        };
        let mut file = File::from(fd);
        writeln!(file, "{}", std::process::id())
            .and_then(|()| file.sync_all())
            .with_context(|| format!("failed to write pid file {shown}"))?;
        // Nobody else knows the file yet: it is locked before it has its
        // name, so it is never there unlocked.
        flock(&file, FlockOperation::NonBlockingLockExclusive)
            .with_context(|| format!("cannot lock pid file {shown}"))?;

        for _ in 0..MAX_RACES {
            let flags =
                OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
            let existing = match rustix::fs::openat(&dir, name, flags, Mode::empty()) {
                Ok(existing) => existing,
                Err(Errno::NOENT) => {
                    if place_new(&dir, &tmp.name, name)
                        .with_context(|| format!("cannot create pid file {shown}"))?
                    {
                        tmp.placed = true;
                        break;
                    }
                    continue;
                }
                Err(Errno::LOOP) => bail!("pid file {shown} is a symbolic link: refusing to follow it"),
                Err(e) => return Err(e).with_context(|| format!("cannot open pid file {shown}")),
            };
            let stat =
                rustix::fs::fstat(&existing).with_context(|| format!("cannot open pid file {shown}"))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                bail!("pid file {shown} exists and is not a regular file");
            }
            if let Err(e) = flock(&existing, FlockOperation::NonBlockingLockExclusive) {
                let mut holder = String::new();
                let _ = File::from(existing).take(64).read_to_string(&mut holder);
                let holder = holder.trim();
                if holder.is_empty() {
                    bail!("cannot lock pid file {shown}: {e}");
                }
                bail!("cannot lock pid file {shown}: {e} (held by pid {holder})");
            }
            // Its owner may have removed or replaced it between the open
            // and the lock: take over only the file that is there.
            if entry_id(&dir, name).ok() != Some((stat.st_dev, stat.st_ino)) {
                continue;
            }
            // Locked, it cannot be taken by another agent until it has been
            // replaced by this one's.
            rustix::fs::renameat(&dir, tmp.name.as_os_str(), &dir, name)
                .with_context(|| format!("cannot replace pid file {shown}"))?;
            tmp.placed = true;
            drop(existing);
            break;
        }
        if !tmp.placed {
            bail!("pid file {shown} keeps changing: cannot take it");
        }
        drop(tmp);
        Ok(Pidfile {
            dir,
            name: name.to_os_string(),
            file,
        })
    }
}

/// Gives the temporary file `tmp` in `dir` the name `name`, which nothing
/// had a moment ago. `Ok(false)` if something has it now.
fn place_new(dir: &OwnedFd, tmp: &OsStr, name: &OsStr) -> rustix::io::Result<bool> {
    match rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        // A filesystem without RENAME_NOREPLACE: a hard link never replaces
        // either.
        Err(Errno::INVAL) => match rustix::fs::linkat(dir, tmp, dir, name, AtFlags::empty()) {
            Ok(()) => {
                let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
                Ok(true)
            }
            Err(Errno::EXIST) => Ok(false),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    }
}

impl Drop for Pidfile {
    /// Removes the pidfile, if it is still this process's, while it is
    /// still locked.
    fn drop(&mut self) {
        if open_id(&self.file).is_ok_and(|ours| entry_id(&self.dir, &self.name).ok() == Some(ours)) {
            let _ = rustix::fs::unlinkat(&self.dir, self.name.as_os_str(), AtFlags::empty());
        }
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
    /// Acquires the pidfile at `path` now, or, while `freeze` says the
    /// agent is frozen, once it is thawed (a failure then is logged, since
    /// start-up is over).
    pub fn acquire_when_thawed(path: PathBuf, freeze: &Arc<FreezeState>) -> anyhow::Result<PidfileSlot> {
        if !freeze.is_frozen() {
            let pidfile = Pidfile::acquire(&path)?;
            return Ok(PidfileSlot {
                shared: Arc::new(Mutex::new(SlotState {
                    pidfile: Some(pidfile),
                    released: false,
                })),
            });
        }
        let shared = Arc::new(Mutex::new(SlotState::default()));
        acquire_at_thaw(path, Arc::clone(freeze), Arc::clone(&shared));
        Ok(PidfileSlot { shared })
    }

    /// Gives up a pidfile not written yet (an agent on its way out, before
    /// it thaws: it is not to write one then); one written stays until
    /// the slot is dropped.
    pub fn cancel_pending(&self) {
        self.shared
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .released = true;
    }
}

/// Acquires the pidfile into `slot` after the next thaw, unless the slot
/// was given up: while thawed, holding a freeze off meanwhile, or after the
/// thaw after that if the agent was frozen again first.
fn acquire_at_thaw(path: PathBuf, freeze: Arc<FreezeState>, slot: Arc<Mutex<SlotState>>) {
    let waiting = Arc::clone(&freeze);
    waiting.when_thawed(move || {
        let mut state = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if state.released {
            return;
        }
        match freeze.while_thawed(|| Pidfile::acquire(&path)) {
            Some(Ok(pidfile)) => state.pidfile = Some(pidfile),
            Some(Err(e)) => {
                drop(state);
                log::warn!("failed to create the pid file after the thaw: {e:#}");
            }
            None => {
                drop(state);
                acquire_at_thaw(path, freeze, slot);
            }
        }
    });
}

impl Drop for PidfileSlot {
    /// Removes the pidfile if it was written, and cancels writing it.
    fn drop(&mut self) {
        let mut state = self.shared.lock().unwrap_or_else(PoisonError::into_inner);
        state.released = true;
        state.pidfile = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn is_locked(path: &Path) -> bool {
        let file = File::open(path).unwrap();
        flock(&file, FlockOperation::NonBlockingLockShared).is_err()
    }

    #[test]
    fn the_pidfile_names_this_process_is_locked_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qga.pid");
        let pidfile = Pidfile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert!(is_locked(&path));
        assert_eq!(names(dir.path()), ["qga.pid"], "a temporary file was left");
        let again = Pidfile::acquire(&path).unwrap_err().to_string();
        assert!(
            again.contains(&format!("(held by pid {})", std::process::id())),
            "{again}"
        );
        assert_eq!(names(dir.path()), ["qga.pid"]);
        drop(pidfile);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn a_stale_pidfile_is_replaced_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qga.pid");
        let alias = dir.path().join("alias");
        std::fs::write(&path, "999999\n").unwrap();
        std::fs::hard_link(&path, &alias).unwrap();
        let pidfile = Pidfile::acquire(&path).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            format!("{}\n", std::process::id())
        );
        assert_eq!(std::fs::read_to_string(&alias).unwrap(), "999999\n");
        drop(pidfile);
    }

    #[test]
    fn a_symlink_or_other_file_at_the_path_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "precious").unwrap();
        let link = dir.path().join("link.pid");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        let err = Pidfile::acquire(&link).unwrap_err().to_string();
        assert!(err.contains("symbolic link"), "{err}");
        let dangling = dir.path().join("dangling.pid");
        std::os::unix::fs::symlink(dir.path().join("absent"), &dangling).unwrap();
        assert!(Pidfile::acquire(&dangling).is_err());
        let fifo = dir.path().join("fifo.pid");
        rustix::fs::mknodat(rustix::fs::CWD, &fifo, FileType::Fifo, Mode::RUSR | Mode::WUSR, 0).unwrap();
        let err = Pidfile::acquire(&fifo).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
        assert!(!dir.path().join("absent").exists());
        assert_eq!(
            names(dir.path()),
            ["dangling.pid", "fifo.pid", "link.pid", "victim"]
        );
    }

    #[test]
    fn agents_starting_together_take_it_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("qga.pid");
        for _ in 0..20 {
            let barrier = Arc::new(std::sync::Barrier::new(8));
            let takers: Vec<_> = (0..8)
                .map(|_| {
                    let (barrier, path) = (Arc::clone(&barrier), path.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        Pidfile::acquire(&path).ok()
                    })
                })
                .collect();
            let held: Vec<Pidfile> = takers.into_iter().filter_map(|t| t.join().unwrap()).collect();
            assert_eq!(held.len(), 1, "{} holders", held.len());
            assert!(is_locked(&path));
            drop(held);
            assert!(names(dir.path()).is_empty(), "{:?}", names(dir.path()));
        }
    }
}
