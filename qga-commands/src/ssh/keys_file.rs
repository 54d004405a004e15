//! `~/.ssh/authorized_keys` reached through directory descriptors: the
//! home opened by its path, `.ssh` and `authorized_keys` by `openat` with
//! `O_NOFOLLOW` below it, each checked with `fstat` and refused
//! ([`Failure::Refused`]) as the parent module lists. Other failures
//! ([`Failure::Open`], [`Failure::Read`]) are the ones QEMU's agent meets
//! too, and the caller words them as it does.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use qga_sys::fs::{create_fresh, random_u64, FreshNameError};
use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

use super::User;
use crate::error::{CommandError, SshStep, WriteStep};

/// The most bytes of `authorized_keys` read (1 MiB); a larger file is
/// refused.
pub(crate) const MAX_KEYS_FILE: u64 = 1024 * 1024;

const SSH_DIR: &str = ".ssh";
const KEYS_FILE: &str = "authorized_keys";

/// The path of `user`'s `~/.ssh/authorized_keys`, as errors name it.
pub(super) fn keys_path(user: &User) -> PathBuf {
    user.home.join(SSH_DIR).join(KEYS_FILE)
}

/// Why the keys file could not be read.
#[derive(Debug)]
pub(super) enum Failure {
    /// Opening the home, `.ssh` or the file failed (no such file, not a
    /// directory...).
    Open(Errno),
    /// Reading the open file failed.
    Read(Errno),
    /// Something a user may have planted to mislead root: the reply.
    Refused(CommandError),
}

/// What makes a file or directory on the way to `authorized_keys` one the
/// agent will not use (the texts are in `error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// A symbolic link.
    Link,
    /// Owned by someone else.
    Owner(u32),
    /// Not a regular file.
    NotAFile,
    /// A file with other names.
    HardLinks(u64),
    /// Too large to read.
    TooLarge,
    /// A `.ssh` the agent just made was swapped for another's.
    Replaced(u32),
}

impl Failure {
    /// The error for reading the keys file at `file`: QEMU's words, or the
    /// refusal.
    pub(super) fn reading(self, file: &Path) -> CommandError {
        match self {
            Failure::Open(e) => CommandError::KeysOpen(file.to_path_buf(), e),
            Failure::Read(e) => CommandError::KeysRead(file.to_path_buf(), e),
            Failure::Refused(e) => e,
        }
    }

    /// Whether there is no file: a name on the way is missing or not a
    /// directory (what `access(F_OK)` on the path reports as absent).
    pub(super) fn is_absent(&self) -> bool {
        matches!(self, Failure::Open(Errno::NOENT | Errno::NOTDIR))
    }
}

/// A refusal of `path`, logged for the administrator.
fn refused(path: &Path, why: Refusal) -> CommandError {
    let error = CommandError::SshRefused(path.to_path_buf(), why);
    log::warn!("SSH keys: {error}");
    error
}

fn refuse(path: &Path, why: Refusal) -> Failure {
    Failure::Refused(refused(path, why))
}

/// Refuses what `stat` describes unless the user or root owns it.
fn check_owner(stat: &Stat, user: &User, path: &Path) -> Result<(), Failure> {
    if stat.st_uid == user.uid || stat.st_uid == 0 {
        return Ok(());
    }
    Err(refuse(path, Refusal::Owner(stat.st_uid)))
}

/// Opens `name` in `dir` with `flags`, never following a link, and
/// returns it with its `fstat`; a link there is refused as one.
fn open_below(dir: &OwnedFd, name: &str, flags: OFlags, path: &Path) -> Result<(OwnedFd, Stat), Failure> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => {
            let stat = rustix::fs::fstat(&fd).map_err(Failure::Open)?;
            Ok((fd, stat))
        }
        // O_NOFOLLOW fails a link with ELOOP, or ENOTDIR with O_DIRECTORY;
        // ENOTDIR is also a plain file where a directory is wanted.
        Err(e @ (Errno::LOOP | Errno::NOTDIR)) => {
            let link = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
                .is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Symlink);
            Err(if link {
                refuse(path, Refusal::Link)
            } else {
                Failure::Open(e)
            })
        }
        Err(e) => Err(Failure::Open(e)),
    }
}

/// Runs `op` with `user`'s effective user and group ids, on this thread
/// only (Linux keeps credentials per thread, and rustix sets them with the
/// system calls, not the C library's process-wide emulation), then takes
/// the agent's back. Fails with `EPERM` when they cannot be taken (the
/// agent is not root). Should taking them back fail, the thread goes on
/// with fewer rights, never more.
fn as_user<T>(user: &User, op: impl FnOnce() -> rustix::io::Result<T>) -> rustix::io::Result<T> {
    use rustix::thread::{set_thread_res_gid, set_thread_res_uid};
    let (own_uid, own_gid) = (rustix::process::geteuid(), rustix::process::getegid());
    if own_uid.as_raw() == user.uid {
        return op();
    }
    // Changing the effective uid makes the kernel mark the whole process
    // not dumpable; it is put back as it was.
    let dumpable = rustix::process::dumpable_behavior().ok();
    set_thread_res_gid(None, Some(Gid::from_raw(user.gid)), None)?;
    if let Err(e) = set_thread_res_uid(None, Some(Uid::from_raw(user.uid)), None) {
        let _ = set_thread_res_gid(None, Some(own_gid), None);
        return Err(e);
    }
    let result = op();
    // The saved ids are still the agent's, so these cannot be refused.
    if let Err(e) = set_thread_res_uid(None, Some(own_uid), None) {
        log::error!("SSH keys: cannot take back the agent's user id: {e}");
    }
    if let Err(e) = set_thread_res_gid(None, Some(own_gid), None) {
        log::error!("SSH keys: cannot take back the agent's group id: {e}");
    }
    if let Some(dumpable) = dumpable {
        let _ = rustix::process::set_dumpable_behavior(dumpable);
    }
    result
}

/// The user's home directory, open.
struct Home<'a> {
    fd: OwnedFd,
    user: &'a User,
}

impl<'a> Home<'a> {
    /// Opens the home the user database names, refusing one owned by
    /// neither the user nor root.
    fn open(user: &'a User) -> Result<Home<'a>, Failure> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::open(&user.home, flags, Mode::empty()).map_err(Failure::Open)?;
        let stat = rustix::fs::fstat(&fd).map_err(Failure::Open)?;
        check_owner(&stat, user, &user.home)?;
        Ok(Home { fd, user })
    }

    /// Opens `~/.ssh`, refusing a link or a directory of another owner.
    fn ssh_dir(&self) -> Result<SshDir<'a>, Failure> {
        let path = self.user.home.join(SSH_DIR);
        let (fd, stat) = open_below(&self.fd, SSH_DIR, OFlags::RDONLY | OFlags::DIRECTORY, &path)?;
        check_owner(&stat, self.user, &path)?;
        Ok(SshDir {
            fd,
            path,
            user: self.user,
            owner: stat.st_uid,
        })
    }

    /// Makes `~/.ssh`, mode 0700, owned by the user.
    ///
    /// It is made with the user's own credentials, so it belongs to the
    /// user from its first instant: whatever the user puts in its place
    /// before the agent opens it, the agent then changes nothing of root's
    /// (a directory of root's swapped in is refused, not given to the
    /// user). A home the user cannot write (`EACCES`), where nobody but
    /// root can make or swap entries, gets it made by root.
    fn make_ssh_dir(&self) -> Result<SshDir<'a>, CommandError> {
        let path = self.user.home.join(SSH_DIR);
        let failed = |step, errno| CommandError::SshSetup {
            step,
            path: path.clone(),
            errno,
        };
        let mode = Mode::from_raw_mode(0o700);
        let made_by_user = match as_user(self.user, || rustix::fs::mkdirat(&self.fd, SSH_DIR, mode)) {
            Ok(()) => true,
            // The user may not write here (or the agent is not root).
            Err(Errno::ACCESS | Errno::PERM) => {
                rustix::fs::mkdirat(&self.fd, SSH_DIR, mode)
                    .map_err(|e| failed(SshStep::CreateDirectory, e))?;
                false
            }
            Err(e) => return Err(failed(SshStep::CreateDirectory, e)),
        };
        // The user may have put a directory or a link of their own in its
        // place by now: what is there is checked as any `.ssh` is.
        let dir = self.ssh_dir().map_err(|failure| match failure {
            Failure::Refused(e) => e,
            Failure::Open(e) | Failure::Read(e) => failed(SshStep::DirectoryOwner, e),
        })?;
        if made_by_user && dir.owner != self.user.uid {
            return Err(refused(&path, Refusal::Replaced(dir.owner)));
        }
        rustix::fs::fchown(
            &dir.fd,
            Some(Uid::from_raw(self.user.uid)),
            Some(Gid::from_raw(self.user.gid)),
        )
        .map_err(|e| failed(SshStep::DirectoryOwner, e))?;
        rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(0o700))
            .map_err(|e| failed(SshStep::DirectoryPermissions, e))?;
        Ok(dir)
    }
}

/// Opens `user`'s `~/.ssh` to read the keys.
pub(super) fn ssh_dir(user: &User) -> Result<SshDir<'_>, Failure> {
    Home::open(user)?.ssh_dir()
}

/// Opens `user`'s `~/.ssh` to write the keys, making it (0700, owned by
/// the user) when it cannot be opened; errors are QEMU's words for
/// `mkdir` failing, or a refusal.
pub(super) fn ssh_dir_or_make(user: &User) -> Result<SshDir<'_>, CommandError> {
    let home = Home::open(user).map_err(|failure| match failure {
        Failure::Refused(e) => e,
        Failure::Open(errno) | Failure::Read(errno) => CommandError::SshSetup {
            step: SshStep::CreateDirectory,
            path: user.home.join(SSH_DIR),
            errno,
        },
    })?;
    match home.ssh_dir() {
        Ok(dir) => Ok(dir),
        Err(Failure::Refused(e)) => Err(e),
        Err(Failure::Open(_) | Failure::Read(_)) => home.make_ssh_dir(),
    }
}

/// A user's `~/.ssh`, open and checked.
#[derive(Debug)]
pub(super) struct SshDir<'a> {
    fd: OwnedFd,
    path: PathBuf,
    user: &'a User,
    /// Its owner's uid.
    owner: u32,
}

impl SshDir<'_> {
    /// The lines of `authorized_keys`, split at `\n`; the text ends at a
    /// NUL byte, as QEMU's C string does.
    pub(super) fn read_lines(&self) -> Result<Vec<Vec<u8>>, Failure> {
        let path = self.path.join(KEYS_FILE);
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let (fd, stat) = open_below(&self.fd, KEYS_FILE, flags, &path)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refuse(&path, Refusal::NotAFile));
        }
        check_owner(&stat, self.user, &path)?;
        if stat.st_nlink > 1 {
            return Err(refuse(&path, Refusal::HardLinks(stat.st_nlink)));
        }
        let text = qga_sys::fs::read_capped_fd(fd, MAX_KEYS_FILE + 1)
            .map_err(|e| Failure::Read(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
        if text.len() as u64 > MAX_KEYS_FILE {
            return Err(refuse(&path, Refusal::TooLarge));
        }
        Ok(qga_sys::authorized_keys::lines(&text))
    }

    /// Replaces `authorized_keys` with `lines` joined by `\n`: a new file,
    /// owned by the user with mode 0600, renamed over the old name within
    /// this directory. The new file is removed on any failure.
    pub(super) fn write_lines(&self, lines: &[Vec<u8>]) -> Result<(), CommandError> {
        let path = self.path.join(KEYS_FILE);
        let failed = |step| CommandError::KeysWrite {
            path: path.clone(),
            step,
        };
        let (temp, mut file) = self.create_temp().map_err(|e| {
            failed(WriteStep::Create {
                temp: self.path.join(&e.name),
                errno: e.errno,
            })
        })?;
        let shown = self.path.join(&temp);
        let mut finish = || {
            file.write_all(&lines.join(&b'\n')).map_err(|e| {
                failed(WriteStep::Write {
                    temp: shown.clone(),
                    cause: e.into(),
                })
            })?;
            file.sync_all().map_err(|e| {
                failed(WriteStep::Fsync {
                    temp: shown.clone(),
                    cause: e.into(),
                })
            })?;
            rustix::fs::fchown(
                &file,
                Some(Uid::from_raw(self.user.uid)),
                Some(Gid::from_raw(self.user.gid)),
            )
            .map_err(|errno| CommandError::SshSetup {
                step: SshStep::FileOwner,
                path: path.clone(),
                errno,
            })?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(0o600)).map_err(|errno| {
                CommandError::SshSetup {
                    step: SshStep::FilePermissions,
                    path: path.clone(),
                    errno,
                }
            })?;
            rustix::fs::renameat(&self.fd, &temp, &self.fd, KEYS_FILE).map_err(|e| {
                failed(WriteStep::Rename {
                    temp: shown.clone(),
                    dest: path.clone(),
                    errno: e,
                })
            })
        };
        let result = finish();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
        }
        result
    }

    /// Creates `authorized_keys.XXXXXX` (a random suffix, the name QEMU's
    /// agent gives it, which its error texts show) in this directory,
    /// exclusively, mode 0600.
    fn create_temp(&self) -> Result<(OsString, File), FreshNameError> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        create_fresh(
            || format!("{KEYS_FILE}.{}", random_suffix()).into(),
            |name| rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(0o600)).map(File::from),
        )
    }
}

/// Six letters or digits no user can predict.
pub(super) fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bits = random_u64();
    (0..6)
        .map(|_| {
            let c = CHARS[(bits % CHARS.len() as u64) as usize];
            bits /= CHARS.len() as u64;
            char::from(c)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn as_user_acts_with_the_users_ids_and_gives_them_back() {
        let Some(guest) = crate::testing::GuestUser::new("asuser") else {
            return;
        };
        let user = User {
            uid: guest.uid(),
            gid: guest.gid(),
            home: guest.home().to_path_buf(),
        };
        let home =
            rustix::fs::open(guest.home(), OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        as_user(&user, || {
            rustix::fs::mkdirat(&home, "made", Mode::from_raw_mode(0o700))
        })
        .unwrap();
        let made = rustix::fs::statat(&home, "made", AtFlags::empty()).unwrap();
        assert_eq!((made.st_uid, made.st_gid), (guest.uid(), guest.gid()));
        // Where only root may write, the user may not.
        let root_only = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(
            root_only.path(),
            OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        assert_eq!(
            as_user(&user, || rustix::fs::mkdirat(
                &dir,
                "x",
                Mode::from_raw_mode(0o700)
            )),
            Err(Errno::ACCESS)
        );
        // And the thread is root again, the process as dumpable as before.
        assert!(rustix::process::geteuid().is_root());
        assert_eq!(
            rustix::process::dumpable_behavior().unwrap(),
            rustix::process::DumpableBehavior::Dumpable
        );
        assert_eq!(rustix::process::getegid().as_raw(), 0);
        rustix::fs::mkdirat(&dir, "x", Mode::from_raw_mode(0o700)).unwrap();
    }
}
