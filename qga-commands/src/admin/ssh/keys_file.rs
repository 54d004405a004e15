//! `~/.ssh/authorized_keys` reached through directory descriptors: the
//! home opened by its path, `.ssh` and `authorized_keys` by `openat` with
//! `O_NOFOLLOW` below it, each checked with `fstat` and refused
//! ([`Failure::Refused`]) as the parent module lists. Other failures
//! ([`Failure::Open`], [`Failure::Read`]) are the ones QEMU's agent meets
//! too, and the caller words them as it does.

use std::fs::File;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Uid};
use rustix::io::Errno;

use super::User;
use crate::error::CommandError;
use crate::sys::{io_strerror, strerror};

/// The most bytes of `authorized_keys` read (1 MiB); a larger file is
/// refused.
pub const MAX_KEYS_FILE: u64 = 1024 * 1024;

const SSH_DIR: &str = ".ssh";
const KEYS_FILE: &str = "authorized_keys";

/// The path of `user`'s `~/.ssh/authorized_keys`, as errors name it.
pub fn keys_path(user: &User) -> PathBuf {
    user.home.join(SSH_DIR).join(KEYS_FILE)
}

/// Why the keys file could not be read.
#[derive(Debug)]
pub enum Failure {
    /// Opening the home, `.ssh` or the file failed (no such file, not a
    /// directory...).
    Open(Errno),
    /// Reading the open file failed.
    Read(Errno),
    /// Something a user may have planted to mislead root: the reply.
    Refused(CommandError),
}

impl Failure {
    /// The error for reading the keys file at `file`: QEMU's words, or the
    /// refusal.
    pub fn reading(self, file: &Path) -> CommandError {
        let shown = file.display();
        match self {
            Failure::Open(e) => CommandError::msg(format!(
                "failed to read '{shown}': Failed to open file \u{201c}{shown}\u{201d}: {}",
                strerror(e)
            )),
            Failure::Read(e) => CommandError::msg(format!(
                "failed to read '{shown}': Failed to read from file \u{201c}{shown}\u{201d}: {}",
                strerror(e)
            )),
            Failure::Refused(e) => e,
        }
    }

    /// Whether there is no file: a name on the way is missing or not a
    /// directory (what `access(F_OK)` on the path reports as absent).
    pub fn is_absent(&self) -> bool {
        matches!(self, Failure::Open(Errno::NOENT | Errno::NOTDIR))
    }
}

/// A refusal of `path`, logged for the administrator.
fn refuse(path: &Path, why: &str) -> Failure {
    let text = format!("cannot use '{}': {why}", path.display());
    log::warn!("SSH keys: {text}");
    Failure::Refused(CommandError::msg(text))
}

/// Refuses what `stat` describes unless the user or root owns it.
fn check_owner(stat: &Stat, user: &User, path: &Path) -> Result<(), Failure> {
    if stat.st_uid == user.uid || stat.st_uid == 0 {
        return Ok(());
    }
    Err(refuse(
        path,
        &format!("owned by uid {}, neither the user nor root", stat.st_uid),
    ))
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
                refuse(path, "a symbolic link")
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
        let failed = |what: &str, e| CommandError::errno(format!("failed to {what} '{}'", path.display()), e);
        let mode = Mode::from_raw_mode(0o700);
        let made_by_user = match as_user(self.user, || rustix::fs::mkdirat(&self.fd, SSH_DIR, mode)) {
            Ok(()) => true,
            // The user may not write here (or the agent is not root).
            Err(Errno::ACCESS | Errno::PERM) => {
                rustix::fs::mkdirat(&self.fd, SSH_DIR, mode).map_err(|e| failed("create directory", e))?;
                false
            }
            Err(e) => return Err(failed("create directory", e)),
        };
        // The user may have put a directory or a link of their own in its
        // place by now: what is there is checked as any `.ssh` is.
        let dir = self.ssh_dir().map_err(|failure| match failure {
            Failure::Refused(e) => e,
            Failure::Open(e) | Failure::Read(e) => failed("set ownership of directory", e),
        })?;
        if made_by_user && dir.owner != self.user.uid {
            let text = format!(
                "cannot use '{}': replaced by a directory of uid {} while it was being made",
                path.display(),
                dir.owner
            );
            log::warn!("SSH keys: {text}");
            return Err(CommandError::msg(text));
        }
        rustix::fs::fchown(
            &dir.fd,
            Some(Uid::from_raw(self.user.uid)),
            Some(Gid::from_raw(self.user.gid)),
        )
        .map_err(|e| failed("set ownership of directory", e))?;
        rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(0o700))
            .map_err(|e| failed("set permissions of directory", e))?;
        Ok(dir)
    }
}

/// Opens `user`'s `~/.ssh` to read the keys.
pub fn ssh_dir(user: &User) -> Result<SshDir<'_>, Failure> {
    Home::open(user)?.ssh_dir()
}

/// Opens `user`'s `~/.ssh` to write the keys, making it (0700, owned by
/// the user) when it cannot be opened; errors are QEMU's words for
/// `mkdir` failing, or a refusal.
pub fn ssh_dir_or_make(user: &User) -> Result<SshDir<'_>, CommandError> {
    let home = Home::open(user).map_err(|failure| match failure {
        Failure::Refused(e) => e,
        Failure::Open(e) | Failure::Read(e) => CommandError::errno(
            format!(
                "failed to create directory '{}'",
                user.home.join(SSH_DIR).display()
            ),
            e,
        ),
    })?;
    match home.ssh_dir() {
        Ok(dir) => Ok(dir),
        Err(Failure::Refused(e)) => Err(e),
        Err(Failure::Open(_) | Failure::Read(_)) => home.make_ssh_dir(),
    }
}

/// A user's `~/.ssh`, open and checked.
#[derive(Debug)]
pub struct SshDir<'a> {
    fd: OwnedFd,
    path: PathBuf,
    user: &'a User,
    /// Its owner's uid.
    owner: u32,
}

impl SshDir<'_> {
    /// The lines of `authorized_keys`, split at `\n`; the text ends at a
    /// NUL byte, as QEMU's C string does.
    pub fn read_lines(&self) -> Result<Vec<Vec<u8>>, Failure> {
        let path = self.path.join(KEYS_FILE);
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let (fd, stat) = open_below(&self.fd, KEYS_FILE, flags, &path)?;
        if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
            return Err(refuse(&path, "not a regular file"));
        }
        check_owner(&stat, self.user, &path)?;
        if stat.st_nlink > 1 {
            return Err(refuse(&path, &format!("has {} hard links", stat.st_nlink)));
        }
        let mut text = Vec::new();
        File::from(fd)
            .take(MAX_KEYS_FILE + 1)
            .read_to_end(&mut text)
            .map_err(|e| Failure::Read(Errno::from_io_error(&e).unwrap_or(Errno::IO)))?;
        if text.len() as u64 > MAX_KEYS_FILE {
            return Err(refuse(
                &path,
                &format!("larger than {MAX_KEYS_FILE} bytes (1 MiB), the most read"),
            ));
        }
        if let Some(nul) = text.iter().position(|&b| b == 0) {
            text.truncate(nul);
        }
        Ok(text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect())
    }

    /// Replaces `authorized_keys` with `lines` joined by `\n`: a new file,
    /// owned by the user with mode 0600, renamed over the old name within
    /// this directory. The new file is removed on any failure.
    pub fn write_lines(&self, lines: &[Vec<u8>]) -> Result<(), CommandError> {
        let path = self.path.join(KEYS_FILE);
        let failed =
            |why: String| CommandError::msg(format!("failed to write to '{}': {why}", path.display()));
        let (temp, mut file) = self.create_temp().map_err(|(temp, e)| {
            failed(format!(
                "Failed to create file \u{201c}{}\u{201d}: {}",
                self.path.join(temp).display(),
                strerror(e)
            ))
        })?;
        let shown = self.path.join(&temp);
        let shown = shown.display();
        let mut finish = || {
            file.write_all(&lines.join(&b'\n')).map_err(|e| {
                failed(format!(
                    "Failed to write file \u{201c}{shown}\u{201d}: write() failed: {}",
                    io_strerror(&e)
                ))
            })?;
            file.sync_all().map_err(|e| {
                failed(format!(
                    "Failed to write file \u{201c}{shown}\u{201d}: fsync() failed: {}",
                    io_strerror(&e)
                ))
            })?;
            rustix::fs::fchown(
                &file,
                Some(Uid::from_raw(self.user.uid)),
                Some(Gid::from_raw(self.user.gid)),
            )
            .map_err(|e| {
                CommandError::errno(
                    format!("failed to set ownership of directory '{}'", path.display()),
                    e,
                )
            })?;
            rustix::fs::fchmod(&file, Mode::from_raw_mode(0o600)).map_err(|e| {
                CommandError::errno(format!("failed to set permissions of '{}'", path.display()), e)
            })?;
            rustix::fs::renameat(&self.fd, &temp, &self.fd, KEYS_FILE).map_err(|e| {
                failed(format!(
                    "Failed to rename file \u{201c}{shown}\u{201d} to \u{201c}{}\u{201d}: g_rename() failed: {}",
                    path.display(),
                    strerror(e)
                ))
            })
        };
        let result = finish();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, &temp, AtFlags::empty());
        }
        result
    }

    /// Creates `authorized_keys.XXXXXX` (a random suffix) in this
    /// directory, exclusively, mode 0600; on failure, the last name tried
    /// and why.
    fn create_temp(&self) -> Result<(String, File), (String, Errno)> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let mut name = String::new();
        for _ in 0..100 {
            name = format!("{KEYS_FILE}.{}", random_suffix());
            match rustix::fs::openat(&self.fd, &name, flags, Mode::from_raw_mode(0o600)) {
                Ok(fd) => return Ok((name, File::from(fd))),
                Err(Errno::EXIST) => continue,
                Err(e) => return Err((name, e)),
            }
        }
        Err((name, Errno::EXIST))
    }
}

/// Six letters or digits no user can predict: std's hasher keys come from
/// the system's random source.
pub(super) fn random_suffix() -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bits = RandomState::new().build_hasher().finish();
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
