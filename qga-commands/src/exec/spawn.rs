//! Starting a `guest-exec` process the way QEMU's agent does through GLib's
//! `g_spawn_async_with_pipes()`, and wording its failures as GLib does.
//!
//! * A `path` without a slash is looked up in `PATH`: the `PATH=` entry of
//!   `env` when `env` is given and has one, else the agent's own `PATH`,
//!   else `/bin:/usr/bin:.`. An empty element means the current directory.
//!   A candidate that is missing (`ENOENT`, `ENOTDIR`, `ESTALE`, `ENODEV`,
//!   `ETIMEDOUT`) or not executable (`EACCES`) is skipped; any other error
//!   ends the search. If nothing ran, the error is `EACCES` when some
//!   candidate was not executable, else the last one. `argv[0]` stays `path`.
//! * A file the kernel cannot execute (`ENOEXEC`, a script without `#!`) is
//!   run by `/bin/sh`.
//! * Standard input is `/dev/null` unless `input-data` was given (a pipe);
//!   an output that is not captured goes to `/dev/null`. In `merged` mode
//!   standard output and error share one pipe.
//! * `env`, when given, is the child's whole environment exactly as listed
//!   (order, repeated names and entries without `=` included: the child is
//!   started with `execve(2)` directly, see `qga_sys::process::exec_image`); without it
//!   the child inherits the agent's, less the agent's own `QGA_*` and
//!   `LISTEN_*` variables (see `run::spawn_retrying`).
//! * The child starts with `SIGPIPE` at its default action and an empty
//!   signal mask (done by `std::process::Command`), in the agent's working
//!   directory, process group and session.
//! * Every descriptor of the agent is close-on-exec, so the child inherits
//!   only 0, 1 and 2.
//!
//! Failures read as GLib's messages: `Failed to execute child process
//! “PATH” (REASON)`, `Failed to create pipe for communicating with child
//! process (REASON)`, `Failed to fork (REASON)`.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use qga_protocol::schema::GuestExecCaptureOutputMode;
use rustix::io::Errno;

use qga_sys::mutf8::{system_bytes, system_os_str};
use qga_sys::process::{exec_image, ExecImage};

use crate::error::Cause;

/// Why a process could not be started, as GLib tells it (the texts are in
/// `CommandError::Spawn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SpawnError {
    /// Out of processes or memory: `Failed to fork (REASON)`.
    Fork(Cause),
    /// Out of descriptors: `Failed to redirect output or input of child
    /// process (REASON)`.
    Redirect(Cause),
    /// The program could not be run: `Failed to execute child process
    /// “PATH” (REASON)`.
    Exec {
        /// The program, as the host named it.
        path: String,
        /// Why.
        cause: Cause,
    },
    /// A pipe could not be made: `Failed to create pipe for communicating
    /// with child process (REASON)`.
    Pipe(Errno),
}

/// Search path when neither `env` nor the agent has a `PATH`.
const DEFAULT_SEARCH_PATH: &[u8] = b"/bin:/usr/bin:.";

/// What to start.
#[derive(Debug, Clone, Copy)]
pub(super) struct Request<'a> {
    /// The program, as the host gave it.
    pub path: &'a str,
    /// Arguments after `argv[0]`.
    pub args: &'a [String],
    /// The complete environment, or `None` for the agent's.
    pub env: Option<&'a [String]>,
    /// Whether standard input is a pipe (for `input-data`).
    pub stdin: bool,
    /// Which output to capture.
    pub mode: GuestExecCaptureOutputMode,
}

/// A started process and the agent's ends of its pipes.
#[derive(Debug)]
pub(super) struct Spawned {
    /// The process.
    pub child: Child,
    /// Write end of standard input, when piped.
    pub stdin: Option<OwnedFd>,
    /// Read end of standard output (also standard error in `merged` mode).
    pub stdout: Option<OwnedFd>,
    /// Read end of standard error, when captured on its own.
    pub stderr: Option<OwnedFd>,
}

/// The child's ends of the pipes, lent to each attempt.
struct ChildEnds {
    stdin: Option<OwnedFd>,
    stdout: Option<OwnedFd>,
    stderr: Option<OwnedFd>,
}

/// The directories `path` is looked up in, as GLib picks them.
fn search_path(env: Option<&[String]>) -> Vec<u8> {
    let from_env = env.and_then(|env| {
        env.iter()
            .map(|e| system_bytes(e))
            .find_map(|e| e.strip_prefix(b"PATH=").map(<[u8]>::to_vec))
    });
    from_env
        .or_else(|| std::env::var_os("PATH").map(|p| p.as_bytes().to_vec()))
        .unwrap_or_else(|| DEFAULT_SEARCH_PATH.to_vec())
}

/// The files to try, in order, for `path`.
fn candidates(path: &OsStr, env: Option<&[String]>) -> Vec<PathBuf> {
    if path.as_bytes().contains(&b'/') {
        return vec![PathBuf::from(path)];
    }
    search_path(env)
        .split(|&b| b == b':')
        .map(|dir| {
            let mut file = if dir.is_empty() {
                b"./".to_vec()
            } else {
                [dir, b"/"].concat()
            };
            file.extend_from_slice(path.as_bytes());
            PathBuf::from(OsStr::from_bytes(&file))
        })
        .collect()
}

/// Whether an error from one candidate lets the search go on.
fn keeps_searching(errno: Option<i32>) -> bool {
    [
        Errno::NOENT,
        Errno::NOTDIR,
        Errno::STALE,
        Errno::NODEV,
        Errno::TIMEDOUT,
        Errno::ACCESS,
    ]
    .iter()
    .any(|e| Some(e.raw_os_error()) == errno)
}

fn dup(fd: &Option<OwnedFd>) -> io::Result<Option<OwnedFd>> {
    fd.as_ref().map(OwnedFd::try_clone).transpose()
}

/// One `fork` + `exec` of `program` with `argv` = `argv0` and `args`.
fn attempt(
    program: &OsStr,
    argv0: &OsStr,
    args: &[&OsStr],
    env: Option<&[&OsStr]>,
    ends: &ChildEnds,
) -> io::Result<Child> {
    let mut command = Command::new(program);
    command.arg0(argv0).args(args);
    if let Some(env) = env {
        let argv: Vec<&OsStr> = std::iter::once(argv0).chain(args.iter().copied()).collect();
        exec_image(&mut command, ExecImage::new(program, &argv, env)?);
    }
    let redirect = |fd: Option<OwnedFd>| fd.map_or_else(Stdio::null, Stdio::from);
    command
        .stdin(redirect(dup(&ends.stdin)?))
        .stdout(redirect(dup(&ends.stdout)?))
        .stderr(redirect(dup(&ends.stderr)?));
    crate::run::spawn_retrying(&mut command)
}

/// Why a process could not be started, as GLib classes the failure.
fn spawn_error(path: &str, error: &io::Error) -> SpawnError {
    let errno = error.raw_os_error();
    let among = |errnos: &[Errno]| errnos.iter().any(|e| Some(e.raw_os_error()) == errno);
    if among(&[Errno::AGAIN, Errno::NOMEM, Errno::NOSYS]) {
        SpawnError::Fork(error.into())
    } else if among(&[Errno::MFILE, Errno::NFILE]) {
        SpawnError::Redirect(error.into())
    } else {
        SpawnError::Exec {
            path: path.to_string(),
            cause: error.into(),
        }
    }
}

/// A pipe: (agent's end, child's end), both close-on-exec; the agent's end
/// non-blocking. `child_reads` says which end the child gets.
fn pipe(child_reads: bool) -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let (read, write) =
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(SpawnError::Pipe)?;
    let (ours, theirs) = if child_reads { (write, read) } else { (read, write) };
    rustix::io::ioctl_fionbio(&ours, true).map_err(SpawnError::Pipe)?;
    Ok((ours, theirs))
}

/// Starts the process.
pub(super) fn spawn(request: &Request<'_>) -> Result<Spawned, SpawnError> {
    use GuestExecCaptureOutputMode as Mode;
    let path = system_os_str(request.path);
    let path: &OsStr = path.as_ref();
    let (stdin, child_stdin) = match request.stdin {
        true => pipe(true).map(|(o, t)| (Some(o), Some(t)))?,
        false => (None, None),
    };
    let capture = |wanted: bool| -> Result<(Option<OwnedFd>, Option<OwnedFd>), SpawnError> {
        if wanted {
            pipe(false).map(|(o, t)| (Some(o), Some(t)))
        } else {
            Ok((None, None))
        }
    };
    let (stdout, child_stdout) = capture(matches!(
        request.mode,
        Mode::Stdout | Mode::Separated | Mode::Merged
    ))?;
    let (stderr, child_stderr) = capture(matches!(request.mode, Mode::Stderr | Mode::Separated))?;
    let child_stderr = match request.mode {
        Mode::Merged => dup(&child_stdout)
            .map_err(|e| SpawnError::Pipe(Errno::from_io_error(&e).unwrap_or(Errno::MFILE)))?,
        _ => child_stderr,
    };
    let ends = ChildEnds {
        stdin: child_stdin,
        stdout: child_stdout,
        stderr: child_stderr,
    };
    let args: Vec<Cow<'_, OsStr>> = request.args.iter().map(|a| system_os_str(a)).collect();
    let args: Vec<&OsStr> = args.iter().map(AsRef::as_ref).collect();
    let env: Option<Vec<Cow<'_, OsStr>>> = request
        .env
        .map(|env| env.iter().map(|e| system_os_str(e)).collect());
    let env: Option<Vec<&OsStr>> = env.as_ref().map(|env| env.iter().map(AsRef::as_ref).collect());
    let env = env.as_deref();

    let mut result = Err(io::Error::from_raw_os_error(Errno::NOENT.raw_os_error()));
    if !path.is_empty() {
        let mut denied = false;
        for candidate in candidates(path, request.env) {
            result = attempt(candidate.as_os_str(), path, &args, env, &ends);
            if let Err(e) = &result {
                if e.raw_os_error() == Some(Errno::NOEXEC.raw_os_error()) {
                    // A script without "#!": the shell runs it.
                    let shell_args: Vec<&OsStr> = std::iter::once(candidate.as_os_str())
                        .chain(args.iter().copied())
                        .collect();
                    result = attempt(
                        OsStr::new("/bin/sh"),
                        OsStr::new("/bin/sh"),
                        &shell_args,
                        env,
                        &ends,
                    );
                }
            }
            match &result {
                Ok(_) => break,
                Err(e) if keeps_searching(e.raw_os_error()) => {
                    denied |= e.raw_os_error() == Some(Errno::ACCESS.raw_os_error());
                }
                Err(_) => break,
            }
        }
        if denied && result.is_err() {
            result = Err(io::Error::from_raw_os_error(Errno::ACCESS.raw_os_error()));
        }
    }
    // The child's ends close here, so only the child holds them.
    drop(ends);
    let child = result.map_err(|e| spawn_error(request.path, &e))?;
    Ok(Spawned {
        child,
        stdin,
        stdout,
        stderr,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn candidates_follow_glib() {
        let env = strings(&["A=1", "PATH=/x::/y/", "PATH=/ignored"]);
        assert_eq!(
            candidates(OsStr::new("prog"), Some(&env)),
            vec![
                PathBuf::from("/x/prog"),
                PathBuf::from("./prog"),
                PathBuf::from("/y//prog")
            ]
        );
        assert_eq!(
            candidates(OsStr::new("./prog"), Some(&env)),
            vec![PathBuf::from("./prog")]
        );
        assert_eq!(
            candidates(OsStr::new("prog"), Some(&strings(&["PATH="]))),
            vec![PathBuf::from("./prog")]
        );
        let agent_path = std::env::var_os("PATH").unwrap_or_default();
        let first = agent_path
            .as_bytes()
            .split(|&b| b == b':')
            .next()
            .unwrap_or_default();
        let first = if first.is_empty() {
            b".".to_vec()
        } else {
            first.to_vec()
        };
        let expected = PathBuf::from(OsStr::from_bytes(&first)).join("prog");
        assert_eq!(
            candidates(OsStr::new("prog"), Some(&strings(&["A=1"])))[0],
            expected
        );
        assert_eq!(candidates(OsStr::new("prog"), None)[0], expected);
    }

    #[test]
    fn errors_read_as_glib_words_them() {
        let fail = |path: &str, env: Option<Vec<String>>| {
            let error = spawn(&Request {
                path,
                args: &[],
                env: env.as_deref(),
                stdin: false,
                mode: GuestExecCaptureOutputMode::None,
            })
            .unwrap_err();
            crate::error::CommandError::Spawn(error).to_string()
        };
        assert_eq!(
            fail("/bin/invalid-cmd42", None),
            "Failed to execute child process \u{201C}/bin/invalid-cmd42\u{201D} (No such file or directory)"
        );
        assert_eq!(
            fail("", None),
            "Failed to execute child process \u{201C}\u{201D} (No such file or directory)"
        );
        assert_eq!(
            fail("/", None),
            "Failed to execute child process \u{201C}/\u{201D} (Permission denied)"
        );
        assert_eq!(
            fail("sh", Some(strings(&["PATH=/nonexistent"]))),
            "Failed to execute child process \u{201C}sh\u{201D} (No such file or directory)"
        );
    }

    #[test]
    fn path_search_skips_what_cannot_run_and_runs_scripts_with_sh() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        std::fs::create_dir(&a).unwrap();
        std::fs::create_dir(&b).unwrap();
        // Not executable in a/, a script without "#!" in b/.
        std::fs::write(a.join("prog"), "exit 1\n").unwrap();
        std::fs::write(b.join("prog"), "echo \"$0:$1\" >&2; exit 7\n").unwrap();
        std::fs::set_permissions(b.join("prog"), std::fs::Permissions::from_mode(0o755)).unwrap();
        let env = vec![format!("PATH=/nonexistent:{}:{}", a.display(), b.display())];
        let run = |path: &str, env: &[String]| {
            spawn(&Request {
                path,
                args: &strings(&["x"]),
                env: Some(env),
                stdin: false,
                mode: GuestExecCaptureOutputMode::Stderr,
            })
        };
        let mut spawned = run("prog", &env).unwrap();
        let status = spawned.child.wait().unwrap();
        assert_eq!(status.code(), Some(7));
        let mut text = String::new();
        std::io::Read::read_to_string(
            &mut std::fs::File::from(spawned.stderr.take().unwrap()),
            &mut text,
        )
        .unwrap_or_default();
        assert_eq!(text, format!("{}:x\n", b.join("prog").display()));
        // Only a file that cannot run: EACCES wins over ENOENT.
        let env = vec![format!("PATH={}:/nonexistent", a.display())];
        assert_eq!(
            crate::error::CommandError::Spawn(run("prog", &env).unwrap_err()).to_string(),
            "Failed to execute child process \u{201C}prog\u{201D} (Permission denied)"
        );
    }
}
