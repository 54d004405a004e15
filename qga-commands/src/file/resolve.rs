//! The path walk behind `guest-file-open`'s write modes: every mode but
//! `r`/`rb`.
//!
//! The agent runs as root, and the guest's unprivileged users can plant
//! symbolic links, FIFOs, hard links and files of their own in the sticky
//! world-writable directories (`/tmp`, `/var/tmp`, ...). The kernel guards
//! root against these with the `fs.protected_*` sysctls, which a guest may
//! have turned off. This walk applies the same rules whatever the sysctls
//! say, to writes only (a read hands the host nothing it could not get
//! anyway, and through a symbolic link is how `/etc/resolv.conf` is read):
//!
//! - A symbolic link in a sticky world-writable directory is followed only
//!   if it is owned by root (or the agent's own user) or by the
//!   directory's owner (`protected_symlinks`), when it is a directory on
//!   the way; in the last place it is never followed.
//! - An existing file in a sticky world-writable directory is opened only
//!   if it is owned by root (or the agent's own user) or by the
//!   directory's owner, whatever its type (`protected_regular`,
//!   `protected_fifos`); a regular file there with more than one hard link
//!   is not opened (in the spirit of `protected_hardlinks`).
//! - Nothing is truncated before these checks: the file is opened without
//!   `O_TRUNC`, checked on its descriptor, then `ftruncate`d.
//!
//! How: the path is walked one component at a time from `/` (an absolute
//! path) or the agent's working directory (a relative one, as QEMU), each
//! with `openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC)` and `fstat`.
//! A directory becomes the next `dir`; `..` is `openat(dir, "..")`, so the
//! kernel keeps it inside the process's root; a symbolic link is checked
//! against the directory it is in, read with `readlinkat(link, "")` and
//! walked in place of its name (an absolute target from `/`), at most
//! [`MAX_LINKS`] links per open, as the kernel counts (`ELOOP` past that).
//! The last component is opened with `O_NOFOLLOW`: a new file with
//! `O_CREAT | O_EXCL` and mode 0600 (so no one else can open it before it
//! is `fchmod`-ed to the configured mode), an existing one by `O_PATH`
//! lookup and check first (so a foreign FIFO or device is never even
//! opened), then for real (with `O_CREAT` in the creating modes, so the
//! kernel's own `protected_regular` applies too when on), then checked
//! again on the descriptor it got. Outside sticky world-writable
//! directories a symbolic link in the last place is followed by the same
//! walk, to an existing file only (as QEMU's agent, which never creates
//! through a dangling link). Each step works on the descriptor the step
//! before got, so renaming or replacing a component already passed
//! changes nothing; a last component swapped between the lookup and the
//! open is caught by the check on the descriptor.
//!
//! Symbolic links on procfs (`/proc/PID/root`, `/proc/PID/fd/N`, ...) are
//! the kernel's, not a user's text, and lead where only the kernel can
//! follow (another mount namespace, a deleted file): the kernel follows
//! them.
//!
//! Errors are the kernel's own (`ENOENT`, `ENOTDIR`, `EISDIR`, `ELOOP`,
//! ...) wherever the kernel's `open` would fail the same way, so the
//! host reads what QEMU's agent would have told it; a rule that refuses
//! gives a [`Refusal`].

use std::os::fd::OwnedFd;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat, CWD};
use rustix::io::Errno;

/// Most symbolic links one open follows (the kernel's `MAXSYMLINKS`).
pub(crate) const MAX_LINKS: u32 = 40;

/// Longest path the kernel takes (`PATH_MAX`, its terminating NUL
/// included).
const PATH_MAX: usize = 4096;

/// How often the last component is looked up again when it changes
/// between the lookup and the open (someone racing the agent).
const RACE_RETRIES: u32 = 16;

/// Permissions a new file has until it is `fchmod`-ed: the agent's only.
const PRIVATE_MODE: u32 = 0o600;

/// Flags on every descriptor: no controlling terminal, no blocking open
/// of a FIFO, not inherited by children.
const OPEN_FLAGS: OFlags = OFlags::NOCTTY.union(OFlags::NONBLOCK).union(OFlags::CLOEXEC);

/// Flags of a lookup that opens nothing and follows no link.
const LOOKUP_FLAGS: OFlags = OFlags::PATH.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC);

/// How one write mode opens its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct WriteOpen {
    /// `O_WRONLY` or `O_RDWR`, with `O_APPEND` for the append modes.
    pub(crate) access: OFlags,
    /// Whether a missing file is created (`w`, `a`, `w+`, `a+`).
    pub(crate) create: bool,
    /// Whether an existing file is emptied (`w`, `w+`).
    pub(crate) truncate: bool,
    /// Permissions of a created file, set with `fchmod` (so whatever the
    /// umask).
    pub(crate) create_mode: Mode,
}

/// Why [`open_for_write`] failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// A system call failed: the error the kernel's `open` gives for the
    /// same path where it would fail too.
    Sys(Errno),
    /// A rule against a guest user's trap refused the path.
    Refused(Refusal),
    /// The file was created, but its permissions could not be set; it was
    /// removed again.
    Chmod(Errno),
}

impl From<Errno> for OpenError {
    fn from(e: Errno) -> Self {
        OpenError::Sys(e)
    }
}

impl From<Refusal> for OpenError {
    fn from(r: Refusal) -> Self {
        OpenError::Refused(r)
    }
}

/// A rule that refused a path (each reads as the reason after "Permission
/// denied: "; the texts are in `error.rs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The last component is a symbolic link in a sticky world-writable
    /// directory.
    LastSymlink,
    /// A symbolic link on the way, in a sticky world-writable directory, is
    /// owned by someone else than root and the directory's owner.
    ForeignLink {
        /// The link's name, as the system has it.
        name: Vec<u8>,
        /// Its owner.
        owner: u32,
    },
    /// The existing file, in a sticky world-writable directory, is owned by
    /// someone else than root and the directory's owner.
    ForeignOwner {
        /// What the file is ("regular file", "FIFO", ...).
        kind: &'static str,
        /// Its owner.
        owner: u32,
    },
    /// The existing regular file, in a sticky world-writable directory, has
    /// more than one hard link.
    HardLinked {
        /// How many.
        links: u64,
    },
}

/// A directory the walk stands in: its descriptor (`O_PATH`) and status.
struct Dir {
    fd: OwnedFd,
    stat: Stat,
}

impl Dir {
    /// Opens the directory `name` in `at`, following nothing in the last
    /// place (`ENOTDIR` for a symbolic link or anything but a directory).
    fn open(at: impl std::os::fd::AsFd, name: &[u8]) -> Result<Dir, Errno> {
        let fd = rustix::fs::openat(at, name, LOOKUP_FLAGS | OFlags::DIRECTORY, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        Ok(Dir { fd, stat })
    }

    /// The process's root directory.
    fn root() -> Result<Dir, Errno> {
        Dir::open(CWD, b"/")
    }

    /// The agent's working directory.
    fn cwd() -> Result<Dir, Errno> {
        Dir::open(CWD, b".")
    }

    /// Whether this directory is on procfs, whose symbolic links
    /// (`/proc/PID/root`, `/proc/PID/fd/N`, `/proc/self`...) are the
    /// kernel's, not text a user wrote: only the kernel can follow them
    /// (into another mount namespace, to a deleted or renamed file).
    fn is_procfs(&self) -> bool {
        rustix::fs::fstatfs(&self.fd).is_ok_and(|fs| fs.f_type == rustix::fs::PROC_SUPER_MAGIC)
    }

    /// Whether this is a sticky world-writable directory, where the rules
    /// apply (the test the kernel's `protected_*` sysctls make).
    fn is_sticky_world_writable(&self) -> bool {
        let mode = self.stat.st_mode;
        mode & 0o1000 != 0 && mode & 0o002 != 0
    }

    /// Whether a file owned by `owner` may be used in this directory when
    /// it is sticky and world-writable: root's, the agent user's (root,
    /// for a real agent: the kernel's "the follower's own"), or the
    /// directory owner's.
    fn trusts(&self, owner: u32) -> bool {
        owner == 0 || owner == self.stat.st_uid || owner == rustix::process::geteuid().as_raw()
    }
}

/// What the file with status `stat` is, in words.
fn kind_of(stat: &Stat) -> &'static str {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => "a regular file",
        FileType::Directory => "a directory",
        FileType::Symlink => "a symbolic link",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice => "a character device",
        FileType::BlockDevice => "a block device",
        FileType::Unknown => "a file of unknown type",
    }
}

/// Checks an existing file about to be opened in `dir` (a directory
/// passes: the kernel opens none for writing, `EISDIR`).
fn check_existing(dir: &Dir, stat: &Stat) -> Result<(), Refusal> {
    if !dir.is_sticky_world_writable() {
        return Ok(());
    }
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind == FileType::Directory {
        return Ok(());
    }
    if !dir.trusts(stat.st_uid) {
        return Err(Refusal::ForeignOwner {
            kind: kind_of(stat),
            owner: stat.st_uid,
        });
    }
    // `st_nlink` is u64 or u32 depending on the architecture.
    #[allow(clippy::unnecessary_cast)]
    let links = stat.st_nlink as u64;
    if kind == FileType::RegularFile && links > 1 {
        return Err(Refusal::HardLinked { links });
    }
    Ok(())
}

/// Adds the components of `text` (a path or a link's target) to `rest`,
/// the stack of components still to walk (the next one last). A trailing
/// `/` adds a `.`: what it names must be a directory.
fn push_path(rest: &mut Vec<Vec<u8>>, text: &[u8]) {
    let mut components: Vec<Vec<u8>> = text
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    if text.ends_with(b"/") {
        components.push(b".".to_vec());
    }
    rest.extend(components.into_iter().rev());
}

/// One walk: the links it has followed so far.
struct Walk {
    links: u32,
    how: WriteOpen,
}

impl Walk {
    /// Follows the symbolic link `link` (an `O_PATH` descriptor of it) found
    /// in `dir`: its target's components go on `rest`, and `dir` becomes
    /// the root for an absolute target.
    fn follow(&mut self, dir: &mut Dir, link: &OwnedFd, rest: &mut Vec<Vec<u8>>) -> Result<(), OpenError> {
        self.count_link()?;
        let target = rustix::fs::readlinkat(link, "", Vec::new())?.into_bytes();
        if target.is_empty() {
            return Err(Errno::NOENT.into());
        }
        if target.starts_with(b"/") {
            *dir = Dir::root()?;
        }
        push_path(rest, &target);
        Ok(())
    }

    /// Counts one more link followed; `ELOOP` past [`MAX_LINKS`].
    fn count_link(&mut self) -> Result<(), OpenError> {
        self.links += 1;
        if self.links > MAX_LINKS {
            return Err(Errno::LOOP.into());
        }
        Ok(())
    }

    /// Walks one component that is not the last: into a directory, or
    /// through a symbolic link the rules allow.
    fn step(&mut self, dir: &mut Dir, name: &[u8], rest: &mut Vec<Vec<u8>>) -> Result<(), OpenError> {
        match name {
            b"." => return Ok(()),
            b".." => {
                *dir = Dir::open(&dir.fd, b"..")?;
                return Ok(());
            }
            _ => {}
        }
        // A directory (the common case) in one call; `O_DIRECTORY` also
        // mounts an automount point.
        match Dir::open(&dir.fd, name) {
            Ok(next) => {
                *dir = next;
                return Ok(());
            }
            Err(Errno::NOTDIR) => {}
            Err(e) => return Err(e.into()),
        }
        let fd = rustix::fs::openat(&dir.fd, name, LOOKUP_FLAGS, Mode::empty())?;
        let stat = rustix::fs::fstat(&fd)?;
        match FileType::from_raw_mode(stat.st_mode) {
            FileType::Symlink if dir.is_procfs() => {
                // The kernel's own link: the kernel follows it.
                self.count_link()?;
                let fd = rustix::fs::openat(
                    &dir.fd,
                    name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                let stat = rustix::fs::fstat(&fd)?;
                *dir = Dir { fd, stat };
                Ok(())
            }
            FileType::Symlink => {
                if dir.is_sticky_world_writable() && !dir.trusts(stat.st_uid) {
                    return Err(Refusal::ForeignLink {
                        name: name.to_vec(),
                        owner: stat.st_uid,
                    }
                    .into());
                }
                self.follow(dir, &fd, rest)
            }
            // Replaced by a directory since the first look: look again.
            FileType::Directory => {
                *dir = Dir { fd, stat };
                Ok(())
            }
            _ => Err(Errno::NOTDIR.into()),
        }
    }

    /// Opens the last component, `name` in `dir`. `Ok(None)` when it was
    /// a symbolic link that was followed: its target is on `rest`.
    fn open_last(
        &mut self,
        dir: &mut Dir,
        name: &[u8],
        create: bool,
        rest: &mut Vec<Vec<u8>>,
    ) -> Result<Option<OwnedFd>, OpenError> {
        if name == b"." || name == b".." {
            // A directory, which no write mode opens.
            return Err(Errno::ISDIR.into());
        }
        let how = self.how;
        // Why the last try failed, should someone keep swapping the name.
        let mut last_error = Errno::AGAIN;
        for _ in 0..RACE_RETRIES {
            if create {
                // `O_EXCL` follows no link, and fails on any name that is
                // there, a dangling link included.
                let new = rustix::fs::openat(
                    &dir.fd,
                    name,
                    how.access | OPEN_FLAGS | OFlags::CREATE | OFlags::EXCL,
                    Mode::from_raw_mode(PRIVATE_MODE),
                );
                match new {
                    Ok(fd) => {
                        if let Err(e) = rustix::fs::fchmod(&fd, how.create_mode) {
                            drop(fd);
                            let _ = rustix::fs::unlinkat(&dir.fd, name, AtFlags::empty());
                            return Err(OpenError::Chmod(e));
                        }
                        return Ok(Some(fd));
                    }
                    Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            // There is something by that name: see what, without opening it.
            let found = match rustix::fs::openat(&dir.fd, name, LOOKUP_FLAGS, Mode::empty()) {
                Ok(fd) => fd,
                // Removed since the exclusive create: create it again.
                Err(Errno::NOENT) if create => {
                    last_error = Errno::NOENT;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            let stat = rustix::fs::fstat(&found)?;
            if FileType::from_raw_mode(stat.st_mode) == FileType::Symlink {
                if dir.is_procfs() {
                    // The kernel's own link (`/proc/PID/fd/N`...): the
                    // kernel follows it; procfs is no sticky directory.
                    self.count_link()?;
                    let fd = rustix::fs::openat(&dir.fd, name, how.access | OPEN_FLAGS, Mode::empty())?;
                    let stat = rustix::fs::fstat(&fd)?;
                    if how.truncate && FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                        rustix::fs::ftruncate(&fd, 0)?;
                    }
                    return Ok(Some(fd));
                }
                if dir.is_sticky_world_writable() {
                    return Err(Refusal::LastSymlink.into());
                }
                self.follow(dir, &found, rest)?;
                return Ok(None);
            }
            check_existing(dir, &stat)?;
            drop(found);
            // Now open it for real: never through a link, never truncated
            // yet. `O_CREAT` (without `O_EXCL`) in the creating modes lets
            // the kernel's own protected_regular refuse too, when it is on;
            // should the file have gone meanwhile it is created with the
            // configured mode less the umask.
            let mut flags = how.access | OPEN_FLAGS | OFlags::NOFOLLOW;
            if create {
                flags |= OFlags::CREATE;
            }
            let fd = match rustix::fs::openat(&dir.fd, name, flags, how.create_mode) {
                Ok(fd) => fd,
                // Replaced by a symbolic link since the lookup (`ELOOP`;
                // `EACCES` in a sticky directory with `O_CREAT`, where the
                // kernel refuses a link not the agent's whatever the
                // sysctls say): look again, to say why.
                Err(e @ Errno::LOOP) => {
                    last_error = e;
                    continue;
                }
                Err(e @ Errno::ACCESS) if dir.is_sticky_world_writable() => {
                    last_error = e;
                    continue;
                }
                Err(e) => return Err(e.into()),
            };
            // What was opened is what counts: check it again.
            let stat = rustix::fs::fstat(&fd)?;
            check_existing(dir, &stat)?;
            if how.truncate && FileType::from_raw_mode(stat.st_mode) == FileType::RegularFile {
                rustix::fs::ftruncate(&fd, 0)?;
            }
            return Ok(Some(fd));
        }
        // Someone keeps swapping the name under the agent.
        Err(last_error.into())
    }
}

/// Opens `path` (as the system has it) for writing as `how` says, with
/// `O_NOCTTY | O_NONBLOCK | O_CLOEXEC`, under the rules of this module.
pub(crate) fn open_for_write(path: &[u8], how: WriteOpen) -> Result<OwnedFd, OpenError> {
    if path.len() >= PATH_MAX {
        return Err(Errno::NAMETOOLONG.into());
    }
    if path.ends_with(b"/") {
        // Names a directory, which no write mode opens: the kernel's open
        // says why (EISDIR, ENOTDIR, ENOENT, ...) as QEMU's agent would.
        return Err(kernel_refuses_directory(path, how).into());
    }
    let mut walk = Walk { links: 0, how };
    let mut dir = if path.starts_with(b"/") {
        Dir::root()?
    } else {
        Dir::cwd()?
    };
    let mut rest = Vec::new();
    push_path(&mut rest, path);
    let mut create = how.create;
    while let Some(name) = rest.pop() {
        if !rest.is_empty() {
            walk.step(&mut dir, &name, &mut rest)?;
            continue;
        }
        if let Some(fd) = walk.open_last(&mut dir, &name, create, &mut rest)? {
            return Ok(fd);
        }
        // A link in the last place was followed: its target is opened only
        // if it exists.
        create = false;
    }
    // An empty path.
    Err(Errno::NOENT.into())
}

/// The kernel's error for opening `path`, which ends in `/`, as `how` says
/// (first attempt as QEMU's agent makes it: exclusive create when the mode
/// creates).
fn kernel_refuses_directory(path: &[u8], how: WriteOpen) -> Errno {
    let mut flags = how.access | OPEN_FLAGS;
    if how.create {
        flags |= OFlags::CREATE | OFlags::EXCL;
    }
    match rustix::fs::openat(CWD, path, flags, Mode::from_raw_mode(PRIVATE_MODE)) {
        Err(e) => e,
        // Cannot be: a path ending in `/` names a directory, and no
        // directory opens for writing. Refuse all the same.
        Ok(_) => Errno::ISDIR,
    }
}

#[cfg(test)]
mod tests;
