//! The few system calls rustix has no safe wrapper for, each audited.
//!
//! Everything else in this crate is safe code over rustix and std.
#![allow(unsafe_code)]

use std::ffi::{c_char, CString, OsStr};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

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
/// Meant to be called once, first thing at start-up: with
/// `close_range(2)` where the kernel has it (Linux 5.11), else by walking
/// `/proc/self/fd`.
pub fn cloexec_inherited_fds() -> std::io::Result<()> {
    match close_range_cloexec(3) {
        Ok(()) => Ok(()),
        // ENOSYS: before Linux 5.9; EINVAL: 5.9 and 5.10, without the flag.
        Err(e) if [io::Errno::NOSYS, io::Errno::INVAL].contains(&e) => cloexec_by_proc(),
        Err(e) => Err(e.into()),
    }
}

/// `close_range(first, ~0U, CLOSE_RANGE_CLOEXEC)`: marks every descriptor
/// from `first` up close-on-exec, closing none.
fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets a flag on
    // descriptors of this process; it closes nothing, and reads or writes
    // no memory of the caller. Its three arguments are plain integers of
    // the types the kernel takes (unsigned int).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Errno::from_io_error(&std::io::Error::last_os_error()).unwrap_or(io::Errno::NOSYS))
    }
}

/// The fallback of [`cloexec_inherited_fds`]: each descriptor listed in
/// `/proc/self/fd` from 3 up, one `fcntl` at a time.
fn cloexec_by_proc() -> std::io::Result<()> {
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

#[cfg(test)]
mod cloexec_tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd, OwnedFd};

    /// A descriptor without close-on-exec, as one inherited would be.
    fn inheritable() -> OwnedFd {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        io::fcntl_setfd(&fd, io::FdFlags::empty()).unwrap();
        fd
    }

    fn cloexec(fd: impl AsFd) -> bool {
        io::fcntl_getfd(fd).unwrap().contains(io::FdFlags::CLOEXEC)
    }

    #[test]
    fn both_ways_mark_inherited_descriptors_and_keep_them_open() {
        let a = inheritable();
        let b = inheritable();
        assert!(!cloexec(&a) && !cloexec(&b));
        match close_range_cloexec(b.as_raw_fd() as u32) {
            Ok(()) => assert!(cloexec(&b), "close_range missed {}", b.as_raw_fd()),
            Err(e) => eprintln!("close_range unavailable here ({e}); testing the fallback only"),
        }
        let c = inheritable();
        cloexec_by_proc().unwrap();
        assert!(cloexec(&c));
        let d = inheritable();
        cloexec_inherited_fds().unwrap();
        assert!(cloexec(&d));
        for fd in [&a, &b, &c, &d] {
            assert!(io::fcntl_getfd(fd).is_ok(), "a descriptor was closed");
        }
        // Standard descriptors are left alone.
        assert!(!cloexec(std::io::stderr()));
    }
}

/// `struct nvme_passthru_cmd`, which `<linux/nvme_ioctl.h>` also names
/// `struct nvme_admin_cmd`: one NVMe admin command for the kernel to pass
/// to the controller, and on return the command's result (completion
/// dword 0).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct NvmeAdminCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    /// User address of the data buffer.
    addr: u64,
    metadata_len: u32,
    /// Length of the data buffer in bytes.
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    /// 0: the kernel's default admin timeout.
    timeout_ms: u32,
    result: u32,
}

/// `NVME_IOCTL_ADMIN_CMD`: `_IOWR('N', 0x41, struct nvme_admin_cmd)`.
const NVME_IOCTL_ADMIN_CMD: Opcode = opcode::read_write::<NvmeAdminCmd>(b'N', 0x41);

/// The admin command Get Log Page (NVMe base specification).
const NVME_ADMIN_GET_LOG_PAGE: u8 = 0x02;
/// Log page identifier of SMART / Health Information.
const NVME_LOG_SMART: u32 = 0x02;
/// Namespace identifier meaning the controller as a whole.
const NVME_NSID_ALL: u32 = 0xFFFF_FFFF;
/// Get Log Page's "retain asynchronous event" bit (command dword 10): the
/// read leaves pending SMART events for whoever else waits on them.
const NVME_LOG_RAE: u32 = 1 << 15;

/// Length of the SMART / Health Information log page.
pub const NVME_SMART_LOG_LEN: usize = 512;

/// Why an NVMe admin command gave no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmeError {
    /// The kernel did not pass the command on (not an NVMe device, no
    /// permission, ...).
    Os(io::Errno),
    /// The controller failed the command with this NVMe status.
    Status(i32),
}

impl std::fmt::Display for NvmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NvmeError::Os(errno) => f.write_str(&strerror(*errno)),
            NvmeError::Status(status) => write!(f, "NVMe status {status:#x}"),
        }
    }
}

/// `NVME_IOCTL_ADMIN_CMD` on one command. Unlike rustix's `Updater` it
/// hands back the ioctl's return value, which is the NVMe status of the
/// completion when positive.
struct AdminCommand<'a>(&'a mut NvmeAdminCmd);

// SAFETY: the opcode is NVME_IOCTL_ADMIN_CMD, whose argument is exactly one
// `struct nvme_passthru_cmd`, read and written by the kernel (hence
// IS_MUTATING); `as_ptr` points at such a `#[repr(C)]` struct, exclusively
// borrowed for the life of this value; `output_from_ptr` reads no memory.
unsafe impl rustix::ioctl::Ioctl for AdminCommand<'_> {
    type Output = rustix::ioctl::IoctlOutput;

    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        NVME_IOCTL_ADMIN_CMD
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        (self.0 as *mut NvmeAdminCmd).cast()
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _: *mut core::ffi::c_void,
    ) -> io::Result<rustix::ioctl::IoctlOutput> {
        Ok(out)
    }
}

/// Reads the SMART / Health Information log page of the NVMe controller
/// that `dev` (an open NVMe controller or namespace node) belongs to, for
/// the controller as a whole, through the kernel's admin passthrough.
pub fn nvme_smart_log(dev: impl AsFd) -> Result<[u8; NVME_SMART_LOG_LEN], NvmeError> {
    let mut log = [0u8; NVME_SMART_LOG_LEN];
    // Dword count less one in bits 16..; the whole page.
    let dwords = (NVME_SMART_LOG_LEN / 4 - 1) as u32;
    let mut cmd = NvmeAdminCmd {
        opcode: NVME_ADMIN_GET_LOG_PAGE,
        nsid: NVME_NSID_ALL,
        addr: log.as_mut_ptr() as u64,
        data_len: NVME_SMART_LOG_LEN as u32,
        cdw10: NVME_LOG_SMART | NVME_LOG_RAE | (dwords << 16),
        ..NvmeAdminCmd::default()
    };
    // SAFETY: besides `cmd` (see `AdminCommand`), the kernel writes at most
    // `data_len` bytes at `addr`, here all of `log`: a local array of
    // exactly that length, alive until this function returns and touched
    // by nothing else until the call has returned. The command is a read
    // (controller to host) and carries no metadata buffer.
    let status = unsafe { rustix::ioctl::ioctl(dev, AdminCommand(&mut cmd)) }.map_err(NvmeError::Os)?;
    if status != 0 {
        return Err(NvmeError::Status(status));
    }
    Ok(log)
}

/// A program's path, arguments and environment as the NULL-terminated C
/// arrays `execve(2)` takes, built before the fork so that the child only
/// has to make the call.
#[derive(Debug)]
pub struct ExecImage {
    path: CString,
    /// The strings `argv` and `envp` point into; a `CString`'s bytes stay
    /// where they are when it moves.
    _strings: Vec<CString>,
    /// Addresses of `argv[0..]`, then 0.
    argv: Vec<usize>,
    /// Addresses of the environment entries, then 0.
    envp: Vec<usize>,
}

impl ExecImage {
    /// The image of `path` run with `argv` and exactly the entries `envp`
    /// (in order, repeats and entries without `=` included). Fails with
    /// `EINVAL` if a string holds a NUL byte.
    pub fn new(path: &OsStr, argv: &[&OsStr], envp: &[&OsStr]) -> std::io::Result<ExecImage> {
        let c = |s: &OsStr| CString::new(s.as_bytes()).map_err(|_| std::io::Error::from(io::Errno::INVAL));
        let path = c(path)?;
        let strings = argv
            .iter()
            .chain(envp)
            .map(|s| c(s))
            .collect::<Result<Vec<_>, _>>()?;
        let address = |s: &CString| s.as_ptr() as usize;
        let (args, env) = strings.split_at(argv.len());
        let argv = args.iter().map(address).chain([0]).collect();
        let envp = env.iter().map(address).chain([0]).collect();
        Ok(ExecImage {
            path,
            _strings: strings,
            argv,
            envp,
        })
    }
}

impl ExecImage {
    /// Replaces this process with the image; returns only on failure.
    fn execve(&self) -> std::io::Error {
        let argv = self.argv.as_ptr().cast::<*const c_char>();
        let envp = self.envp.as_ptr().cast::<*const c_char>();
        // SAFETY: `path` is a NUL-terminated string; `argv` and `envp` are
        // arrays of addresses of NUL-terminated strings in `_strings`,
        // alive as long as `self` (usize and pointers have the same size
        // and layout), each array ending with a null pointer.
        unsafe { libc::execve(self.path.as_ptr(), argv, envp) };
        std::io::Error::last_os_error()
    }
}

/// Makes `command`'s child run `image` with `execve(2)` once its standard
/// streams, signal mask and dispositions are set up, instead of letting
/// std run the program: std would sort the environment, merge repeated
/// names and drop entries without `=`. A failure of the call is reported
/// by `spawn` as std reports its own exec failures.
pub fn exec_image(command: &mut Command, image: ExecImage) {
    // The method call moves all of `image` into the closure (a closure
    // naming only some fields would capture only those, and the strings
    // would be freed).
    let exec = move || -> std::io::Result<()> { Err(image.execve()) };
    // SAFETY: the hook runs in the child between fork and exec. It
    // allocates nothing and takes no lock: it makes one async-signal-safe
    // system call on memory built before the fork, and reads errno.
    unsafe { command.pre_exec(exec) };
}

#[cfg(test)]
mod nvme_tests {
    use super::*;

    #[test]
    fn admin_command_opcode_and_layout_match_linux() {
        assert_eq!(NVME_IOCTL_ADMIN_CMD as u64, 0xC048_4E41);
        assert_eq!(std::mem::size_of::<NvmeAdminCmd>(), 72);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, nsid), 4);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, metadata), 16);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, addr), 24);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, data_len), 36);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, cdw10), 40);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, timeout_ms), 64);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, result), 68);
    }

    #[test]
    fn smart_log_of_a_non_nvme_file_is_refused() {
        let file = tempfile::tempfile().unwrap();
        assert_eq!(nvme_smart_log(&file), Err(NvmeError::Os(io::Errno::NOTTY)));
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(nvme_smart_log(&null), Err(NvmeError::Os(_))));
    }
}

#[cfg(test)]
mod exec_image_tests {
    use super::*;

    fn os<'a>(list: &[&'a str]) -> Vec<&'a OsStr> {
        list.iter().map(|s| OsStr::new(*s)).collect()
    }

    fn run(path: &str, argv: &[&str], envp: &[&str]) -> String {
        let image = ExecImage::new(OsStr::new(path), &os(argv), &os(envp)).unwrap();
        // std's own program and environment are never used.
        let mut command = Command::new("/nonexistent/not-run");
        command.env("STD", "1");
        exec_image(&mut command, image);
        String::from_utf8(command.output().unwrap().stdout).unwrap()
    }

    #[test]
    fn the_child_gets_argv_and_envp_as_given() {
        assert_eq!(run("/bin/echo", &["echo", "a", "b c"], &[]), "a b c\n");
        assert_eq!(
            run("/usr/bin/env", &["env"], &["Z=1", "A=2", "Z=3", "NOEQUALS", "=x"]),
            "Z=1\nA=2\nZ=3\nNOEQUALS\n=x\n"
        );
        assert_eq!(run("/usr/bin/env", &["env"], &[]), "");
    }

    #[test]
    fn a_failed_exec_is_the_spawn_error() {
        let image = ExecImage::new(OsStr::new("/nonexistent/prog"), &os(&["prog"]), &[]).unwrap();
        let mut command = Command::new("/bin/true");
        exec_image(&mut command, image);
        let error = command.spawn().unwrap_err();
        assert_eq!(error.raw_os_error(), Some(io::Errno::NOENT.raw_os_error()));
    }

    #[test]
    fn nul_bytes_are_refused() {
        let error = ExecImage::new(OsStr::new("/bin/true"), &os(&["a\0b"]), &[]).unwrap_err();
        assert_eq!(error.raw_os_error(), Some(io::Errno::INVAL.raw_os_error()));
    }
}
