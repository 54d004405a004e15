//! Filesystem requests: freezing, thawing and trimming a mounted
//! filesystem through an open directory on it (`FIFREEZE`, `FITHAW`,
//! `FITRIM` from `<linux/fs.h>`), creating files that nobody else can have
//! planted, and reading files with a size cap.
#![allow(unsafe_code)]

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::fs::{Mode, OFlags};
use rustix::io::{self, Errno};
use rustix::ioctl::{ioctl, opcode, NoArg, Opcode};

/// `FIFREEZE`: `_IOWR('X', 119, int)` from `<linux/fs.h>`.
const FIFREEZE: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 119);
/// `FITHAW`: `_IOWR('X', 120, int)` from `<linux/fs.h>`.
const FITHAW: Opcode = opcode::read_write::<core::ffi::c_int>(b'X', 120);

/// Freezes the filesystem that `dir` (an open directory on it) belongs to.
pub fn freeze_fs(dir: impl AsFd) -> io::Result<()> {
    // SAFETY: FIFREEZE is the kernel's filesystem-freeze request; it ignores
    // its argument, so passing none (a null pointer) lets the kernel read
    // or write no user memory.
    unsafe { ioctl(dir, NoArg::<FIFREEZE>::new()) }
}

/// Thaws the filesystem that `dir` (an open directory on it) belongs to.
pub fn thaw_fs(dir: impl AsFd) -> io::Result<()> {
    // SAFETY: as for `freeze_fs`: FITHAW ignores its argument.
    unsafe { ioctl(dir, NoArg::<FITHAW>::new()) }
}

/// `struct fstrim_range` from `<linux/fs.h>`: the byte range to trim and
/// the shortest free extent worth discarding. On return the kernel has
/// set `len` to the bytes trimmed and `minlen` to the minimum it used.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FstrimRange {
    /// First byte of the range.
    pub start: u64,
    /// Length of the range in bytes; trimmed bytes on return.
    pub len: u64,
    /// Shortest free extent to discard; the minimum applied on return.
    pub minlen: u64,
}

/// `FITRIM`: `_IOWR('X', 121, struct fstrim_range)` from `<linux/fs.h>`.
const FITRIM: Opcode = opcode::read_write::<FstrimRange>(b'X', 121);

/// Discards unused blocks of the filesystem that `dir` (an open directory
/// on it) belongs to, within and as bounded by `range`, which the kernel
/// updates with what it did.
pub fn trim_fs(dir: impl AsFd, range: &mut FstrimRange) -> io::Result<()> {
    // SAFETY: FITRIM reads and writes exactly one `struct fstrim_range`
    // (three u64s) through its argument; `FstrimRange` is `#[repr(C)]` with
    // that layout, and the exclusive borrow keeps it alive and unaliased
    // for the duration of the call.
    unsafe { ioctl(dir, rustix::ioctl::Updater::<FITRIM, FstrimRange>::new(range)) }
}

/// 64 bits no other process can predict: std's hasher keys come from the
/// system's random source (and a counter, the pid and the time make two
/// calls differ even with equal keys).
pub fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    if let Ok(now) = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        hasher.write_u128(now.as_nanos());
    }
    hasher.finish()
}

/// A name for a temporary file or directory beside `stem` that no other
/// process can guess: `.<stem>.<16 hex digits>` (the stem cut to 64 bytes).
pub fn unpredictable_name(stem: &OsStr) -> OsString {
    let stem = stem.as_bytes();
    let mut name = b".".to_vec();
    name.extend_from_slice(&stem[..stem.len().min(64)]);
    name.extend_from_slice(format!(".{:016x}", random_u64()).as_bytes());
    OsString::from_vec(name)
}

/// Nothing could be made under a fresh name: the last name tried, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot create {}: {errno}", name.to_string_lossy())]
pub struct FreshNameError {
    /// The last name tried.
    pub name: OsString,
    /// Why it failed (`EEXIST` when every name tried was taken).
    pub errno: Errno,
}

/// How many names [`create_fresh`] tries.
const FRESH_TRIES: u32 = 16;

/// Makes something (`create`, given a name, creating exclusively) under a
/// name from `name` that nothing has yet: a name taken (`EEXIST`) is
/// replaced by a new one, up to 16 times. Returns the name and what was
/// made.
pub fn create_fresh<T>(
    mut name: impl FnMut() -> OsString,
    mut create: impl FnMut(&OsStr) -> io::Result<T>,
) -> Result<(OsString, T), FreshNameError> {
    let mut tries = 0;
    loop {
        let candidate = name();
        match create(&candidate) {
            Ok(made) => return Ok((candidate, made)),
            Err(Errno::EXIST) if tries + 1 < FRESH_TRIES => tries += 1,
            Err(errno) => {
                return Err(FreshNameError {
                    name: candidate,
                    errno,
                })
            }
        }
    }
}

/// Creates a new file in `dir`, for writing and then renaming over the file
/// named `stem`: under an unpredictable name (`.<stem>.<random>`), only if
/// nothing has that name (never opening an existing file, never through a
/// symbolic link), readable and writable, close-on-exec, with `mode` less
/// the umask. Returns its name and descriptor.
pub fn create_unique(dir: impl AsFd, stem: &OsStr, mode: u32) -> io::Result<(OsString, OwnedFd)> {
    let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    create_fresh(
        || unpredictable_name(stem),
        |name| rustix::fs::openat(dir.as_fd(), name, flags, Mode::from_raw_mode(mode)),
    )
    .map_err(|e| e.errno)
}

/// Reads at most `limit` bytes of the file at `path` (a longer file is cut
/// there): the one way system files are read whole.
pub fn read_capped(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    read_capped_fd(std::fs::File::open(path)?.into(), limit)
}

/// [`read_capped`] for a file already opened (and checked) as `fd`: at
/// most `limit` bytes from its current offset on; the descriptor is closed.
pub fn read_capped_fd(fd: OwnedFd, limit: u64) -> std::io::Result<Vec<u8>> {
    let mut data = Vec::new();
    std::fs::File::from(fd).take(limit).read_to_end(&mut data)?;
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_linux() {
        assert_eq!(FIFREEZE as u64, 0xC004_5877);
        assert_eq!(FITHAW as u64, 0xC004_5878);
        assert_eq!(FITRIM as u64, 0xC018_5879);
        assert_eq!(std::mem::size_of::<FstrimRange>(), 24);
    }

    #[test]
    fn temporary_names_are_unpredictable_and_never_reuse_a_file() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = rustix::fs::open(tmp.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let stem = OsStr::new("qga.state");
        let (a, fd_a) = create_unique(&dir, stem, 0o600).unwrap();
        let (b, _fd_b) = create_unique(&dir, stem, 0o600).unwrap();
        assert_ne!(a, b);
        let a = a.to_string_lossy().into_owned();
        assert!(
            a.starts_with(".qga.state.") && a.len() == ".qga.state.".len() + 16,
            "{a}"
        );
        assert_ne!(a, format!("qga.state.{}", std::process::id()));
        assert!(rustix::fs::fstat(&fd_a).unwrap().st_size == 0);
        let long = OsString::from("x".repeat(255));
        let (name, _) = create_unique(&dir, &long, 0o600).unwrap();
        assert!(name.len() <= 255);
    }

    #[test]
    fn reads_are_capped() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("f");
        std::fs::write(&path, b"0123456789").unwrap();
        assert_eq!(read_capped(&path, 4).unwrap(), b"0123");
        assert_eq!(read_capped(&path, 100).unwrap(), b"0123456789");
        assert!(read_capped(&tmp.path().join("absent"), 4).is_err());
        let fd = std::fs::File::open(&path).unwrap().into();
        assert_eq!(read_capped_fd(fd, 5).unwrap(), b"01234");
    }
}
