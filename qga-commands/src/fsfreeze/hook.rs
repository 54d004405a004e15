//! Running the fsfreeze hook (`-F`): `HOOK freeze` before freezing,
//! `HOOK thaw` after thawing.
//!
//! The hook runs in a process group of its own, with standard input on
//! `/dev/null` and standard output and error on one pipe. The agent waits
//! for the hook *process* to exit, watching a pidfd (`pidfd_open(2)`), not
//! for its output to close: a hook that leaves a helper running in the
//! background (holding a database lock until the thaw, say) must not hang
//! the freeze. What the hook printed is kept, at most its last
//! [`TAIL_BYTES`], for the log and for the error a failure gets.
//!
//! A hook that runs longer than its time limit is killed with its whole
//! process group (`SIGKILL` to the group), and so is one whose run is
//! cancelled (see [`HookControl`]).

use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;
use rustix::process::{Pid, Signal};

use crate::error::Cause;
use crate::run::{spawn_retrying, ChildFailure};

/// Most bytes of the hook's output kept (the last ones).
pub(crate) const TAIL_BYTES: usize = 4096;

/// Most lines of output quoted in an error.
const TAIL_LINES: usize = 10;

/// How often a hook is looked at when the kernel has no pidfds.
const TICK: Duration = Duration::from_millis(20);

/// How a hook run is tied to whoever may cancel it.
pub(crate) trait HookControl {
    /// The hook started as process group `group`; false if the run was
    /// cancelled already (it is then killed at once).
    fn started(&self, group: Pid) -> bool;
    /// The hook has exited (not yet reaped): its group must not be
    /// signalled any more by the canceller.
    fn exited(&self);
    /// Whether the run was cancelled (the canceller killed the group).
    fn cancelled(&self) -> bool;
}

/// Why a hook run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HookError {
    /// It could not be started, failed, or a signal the agent did not
    /// send ended it (QEMU's cases).
    Child(ChildFailure),
    /// It overran its time limit and was killed with its process group.
    TimedOut {
        /// The limit.
        limit: Duration,
        /// The end of what it printed.
        output: String,
    },
    /// Its run was cancelled and it was killed with its process group.
    Cancelled,
}

/// The last bytes a hook printed.
#[derive(Debug, Default)]
struct Tail {
    bytes: Vec<u8>,
}

impl Tail {
    fn push(&mut self, chunk: &[u8]) {
        self.bytes.extend_from_slice(chunk);
        if self.bytes.len() > 2 * TAIL_BYTES {
            let cut = self.bytes.len() - TAIL_BYTES;
            self.bytes.drain(..cut);
        }
    }

    /// The kept output, at most [`TAIL_BYTES`].
    fn text(&self) -> String {
        let start = self.bytes.len().saturating_sub(TAIL_BYTES);
        String::from_utf8_lossy(&self.bytes[start..]).into_owned()
    }

    /// The last lines, for an error message.
    fn last_lines(&self) -> String {
        let text = self.text();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(TAIL_LINES);
        lines[from..].join("\n")
    }
}

/// Reads what the pipe has now, without waiting; false at its end.
fn drain(pipe: &mut std::io::PipeReader, tail: &mut Tail) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        match pipe.read(&mut chunk) {
            Ok(0) => return false,
            Ok(n) => tail.push(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
}

/// Kills the hook's process group (`SIGKILL`); a group that is gone
/// already is no error.
pub(super) fn kill_group(group: Pid) {
    if let Err(e) = rustix::process::kill_process_group(group, Signal::KILL) {
        if e != Errno::SRCH {
            log::warn!("cannot kill the fsfreeze hook's process group {group:?}: {e}");
        }
    }
}

/// Runs `hook arg`, at most `limit`, under `control`.
pub(crate) fn run_hook(
    hook: &Path,
    arg: &str,
    limit: Option<Duration>,
    control: &dyn HookControl,
) -> Result<(), HookError> {
    let system = |cause: Cause| HookError::Child(ChildFailure::System(cause));
    let (mut output, writer) = std::io::pipe().map_err(|e| system(e.into()))?;
    let writer_clone = writer.try_clone().map_err(|e| system(e.into()))?;
    rustix::io::ioctl_fionbio(&output, true).map_err(|e| system(e.into()))?;
    let mut command = Command::new(hook);
    command
        .arg(OsStr::new(arg))
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(writer_clone)
        .stderr(writer);
    let spawned = spawn_retrying(&mut command);
    // The command holds the pipe's write ends until dropped.
    drop(command);
    let mut child = spawned.map_err(|e| HookError::Child(ChildFailure::exec(hook.as_os_str(), &e)))?;
    let group = Pid::from_child(&child);
    if !control.started(group) {
        kill_group(group);
    }
    let mut tail = Tail::default();
    let timed_out = wait_for_exit(&mut child, &mut output, &mut tail, limit);
    if timed_out {
        kill_group(group);
    }
    control.exited();
    let status = child.wait().map_err(|e| system(e.into()))?;
    // What it printed up to its exit; a helper it left behind may keep the
    // pipe open, so this reads only what is there.
    drain(&mut output, &mut tail);
    let text = tail.text();
    let log_output = |failed: bool| {
        for line in text.lines() {
            if failed {
                log::warn!("fsfreeze hook {arg}: {line}");
            } else {
                log::info!("fsfreeze hook {arg}: {line}");
            }
        }
    };
    if timed_out {
        log_output(true);
        return Err(HookError::TimedOut {
            limit: limit.unwrap_or_default(),
            output: tail.last_lines(),
        });
    }
    if control.cancelled() && status.signal().is_some() {
        return Err(HookError::Cancelled);
    }
    let failure = ChildFailure::of_status(status, text.clone());
    log_output(failure.is_some());
    failure.map_or(Ok(()), |failure| Err(HookError::Child(failure)))
}

/// Waits until `child` exits, collecting its output meanwhile; true if
/// `limit` passed first.
fn wait_for_exit(
    child: &mut Child,
    output: &mut std::io::PipeReader,
    tail: &mut Tail,
    limit: Option<Duration>,
) -> bool {
    // A limit past the end of time is no limit.
    let deadline = limit.and_then(|limit| Instant::now().checked_add(limit));
    let pidfd: Option<OwnedFd> =
        rustix::process::pidfd_open(Pid::from_child(child), rustix::process::PidfdFlags::empty()).ok();
    let mut pipe_open = true;
    loop {
        let left = deadline.map(|at| at.saturating_duration_since(Instant::now()));
        if left.is_some_and(|left| left.is_zero()) {
            return true;
        }
        let wait = match (&pidfd, left) {
            (Some(_), left) => left,
            (None, left) => Some(left.map_or(TICK, |left| left.min(TICK))),
        };
        let timeout = wait.map(|w| Timespec {
            tv_sec: w.as_secs() as _,
            tv_nsec: w.subsec_nanos() as _,
        });
        let mut fds = Vec::with_capacity(2);
        if let Some(pidfd) = &pidfd {
            fds.push(PollFd::new(pidfd, PollFlags::IN));
        }
        if pipe_open {
            fds.push(PollFd::from_borrowed_fd(output.as_fd(), PollFlags::IN));
        }
        match rustix::event::poll(&mut fds, timeout.as_ref()) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => std::thread::sleep(TICK),
        }
        drop(fds);
        if pipe_open {
            pipe_open = drain(output, tail);
        }
        if has_exited(child) {
            return false;
        }
    }
}

/// Whether `child` has exited, leaving it unreaped: until it is reaped its
/// process group id cannot be reused, so the canceller may still signal it.
fn has_exited(child: &Child) -> bool {
    use rustix::process::{waitid, WaitId, WaitIdOptions};
    let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
    match waitid(WaitId::Pid(Pid::from_child(child)), options) {
        Ok(status) => status.is_some(),
        Err(Errno::INTR) => false,
        // Nothing to wait for: it cannot be running.
        Err(_) => true,
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::os::unix::fs::PermissionsExt;
    use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

    use super::*;
    use crate::error::CommandError;

    /// A control that records the group and can cancel.
    #[derive(Default)]
    struct Control {
        group: AtomicI32,
        cancel_now: AtomicBool,
        cancelled: AtomicBool,
    }

    impl HookControl for Control {
        fn started(&self, group: Pid) -> bool {
            self.group.store(group.as_raw_nonzero().get(), Ordering::SeqCst);
            !self.cancel_now.load(Ordering::SeqCst)
        }
        fn exited(&self) {}
        fn cancelled(&self) -> bool {
            self.cancelled.load(Ordering::SeqCst) || self.cancel_now.load(Ordering::SeqCst)
        }
    }

    fn script(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("hook");
        let mut file = std::fs::File::create(&path).unwrap();
        writeln!(file, "#!/bin/sh\n{body}").unwrap();
        drop(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    #[test]
    fn success_failure_and_signals_read_as_qemu_words_them() {
        let dir = tempfile::tempdir().unwrap();
        let control = Control::default();
        let ok = script(dir.path(), "echo \"arg=$1\"; exit 0");
        assert_eq!(run_hook(&ok, "freeze", None, &control), Ok(()));
        let failing = script(dir.path(), "echo oops >&2; exit 3");
        let err = run_hook(&failing, "freeze", None, &control).unwrap_err();
        assert_eq!(
            CommandError::hook(&failing, err.clone()).to_string(),
            "child process has failed to execute fsfreeze hook: oops\n"
        );
        let quiet = script(dir.path(), "exit 4");
        let err = run_hook(&quiet, "thaw", None, &control).unwrap_err();
        assert_eq!(
            CommandError::hook(&quiet, err.clone()).to_string(),
            "child process has failed to execute fsfreeze hook: exit status 4"
        );
        let killed = script(dir.path(), "kill -9 $$");
        let err = run_hook(&killed, "thaw", None, &control).unwrap_err();
        assert_eq!(
            CommandError::hook(&killed, err.clone()).to_string(),
            "child process has terminated abnormally"
        );
        let missing = dir.path().join("missing");
        let err = run_hook(&missing, "freeze", None, &control).unwrap_err();
        assert!(
            CommandError::hook(&missing, err.clone())
                .to_string()
                .ends_with("No such file or directory\n"),
            "{err:?}"
        );
    }

    #[test]
    fn a_background_helper_holding_the_output_does_not_hang_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let helper = dir.path().join("helper.pid");
        let hook = script(
            dir.path(),
            &format!(
                "sleep 30 & echo $! > '{}'; echo started; exit 0",
                helper.display()
            ),
        );
        let started = Instant::now();
        let control = Control::default();
        assert_eq!(
            run_hook(&hook, "freeze", Some(Duration::from_secs(20)), &control),
            Ok(())
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        // The helper was left alone (it may be the hook's point): it is
        // still there for this test to kill.
        let pid: i32 = std::fs::read_to_string(&helper).unwrap().trim().parse().unwrap();
        rustix::process::kill_process(Pid::from_raw(pid).unwrap(), Signal::KILL).unwrap();
    }

    #[test]
    fn an_overrunning_hook_is_killed_with_its_group_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("child-alive");
        let hook = script(
            dir.path(),
            &format!(
                "(sleep 2; touch '{}') & for i in 1 2 3 4 5 6 7 8 9 10 11 12; do echo line $i; done; sleep 30",
                marker.display()
            ),
        );
        let started = Instant::now();
        let err = run_hook(
            &hook,
            "freeze",
            Some(Duration::from_millis(300)),
            &Control::default(),
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        let text = CommandError::hook(&hook, err.clone()).to_string();
        assert!(
            text.starts_with(&format!(
                "fsfreeze hook '{}' did not finish within 0.3 seconds and was killed",
                hook.display()
            )),
            "{text}"
        );
        assert!(
            text.ends_with(
                "line 3\nline 4\nline 5\nline 6\nline 7\nline 8\nline 9\nline 10\nline 11\nline 12"
            ),
            "{text}"
        );
        assert!(!text.contains("line 2\n"), "{text}");
        std::thread::sleep(Duration::from_millis(2500));
        assert!(!marker.exists(), "a process of the hook's group survived");
    }

    #[test]
    fn a_run_cancelled_before_it_started_is_killed_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let hook = script(dir.path(), "sleep 30");
        let control = Control::default();
        control.cancel_now.store(true, Ordering::SeqCst);
        let started = Instant::now();
        assert_eq!(
            run_hook(&hook, "freeze", None, &control),
            Err(HookError::Cancelled)
        );
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn output_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let hook = script(dir.path(), "head -c 1000000 /dev/zero | tr '\\\\0' x; exit 1");
        let err = run_hook(&hook, "freeze", None, &Control::default()).unwrap_err();
        match err {
            HookError::Child(ChildFailure::Exit { output, .. }) => assert_eq!(output.len(), TAIL_BYTES),
            other => panic!("{other:?}"),
        }
    }
}
