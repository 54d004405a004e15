//! Becoming a daemon without `fork`: the agent starts itself again as a
//! child in its own session and waits for the child to say it is serving.
//!
//! The child's standard output is a pipe to the parent. The child writes
//! `READY` there once its channel is open and its pidfile written (or its
//! start-up error), then points standard output at `/dev/null`, which closes
//! the pipe. The parent exits 0 on `READY`, else prints the error and
//! exits 1, so start-up failures reach the terminal that started the agent.

use std::fs::File;
use std::io::{Read, Write};
use std::process::{Command, ExitCode, Stdio};

use anyhow::Context;

use qemu_ga::settings::DAEMON_CHILD_ENV;

const READY: &str = "READY\n";

/// In the parent: starts the daemon and waits for its start-up verdict.
pub fn spawn_and_wait() -> anyhow::Result<ExitCode> {
    let exe = std::env::current_exe().context("cannot find the agent's own executable")?;
    let mut child = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(DAEMON_CHILD_ENV, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("failed to start the daemon")?;
    let mut verdict = String::new();
    if let Some(mut pipe) = child.stdout.take() {
        let _ = pipe.read_to_string(&mut verdict);
    }
    if verdict == READY {
        return Ok(ExitCode::SUCCESS);
    }
    let _ = child.wait();
    let message = verdict.trim();
    if message.is_empty() {
        eprintln!("qemu-ga: the daemon exited during start-up");
    } else {
        eprintln!("{message}");
    }
    Ok(ExitCode::FAILURE)
}

/// In the child, first thing: leave the parent's session and terminal.
pub fn detach() -> anyhow::Result<()> {
    rustix::process::setsid().context("setsid failed")?;
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    Ok(())
}

/// In the child, once serving: tell the parent, then drop the pipe.
pub fn report_ready() -> anyhow::Result<()> {
    std::env::set_current_dir("/").context("cannot change to /")?;
    let mut out = std::io::stdout().lock();
    out.write_all(READY.as_bytes())?;
    out.flush()?;
    let null = File::options().read(true).write(true).open("/dev/null")?;
    rustix::stdio::dup2_stdout(&null).context("cannot redirect standard output")?;
    Ok(())
}

/// In the child, when start-up fails: tell the parent why.
pub fn report_failure(error: &anyhow::Error) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "qemu-ga: {error:#}");
    let _ = out.flush();
}
