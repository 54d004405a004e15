//! Starting programs: what the agent's children inherit (no descriptor of
//! the agent's, see [`cloexec_inherited_fds`]) and running a program with
//! exactly the environment given ([`ExecImage`]), which std cannot do.
#![allow(unsafe_code)]

use std::ffi::{c_char, CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::io;

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
