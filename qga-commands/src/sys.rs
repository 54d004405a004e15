//! The few system calls rustix has no safe wrapper for, each audited.
//!
//! Everything else in this crate is safe code over rustix and std.
#![allow(unsafe_code)]

use std::os::fd::AsFd;

use rustix::io;
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

/// The system's text for an error number, as C's `strerror` gives it.
pub fn strerror(errno: io::Errno) -> String {
    let text = std::io::Error::from_raw_os_error(errno.raw_os_error()).to_string();
    match text.rfind(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// [`strerror`] for a std I/O error.
pub fn io_strerror(error: &std::io::Error) -> String {
    match error.raw_os_error() {
        Some(raw) => strerror(io::Errno::from_raw_os_error(raw)),
        None => error.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opcodes_match_linux() {
        assert_eq!(FIFREEZE as u64, 0xC004_5877);
        assert_eq!(FITHAW as u64, 0xC004_5878);
    }

    #[test]
    fn strerror_has_no_rust_suffix() {
        assert_eq!(strerror(io::Errno::NOENT), "No such file or directory");
        assert_eq!(strerror(io::Errno::INVAL), "Invalid argument");
    }
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

#[cfg(test)]
mod trim_tests {
    use super::*;

    #[test]
    fn fitrim_opcode_and_layout_match_linux() {
        assert_eq!(FITRIM as u64, 0xC018_5879);
        assert_eq!(std::mem::size_of::<FstrimRange>(), 24);
    }
}

/// Marks every open descriptor from 3 up close-on-exec, so that a program
/// this process starts inherits only standard input, output and error, as
/// GLib's spawn (which closes the rest in the child) arranges for QEMU's
/// `guest-exec`. The descriptors this changes are the ones the agent
/// inherited from whatever started it; its own are close-on-exec already.
pub fn cloexec_inherited_fds() -> std::io::Result<()> {
    for entry in std::fs::read_dir("/proc/self/fd")? {
        let name = entry?.file_name();
        let Some(raw) = name.to_str().and_then(|n| n.parse::<std::os::fd::RawFd>().ok()) else {
            continue;
        };
        if raw < 3 {
            continue;
        }
        // SAFETY: `raw` was listed open in /proc/self/fd and the borrow ends
        // with this iteration. Should another thread close it meanwhile,
        // fcntl(2) fails with EBADF or, if the number was reused, only sets
        // FD_CLOEXEC, which every descriptor of this process is meant to
        // have; no memory is read or written through it.
        let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(raw) };
        if let Ok(flags) = io::fcntl_getfd(fd) {
            if !flags.contains(io::FdFlags::CLOEXEC) {
                let _ = io::fcntl_setfd(fd, flags | io::FdFlags::CLOEXEC);
            }
        }
    }
    Ok(())
}
