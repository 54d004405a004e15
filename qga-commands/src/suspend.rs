//! `guest-suspend-disk`, `guest-suspend-ram`, `guest-suspend-hybrid`:
//! hibernate, suspend to RAM, or both.
//!
//! Tried in QEMU's order, each method only where it says it supports the
//! mode, the next one only if the previous did not succeed:
//!
//! 1. systemd: `systemctl status systemd-hibernate|systemd-suspend|
//!    systemd-hybrid-sleep` exiting 1 to 3 (the unit exists) means
//!    supported; then `systemctl hibernate|suspend|hybrid-sleep`.
//! 2. pm-utils: `pm-is-supported --hibernate|--suspend|--suspend-hybrid`
//!    exiting 0 means supported; then `pm-hibernate|pm-suspend|
//!    pm-suspend-hybrid`.
//! 3. The kernel: `sys/power/state` listing `disk` or `mem`; then that
//!    word is written to it. Hybrid sleep has no such interface.
//!
//! Programs are looked up in `PATH` and run with no input or output; only
//! their exit status counts. When no method supports the mode the reply is
//! "the requested suspend mode is not supported by the guest"; otherwise
//! the last method's error, if any (QEMU's rules, kept as they are: a
//! supported method that failed is not reported when a later one reports
//! no error of its own).

use std::ffi::OsString;
use std::io::{ErrorKind, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use qga_protocol::schema::{Empty, NoArgs};

use crate::agent::Agent;
use crate::error::CommandError;
use crate::run::{program_path, spawn_retrying};

/// `guest-suspend-disk`.
pub(crate) fn disk(agent: &Agent, _: NoArgs) -> Result<Empty, CommandError> {
    suspend(SuspendMode::Disk, &SuspendEnv::of(agent)).map(|()| Empty {})
}

/// `guest-suspend-ram`.
pub(crate) fn ram(agent: &Agent, _: NoArgs) -> Result<Empty, CommandError> {
    suspend(SuspendMode::Ram, &SuspendEnv::of(agent)).map(|()| Empty {})
}

/// `guest-suspend-hybrid`.
pub(crate) fn hybrid(agent: &Agent, _: NoArgs) -> Result<Empty, CommandError> {
    suspend(SuspendMode::Hybrid, &SuspendEnv::of(agent)).map(|()| Empty {})
}

/// Which sleep the host asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SuspendMode {
    /// Hibernate (`guest-suspend-disk`).
    Disk,
    /// Suspend to RAM (`guest-suspend-ram`).
    Ram,
    /// Save to disk and suspend to RAM (`guest-suspend-hybrid`).
    Hybrid,
}

impl SuspendMode {
    fn systemd_unit(self) -> &'static str {
        match self {
            SuspendMode::Disk => "systemd-hibernate",
            SuspendMode::Ram => "systemd-suspend",
            SuspendMode::Hybrid => "systemd-hybrid-sleep",
        }
    }

    fn systemctl_verb(self) -> &'static str {
        match self {
            SuspendMode::Disk => "hibernate",
            SuspendMode::Ram => "suspend",
            SuspendMode::Hybrid => "hybrid-sleep",
        }
    }

    fn pm_is_supported_flag(self) -> &'static str {
        match self {
            SuspendMode::Disk => "--hibernate",
            SuspendMode::Ram => "--suspend",
            SuspendMode::Hybrid => "--suspend-hybrid",
        }
    }

    fn pm_program(self) -> &'static str {
        match self {
            SuspendMode::Disk => "pm-hibernate",
            SuspendMode::Ram => "pm-suspend",
            SuspendMode::Hybrid => "pm-suspend-hybrid",
        }
    }

    /// The word `/sys/power/state` takes, if the kernel offers the mode.
    fn sys_state(self) -> Option<&'static str> {
        match self {
            SuspendMode::Disk => Some("disk"),
            SuspendMode::Ram => Some("mem"),
            SuspendMode::Hybrid => None,
        }
    }
}

/// Where the suspend methods are found.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SuspendEnv {
    /// The `PATH` programs are looked up in; the agent's own when `None`.
    path: Option<OsString>,
    /// The kernel's sleep interface (`sys/power/state`).
    power_state: PathBuf,
}

impl SuspendEnv {
    /// The agent's.
    fn of(agent: &Agent) -> Self {
        SuspendEnv {
            path: program_path(),
            power_state: agent.roots().sys.join("power/state"),
        }
    }

    /// Runs `program` with `args` and returns its exit code (0 when a
    /// signal ended it, as QEMU reads it), or `None` when no such program
    /// is in `PATH`.
    fn run(&self, program: &str, args: &[&str]) -> Result<Option<i32>, CommandError> {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(path) = &self.path {
            command.env("PATH", path);
        }
        let status = match spawn_retrying(&mut command).and_then(|mut child| child.wait()) {
            Ok(status) => status,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CommandError::SuspendHelper(program.to_string(), e.into())),
        };
        // Killed by a signal: QEMU reads the exit-code bits, all 0.
        Ok(Some(status.code().unwrap_or(0)))
    }
}

/// Puts the guest to sleep in `mode`. Returns once the method has
/// returned (after the guest woke up, for most).
fn suspend(mode: SuspendMode, env: &SuspendEnv) -> Result<(), CommandError> {
    log::info!("guest-suspend called, mode: {mode:?}");
    let mut supported = false;

    if systemd_supports(mode, env) {
        supported = true;
        if systemd_suspend(mode, env).is_ok() {
            return Ok(());
        }
    }
    if pm_utils_supports(mode, env) {
        supported = true;
        if pm_utils_suspend(mode, env).is_ok() {
            return Ok(());
        }
    }
    let last = match sys_state_supports(mode, env) {
        Ok(true) => {
            supported = true;
            sys_state_suspend(mode, env)
        }
        Ok(false) => Ok(()),
        Err(e) => Err(e),
    };
    if supported {
        last
    } else {
        Err(CommandError::SuspendNotSupported)
    }
}

fn systemd_supports(mode: SuspendMode, env: &SuspendEnv) -> bool {
    // `systemctl status` follows the LSB codes: 1 to 3 for a unit that
    // exists but is not running, 4 for one that does not exist.
    matches!(
        env.run("systemctl", &["status", mode.systemd_unit()]),
        Ok(Some(1..=3))
    )
}

fn systemd_suspend(mode: SuspendMode, env: &SuspendEnv) -> Result<(), CommandError> {
    let verb = mode.systemctl_verb();
    match env.run("systemctl", &[verb])? {
        Some(0) => Ok(()),
        None => Err(CommandError::HelperNotFound(format!("systemctl {verb}"))),
        Some(code) => Err(CommandError::HelperStatus(format!("systemctl {verb}"), code)),
    }
}

fn pm_utils_supports(mode: SuspendMode, env: &SuspendEnv) -> bool {
    matches!(
        env.run("pm-is-supported", &[mode.pm_is_supported_flag()]),
        Ok(Some(0))
    )
}

fn pm_utils_suspend(mode: SuspendMode, env: &SuspendEnv) -> Result<(), CommandError> {
    let program = mode.pm_program();
    match env.run(program, &[])? {
        Some(0) => Ok(()),
        None => Err(CommandError::HelperNotFound(program.to_string())),
        Some(code) => Err(CommandError::HelperStatus(program.to_string(), code)),
    }
}

/// Whether the kernel lists the mode in its sleep interface (the first
/// 31 bytes of it, as QEMU reads).
fn sys_state_supports(mode: SuspendMode, env: &SuspendEnv) -> Result<bool, CommandError> {
    let word = mode.sys_state().ok_or(CommandError::UnknownSuspendMode)?;
    let Ok(head) = qga_sys::fs::read_capped(&env.power_state, 31) else {
        return Ok(false);
    };
    let head = head.split(|&b| b == 0).next().unwrap_or_default();
    Ok(head.windows(word.len()).any(|w| w == word.as_bytes()))
}

fn sys_state_suspend(mode: SuspendMode, env: &SuspendEnv) -> Result<(), CommandError> {
    let word = mode.sys_state().ok_or(CommandError::UnknownSuspendMode)?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .open(&env.power_state)
        .and_then(|mut file| file.write(word.as_bytes()));
    written
        .map(|_| ())
        .map_err(|e| CommandError::SuspendWrite(env.power_state.clone(), e.into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A fake system: stand-in programs in `bin` logging their arguments,
    /// and a fake `/sys/power/state`.
    struct Fake {
        dir: tempfile::TempDir,
    }

    impl Fake {
        fn new(power_state: Option<&str>) -> Fake {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("bin")).unwrap();
            if let Some(text) = power_state {
                std::fs::write(dir.path().join("state"), text).unwrap();
            }
            Fake { dir }
        }

        /// A stand-in `name` that logs `name ARGS` and exits with what
        /// `script` (shell, `$1` is its first argument) decides.
        fn program(&self, name: &str, script: &str) -> &Fake {
            let path = self.dir.path().join("bin").join(name);
            let log = self.dir.path().join("log");
            std::fs::write(
                &path,
                format!("#!/bin/sh\necho \"{name} $*\" >> '{}'\n{script}\n", log.display()),
            )
            .unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            self
        }

        fn env(&self) -> SuspendEnv {
            SuspendEnv {
                path: Some(self.dir.path().join("bin").into_os_string()),
                power_state: self.dir.path().join("state"),
            }
        }

        fn log(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("log")).unwrap_or_default()
        }

        fn state(&self) -> String {
            std::fs::read_to_string(self.dir.path().join("state")).unwrap_or_default()
        }

        fn suspend(&self, mode: SuspendMode) -> Result<(), String> {
            suspend(mode, &self.env()).map_err(|e| e.to_string())
        }
    }

    #[test]
    fn systemd_first() {
        let fake = Fake::new(Some("freeze mem disk\n"));
        fake.program("systemctl", "[ \"$1\" = status ] && exit 3; exit 0")
            .program("pm-is-supported", "exit 0")
            .program("pm-suspend", "exit 0");
        assert_eq!(fake.suspend(SuspendMode::Ram), Ok(()));
        assert_eq!(
            fake.log(),
            "systemctl status systemd-suspend\nsystemctl suspend\n"
        );
        assert_eq!(fake.state(), "freeze mem disk\n");
    }

    #[test]
    fn systemd_support_is_read_from_the_status_code() {
        for (code, supported) in [
            (0, false),
            (1, true),
            (2, true),
            (3, true),
            (4, false),
            (5, false),
        ] {
            let fake = Fake::new(None);
            fake.program(
                "systemctl",
                &format!("[ \"$1\" = status ] && exit {code}; exit 0"),
            );
            let result = fake.suspend(SuspendMode::Disk);
            if supported {
                assert_eq!(result, Ok(()), "status {code}");
                assert!(fake.log().ends_with("systemctl hibernate\n"), "{}", fake.log());
            } else {
                assert_eq!(
                    result.unwrap_err(),
                    "the requested suspend mode is not supported by the guest"
                );
                assert_eq!(fake.log(), "systemctl status systemd-hibernate\n");
            }
        }
    }

    #[test]
    fn falls_back_to_pm_utils_then_the_kernel() {
        let fake = Fake::new(Some("freeze mem disk\n"));
        fake.program("systemctl", "[ \"$1\" = status ] && exit 3; exit 1")
            .program("pm-is-supported", "exit 0")
            .program("pm-hibernate", "exit 0");
        assert_eq!(fake.suspend(SuspendMode::Disk), Ok(()));
        assert_eq!(
            fake.log(),
            "systemctl status systemd-hibernate\nsystemctl hibernate\npm-is-supported --hibernate\npm-hibernate \n"
        );
        assert_eq!(fake.state(), "freeze mem disk\n");

        // pm-suspend missing: the kernel interface is written (in place,
        // as sysfs takes it).
        assert_eq!(fake.suspend(SuspendMode::Ram), Ok(()));
        assert_eq!(fake.state(), "memeze mem disk\n");
    }

    #[test]
    fn kernel_interface_alone() {
        let fake = Fake::new(Some("freeze mem disk\n"));
        assert_eq!(fake.suspend(SuspendMode::Disk), Ok(()));
        assert_eq!(fake.state(), "diskze mem disk\n");
        let fake = Fake::new(Some("freeze\n"));
        assert_eq!(
            fake.suspend(SuspendMode::Ram).unwrap_err(),
            "the requested suspend mode is not supported by the guest"
        );
        assert_eq!(fake.state(), "freeze\n");
        // Only the first 31 bytes are looked at.
        let fake = Fake::new(Some(&format!("{}mem", " ".repeat(29))));
        assert!(fake.suspend(SuspendMode::Ram).is_err());
        let fake = Fake::new(None);
        assert_eq!(
            fake.suspend(SuspendMode::Disk).unwrap_err(),
            "the requested suspend mode is not supported by the guest"
        );
    }

    #[test]
    fn kernel_write_failure_is_reported() {
        let fake = Fake::new(Some("mem disk"));
        // A directory in place of the state file: it cannot be read (so
        // the mode reads as unsupported) nor written.
        let state = fake.dir.path().join("state");
        std::fs::remove_file(&state).unwrap();
        std::fs::create_dir(&state).unwrap();
        // Reading a directory fails: unsupported.
        assert_eq!(
            fake.suspend(SuspendMode::Disk).unwrap_err(),
            "the requested suspend mode is not supported by the guest"
        );
        let env = SuspendEnv {
            path: fake.env().path,
            power_state: state.clone(),
        };
        assert_eq!(
            sys_state_suspend(SuspendMode::Disk, &env)
                .unwrap_err()
                .to_string(),
            format!("suspend: cannot write to '{}': Is a directory", state.display())
        );
    }

    #[test]
    fn hybrid_has_no_kernel_interface() {
        let fake = Fake::new(Some("freeze mem disk\n"));
        assert_eq!(
            fake.suspend(SuspendMode::Hybrid).unwrap_err(),
            "the requested suspend mode is not supported by the guest"
        );
        // Supported by systemd, which fails: the kernel step's error is
        // what is reported.
        fake.program("systemctl", "[ \"$1\" = status ] && exit 3; exit 1");
        assert_eq!(
            fake.suspend(SuspendMode::Hybrid).unwrap_err(),
            "unknown guest suspend mode"
        );
        assert!(fake.log().ends_with("systemctl hybrid-sleep\n"), "{}", fake.log());
        assert_eq!(fake.state(), "freeze mem disk\n");
    }

    #[test]
    fn a_failed_supported_method_is_not_reported_when_the_kernel_says_nothing() {
        // QEMU's rule: systemd supports the mode but fails, nothing else
        // supports it and the kernel check has no error: no error.
        let fake = Fake::new(Some("freeze\n"));
        fake.program("systemctl", "[ \"$1\" = status ] && exit 3; exit 1");
        assert_eq!(fake.suspend(SuspendMode::Disk), Ok(()));
        assert_eq!(fake.state(), "freeze\n");
    }

    #[test]
    fn helper_errors_read_like_qemu() {
        let fake = Fake::new(None);
        fake.program("systemctl", "exit 7");
        assert_eq!(
            systemd_suspend(SuspendMode::Ram, &fake.env())
                .unwrap_err()
                .to_string(),
            "the helper program 'systemctl suspend' returned an unexpected exit status code (7)"
        );
        fake.program("pm-suspend-hybrid", "exit 2");
        assert_eq!(
            pm_utils_suspend(SuspendMode::Hybrid, &fake.env())
                .unwrap_err()
                .to_string(),
            "the helper program 'pm-suspend-hybrid' returned an unexpected exit status code (2)"
        );
        assert_eq!(
            pm_utils_suspend(SuspendMode::Disk, &fake.env())
                .unwrap_err()
                .to_string(),
            "the helper program 'pm-hibernate' was not found"
        );
        let empty = Fake::new(None);
        assert_eq!(
            systemd_suspend(SuspendMode::Disk, &empty.env())
                .unwrap_err()
                .to_string(),
            "the helper program 'systemctl hibernate' was not found"
        );
        // Found but not executable.
        let path = fake.dir.path().join("bin").join("pm-hibernate");
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(
            pm_utils_suspend(SuspendMode::Disk, &fake.env()).unwrap_err().to_string(),
            "failed to create child process, error 'Failed to execute child process \u{201c}pm-hibernate\u{201d} \
             (Permission denied)'"
        );
        // A signal counts as exit code 0.
        fake.program("pm-suspend", "kill -9 $$");
        assert_eq!(pm_utils_suspend(SuspendMode::Ram, &fake.env()), Ok(()));
    }
}
