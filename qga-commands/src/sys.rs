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
