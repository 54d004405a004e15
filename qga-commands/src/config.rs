//! Where the guest operations find the system, and how they behave: one
//! [`AgentConfig`], holding one [`SystemRoots`], handed to every command.
//! Every default is defined here, once.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The directories the guest operations read and change the system
/// through. The real system's are the defaults; tests (and an agent
/// serving a system mounted elsewhere) point them at another tree, so that
/// every command can run against a fake root. Programs QEMU's agent names
/// without a path (`chpasswd`, `getent`, `systemctl`, `pm-*`) are looked
/// up in `PATH`, as QEMU looks them up; the process's own `/proc/self`
/// (its descriptors at start-up) is always the real one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemRoots {
    /// sysfs (`/sys`): vCPUs, memory blocks, disks, `power/state`.
    pub sys: PathBuf,
    /// procfs (`/proc`): the mount table, statistics, network tables.
    pub proc: PathBuf,
    /// Device nodes (`/dev`), opened for NVMe SMART data.
    pub dev: PathBuf,
    /// Runtime state (`/run`): the udev database.
    pub run: PathBuf,
    /// glibc's runtime directory (`/var/run`): utmp.
    pub var_run: PathBuf,
    /// Configuration (`/etc`): `passwd`, `os-release`, `localtime`.
    pub etc: PathBuf,
    /// `/usr`: `lib/os-release`.
    pub usr: PathBuf,
    /// System programs (`/sbin`): `poweroff`, `halt`, `reboot`,
    /// `shutdown`, `hwclock`.
    pub sbin: PathBuf,
    /// Zone files (`/usr/share/zoneinfo`, `$TZDIR`).
    pub zoneinfo: PathBuf,
    /// The os-release file to read instead of `etc/os-release` and
    /// `usr/lib/os-release` (`$QGA_OS_RELEASE`, as QEMU's agent reads it).
    pub os_release: Option<PathBuf>,
    /// The agent's state directory (`-t`): `qga.state`,
    /// `qga.state.isfrozen`.
    pub statedir: PathBuf,
}

impl Default for SystemRoots {
    fn default() -> Self {
        // QEMU's state directory is glibc's runtime directory.
        let var_run = PathBuf::from("/var/run");
        SystemRoots {
            sys: PathBuf::from("/sys"),
            proc: PathBuf::from("/proc"),
            dev: PathBuf::from("/dev"),
            run: PathBuf::from("/run"),
            var_run: var_run.clone(),
            etc: PathBuf::from("/etc"),
            usr: PathBuf::from("/usr"),
            sbin: PathBuf::from("/sbin"),
            zoneinfo: PathBuf::from("/usr/share/zoneinfo"),
            os_release: None,
            statedir: var_run,
        }
    }
}

impl SystemRoots {
    /// The directory roots by the names a configuration file gives them
    /// (`[system-roots]`): every root but the state directory and the
    /// os-release file.
    pub fn named(&self) -> [(&'static str, &PathBuf); 9] {
        [
            ("sys", &self.sys),
            ("proc", &self.proc),
            ("dev", &self.dev),
            ("run", &self.run),
            ("var-run", &self.var_run),
            ("etc", &self.etc),
            ("usr", &self.usr),
            ("sbin", &self.sbin),
            ("zoneinfo", &self.zoneinfo),
        ]
    }

    /// The root named `name` (see [`SystemRoots::named`]), to set it.
    pub fn named_mut(&mut self, name: &str) -> Option<&mut PathBuf> {
        Some(match name {
            "sys" => &mut self.sys,
            "proc" => &mut self.proc,
            "dev" => &mut self.dev,
            "run" => &mut self.run,
            "var-run" => &mut self.var_run,
            "etc" => &mut self.etc,
            "usr" => &mut self.usr,
            "sbin" => &mut self.sbin,
            "zoneinfo" => &mut self.zoneinfo,
            _ => return None,
        })
    }

    /// The mount table freezing, trimming and `guest-get-fsinfo` read
    /// (`/proc/self/mountinfo`).
    pub(crate) fn mountinfo(&self) -> PathBuf {
        self.proc.join("self/mountinfo")
    }

    /// The older mount table, read when `mountinfo` cannot be
    /// (`/proc/self/mounts`).
    pub(crate) fn mounts(&self) -> PathBuf {
        self.proc.join("self/mounts")
    }

    /// The os-release files, in the order they are tried.
    pub(crate) fn os_release_files(&self) -> Vec<PathBuf> {
        match &self.os_release {
            Some(file) => vec![file.clone()],
            None => vec![self.etc.join("os-release"), self.usr.join("lib/os-release")],
        }
    }

    /// `path` (absolute, as `/devices/system/cpu`) under `root`, as text for
    /// error messages: `/sys` and `/devices/system/cpu` give
    /// `/sys/devices/system/cpu`.
    pub(crate) fn under(root: &Path, path: &str) -> String {
        format!("{}{path}", root.display())
    }
}

/// How the guest operations behave, and where they find the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Where the system is.
    pub roots: SystemRoots,
    /// The fsfreeze hook (`-F`), if enabled.
    pub fsfreeze_hook: Option<PathBuf>,
    /// Longest the fsfreeze hook may run (`fsfreeze-hook-timeout`);
    /// `None` for no limit.
    pub fsfreeze_hook_timeout: Option<Duration>,
    /// How long after a freeze the agent thaws by itself if no thaw has
    /// come (`fsfreeze-timeout`); `None` for never.
    pub fsfreeze_timeout: Option<Duration>,
    /// Permissions of files `guest-file-open` creates (`file-create-mode`).
    pub file_create_mode: u32,
}

impl AgentConfig {
    /// How long the fsfreeze hook may run by default (`fsfreeze-hook-timeout`).
    pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

    /// How long after a freeze the agent thaws by itself by default when no
    /// thaw comes (`fsfreeze-timeout`).
    pub const DEFAULT_AUTO_THAW: Duration = Duration::from_secs(600);

    /// Permissions of files `guest-file-open` creates by default
    /// (`file-create-mode`): no write permission for group and others
    /// (QEMU's agent uses 0666).
    pub const DEFAULT_CREATE_MODE: u32 = 0o644;
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            roots: SystemRoots::default(),
            fsfreeze_hook: None,
            fsfreeze_hook_timeout: Some(AgentConfig::DEFAULT_HOOK_TIMEOUT),
            fsfreeze_timeout: Some(AgentConfig::DEFAULT_AUTO_THAW),
            file_create_mode: AgentConfig::DEFAULT_CREATE_MODE,
        }
    }
}
