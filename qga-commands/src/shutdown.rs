//! `guest-shutdown`: power the guest down, halt it or reboot it.
//!
//! As current QEMU: `/sbin/poweroff`, `/sbin/halt` or `/sbin/reboot` is run
//! without arguments when it exists (systemd and busybox systems), else
//! `/sbin/shutdown -h -P|-H|-r +0 "hypervisor initiated shutdown"`. The agent
//! waits for the program and reaps it; a failure is the command's error
//! reply, a success has none.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use qga_protocol::schema::{Empty, GuestShutdownArgs};
use rustix::fs::Access;

use crate::agent::Agent;
use crate::error::CommandError;
use crate::run::run_command;

/// `guest-shutdown`: the programs are in the sbin root.
pub(crate) fn shutdown(agent: &Agent, args: GuestShutdownArgs) -> Result<Empty, CommandError> {
    let mode = ShutdownMode::parse(args.mode.as_deref())?;
    run_shutdown(&agent.roots().sbin, mode).map(|()| Empty {})
}

/// Which shutdown the host asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ShutdownMode {
    /// Power off (`powerdown`, the default).
    Powerdown,
    /// Halt without powering off.
    Halt,
    /// Reboot.
    Reboot,
}

impl ShutdownMode {
    /// Parses the `mode` argument.
    fn parse(mode: Option<&str>) -> Result<Self, CommandError> {
        match mode {
            None | Some("powerdown") => Ok(ShutdownMode::Powerdown),
            Some("halt") => Ok(ShutdownMode::Halt),
            Some("reboot") => Ok(ShutdownMode::Reboot),
            Some(_) => Err(CommandError::ShutdownMode),
        }
    }

    fn program(self) -> &'static str {
        match self {
            ShutdownMode::Powerdown => "poweroff",
            ShutdownMode::Halt => "halt",
            ShutdownMode::Reboot => "reboot",
        }
    }

    fn shutdown_flag(self) -> &'static str {
        match self {
            ShutdownMode::Powerdown => "-P",
            ShutdownMode::Halt => "-H",
            ShutdownMode::Reboot => "-r",
        }
    }
}

/// Runs the system's shutdown program from `sbin` (normally `/sbin`).
fn run_shutdown(sbin: &Path, mode: ShutdownMode) -> Result<(), CommandError> {
    log::warn!("guest-shutdown called, mode: {mode:?}");
    let direct: PathBuf = sbin.join(mode.program());
    if rustix::fs::access(&direct, Access::EXEC_OK).is_ok() {
        return run_command(direct.as_os_str(), &[], None, "shutdown");
    }
    let shutdown = sbin.join("shutdown");
    let args = ["-h", mode.shutdown_flag(), "+0", "hypervisor initiated shutdown"].map(OsStr::new);
    run_command(shutdown.as_os_str(), &args, None, "shutdown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn stand_in(dir: &Path, name: &str, log: &Path, exit: i32) {
        let path = dir.join(name);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"{name} $*\" >> {}\nexit {exit}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn modes_are_checked() {
        assert_eq!(ShutdownMode::parse(None).unwrap(), ShutdownMode::Powerdown);
        assert_eq!(ShutdownMode::parse(Some("halt")).unwrap(), ShutdownMode::Halt);
        assert_eq!(
            ShutdownMode::parse(Some("x")).unwrap_err().to_string(),
            "mode is invalid (valid values are: halt|powerdown|reboot"
        );
    }

    #[test]
    fn prefers_the_direct_program_then_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        stand_in(dir.path(), "shutdown", &log, 0);
        stand_in(dir.path(), "reboot", &log, 0);
        run_shutdown(dir.path(), ShutdownMode::Reboot).unwrap();
        run_shutdown(dir.path(), ShutdownMode::Powerdown).unwrap();
        run_shutdown(dir.path(), ShutdownMode::Halt).unwrap();
        assert_eq!(
            std::fs::read_to_string(&log).unwrap(),
            "reboot \nshutdown -h -P +0 hypervisor initiated shutdown\nshutdown -h -H +0 hypervisor initiated shutdown\n"
        );
    }

    #[test]
    fn failures_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        stand_in(dir.path(), "poweroff", &log, 4);
        assert_eq!(
            run_shutdown(dir.path(), ShutdownMode::Powerdown)
                .unwrap_err()
                .to_string(),
            "child process has failed to shutdown: exit status 4"
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            run_shutdown(empty.path(), ShutdownMode::Halt).unwrap_err().to_string(),
            format!(
                "child process has failed to shutdown: failed to exec '{}/shutdown': No such file or directory\n",
                empty.path().display()
            )
        );
    }
}
