//! Running a system program for a command (the shutdown program,
//! `hwclock`, `chpasswd`, the fsfreeze hook), finding it, and reporting its
//! failure as QEMU's agent does ([`ChildFailure`]).
//!
//! The program runs in a process group of its own, with standard input
//! `/dev/null` (or a pipe carrying `input`) and standard output and error
//! both captured.
//!
//! Programs named without a path are looked up in `PATH`, as QEMU looks
//! them up. An agent started with no `PATH` at all (by an init that sets
//! none, as in a bare initramfs) looks in [`DEFAULT_PATH`], systemd's
//! search path for services, so that `chpasswd` in `/usr/sbin` is still
//! found.

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Cause, CommandError};

/// Most output kept for an error message.
const MAX_OUTPUT: usize = 64 * 1024;

/// Where programs are looked up when the agent has no `PATH`.
pub(crate) const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The search path to give helper programs: `None` (the agent's own
/// `PATH`) when it has one, else [`DEFAULT_PATH`].
pub(crate) fn program_path() -> Option<OsString> {
    match std::env::var_os("PATH") {
        Some(_) => None,
        None => Some(OsString::from(DEFAULT_PATH)),
    }
}

/// `program` as it is to be run: by name (looked up in `PATH`) when the
/// agent has a `PATH` or [`DEFAULT_PATH`] holds no such file, else its
/// path in [`DEFAULT_PATH`].
pub(crate) fn locate(program: &str) -> OsString {
    program_path()
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| Path::new(candidate).is_file())
        })
        .map_or_else(|| OsString::from(program), PathBuf::into_os_string)
}

/// How a helper program failed, as QEMU words it (`child process has
/// failed to ACTION: ...`, see `CommandError::Child`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildFailure {
    /// It could not be started: `failed to exec 'PROGRAM': REASON`, as
    /// QEMU's child reports it.
    Exec {
        /// The program.
        program: String,
        /// Why.
        cause: Cause,
    },
    /// Something else went wrong around it (a pipe, the wait).
    System(Cause),
    /// It exited with a non-zero status, printing `output` (perhaps
    /// nothing).
    Exit {
        /// Its exit status.
        code: i32,
        /// What it printed.
        output: String,
    },
    /// A signal ended it, after it printed `output` (perhaps nothing).
    Signal {
        /// What it printed.
        output: String,
    },
}

impl ChildFailure {
    /// The failure of a program that could not be started.
    pub(crate) fn exec(program: &OsStr, error: &std::io::Error) -> Self {
        ChildFailure::Exec {
            program: program.to_string_lossy().into_owned(),
            cause: error.into(),
        }
    }

    /// The failure of a program that ended with `status` after printing
    /// `output`; `None` for a success.
    pub(crate) fn of_status(status: std::process::ExitStatus, output: String) -> Option<Self> {
        match (status.code(), status.signal()) {
            (Some(0), _) => None,
            (Some(code), _) => Some(ChildFailure::Exit { code, output }),
            (None, _) => Some(ChildFailure::Signal { output }),
        }
    }
}

/// Whether an environment variable of the agent is the agent's own
/// business, never passed to a program it starts: its settings and test
/// hooks (`QGA_*`, the daemon's `QGA_DAEMON_CHILD` among them) and systemd's
/// socket activation (`LISTEN_*`).
fn is_agent_variable(name: &OsStr) -> bool {
    let name = name.as_encoded_bytes();
    name.starts_with(b"QGA_") || name.starts_with(b"LISTEN_")
}

/// Removes from `command`'s environment those of `inherited` (the names
/// in the agent's environment) that are the agent's own, except any set on
/// `command` itself.
fn withhold_agent_variables(command: &mut Command, inherited: impl Iterator<Item = OsString>) {
    let explicit: Vec<OsString> = command.get_envs().map(|(name, _)| name.to_os_string()).collect();
    for name in inherited {
        if is_agent_variable(&name) && !explicit.contains(&name) {
            command.env_remove(name);
        }
    }
}

/// Starts `command`, the way every program the agent runs is started: with
/// none of the agent's own variables ([`is_agent_variable`]) unless the
/// caller set them on `command` itself (its descriptors are close-on-exec
/// from start-up on, see `qga_sys::process::cloexec_inherited_fds`). Tries again for up to
/// 2 s while the kernel says the program is being written (`ETXTBSY`): a
/// script that was just written can still be open for writing in a child
/// some other thread forked and has not yet replaced by its program
/// (longer under load).
pub(crate) fn spawn_retrying(command: &mut Command) -> std::io::Result<std::process::Child> {
    withhold_agent_variables(command, std::env::vars_os().map(|(name, _)| name));
    let mut tries = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::TXTBSY.raw_os_error()) && tries < 100 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Runs `program` with `args`, feeding it `input`, and waits for it.
/// `action` completes "child process has failed to ...".
pub(crate) fn run_command(
    program: &OsStr,
    args: &[&OsStr],
    input: Option<&[u8]>,
    action: &'static str,
) -> Result<(), CommandError> {
    let failed = |failure| CommandError::Child { action, failure };
    let (mut output, writer) = std::io::pipe().map_err(|e| CommandError::PipeFds(e.into()))?;
    let writer_clone = writer.try_clone().map_err(|e| CommandError::PipeFds(e.into()))?;
    let mut command = Command::new(program);
    command
        .args(args)
        .process_group(0)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(writer_clone)
        .stderr(writer);
    let spawned = spawn_retrying(&mut command);
    // The command holds the pipe's write ends until dropped; without this
    // the read below would never see the end of the output.
    drop(command);
    let mut child = spawned.map_err(|e| failed(ChildFailure::exec(program, &e)))?;
    if let (Some(mut stdin), Some(input)) = (child.stdin.take(), input) {
        if let Err(e) = stdin.write_all(input) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(CommandError::ChildStdin(action, e.into()));
        }
    }
    let mut text = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match output.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                let room = MAX_OUTPUT.saturating_sub(text.len());
                text.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                let _ = child.wait();
                return Err(CommandError::ChildOutput(action, e.into()));
            }
        }
    }
    let status = child
        .wait()
        .map_err(|e| CommandError::ChildWait(child.id(), e.into()))?;
    match ChildFailure::of_status(status, String::from_utf8_lossy(&text).into_owned()) {
        None => Ok(()),
        Some(failure) => Err(failed(failure)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, input: Option<&[u8]>) -> Result<(), String> {
        run_command(
            OsStr::new("/bin/sh"),
            &[OsStr::new("-c"), OsStr::new(script)],
            input,
            "test",
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn reports_like_qemu() {
        assert_eq!(sh("exit 0", None), Ok(()));
        assert_eq!(
            sh("exit 3", None).unwrap_err(),
            "child process has failed to test: exit status 3"
        );
        assert_eq!(
            sh("echo oops >&2; exit 1", None).unwrap_err(),
            "child process has failed to test: oops\n"
        );
        assert_eq!(
            sh("kill -9 $$", None).unwrap_err(),
            "child process has terminated abnormally"
        );
        assert_eq!(sh("read x; [ \"$x\" = secret ]", Some(b"secret\n")), Ok(()));
        assert_eq!(
            sh("read x; [ \"$x\" = secret ]", Some(b"other\n")).unwrap_err(),
            "child process has failed to test: exit status 1"
        );
        assert_eq!(
            run_command(OsStr::new("/nonexistent/prog"), &[], None, "shutdown")
                .unwrap_err()
                .to_string(),
            "child process has failed to shutdown: failed to exec '/nonexistent/prog': No such file or directory\n"
        );
    }

    #[test]
    fn agent_variables_are_told_apart() {
        for ours in [
            "QGA_DAEMON_CHILD",
            "QGA_",
            "LISTEN_FDS",
            "LISTEN_PID",
            "LISTEN_FDNAMES",
        ] {
            assert!(is_agent_variable(OsStr::new(ours)), "{ours}");
        }
        for theirs in ["PATH", "qga_x", "XQGA_Y", "LISTEN", "LISTENER", "HOME"] {
            assert!(!is_agent_variable(OsStr::new(theirs)), "{theirs}");
        }
    }

    #[test]
    fn children_get_no_agent_variables() {
        let agent_env = [
            "PATH",
            "QGA_DAEMON_CHILD",
            "LISTEN_FDS",
            "HOME",
            "QGA_SET",
            "LISTEN_PID",
        ];
        let mut command = Command::new("/usr/bin/env");
        command.env("QGA_SET", "on purpose").env("PATH", "/bin");
        withhold_agent_variables(&mut command, agent_env.iter().map(OsString::from));
        let mut changes: Vec<(String, Option<String>)> = command
            .get_envs()
            .map(|(name, value)| {
                (
                    name.to_string_lossy().into_owned(),
                    value.map(|v| v.to_string_lossy().into_owned()),
                )
            })
            .collect();
        changes.sort();
        let set = |name: &str, value: &str| (name.to_string(), Some(value.to_string()));
        let removed = |name: &str| (name.to_string(), None);
        assert_eq!(
            changes,
            [
                removed("LISTEN_FDS"),
                removed("LISTEN_PID"),
                set("PATH", "/bin"),
                removed("QGA_DAEMON_CHILD"),
                set("QGA_SET", "on purpose"),
            ]
        );
        // What the child sees: the test process has no agent variables of
        // its own to leak, so its environment is passed on unchanged.
        let out = spawn_retrying(command.stdout(Stdio::piped()))
            .unwrap()
            .wait_with_output()
            .unwrap();
        let seen = String::from_utf8(out.stdout).unwrap();
        assert!(seen.lines().any(|l| l == "QGA_SET=on purpose"), "{seen}");
        assert!(
            !seen.lines().any(|l| l.starts_with("QGA_DAEMON_CHILD=")),
            "{seen}"
        );
    }

    #[test]
    fn children_inherit_no_agent_descriptors_and_stdin_is_null() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("agent-owned");
        let _held = std::fs::File::create(&marker).unwrap();
        let script = format!("! ls -l /proc/self/fd | grep -q '{}'", marker.display());
        assert_eq!(sh(&script, None), Ok(()));
        assert_eq!(sh("[ \"$(cat)\" = '' ]", None), Ok(()));
    }
}
