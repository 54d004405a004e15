//! The agent's settings: the command line, the configuration file and the
//! environment turned into one resolved, typed [`Settings`] by one function,
//! [`resolve`], in two steps (as ripgrep turns its `LowArgs` into `HiArgs`):
//!
//! 1. the raw values ([`RawSettings`]): the configuration file's
//!    ([`mod@file`]), then the command line's ([`cli`]) laid over them (options
//!    given override the file; command lists are joined);
//! 2. resolution: every default applied (each is defined once, here or in
//!    the library that owns it: `qga_commands::AgentConfig`,
//!    `qga_commands::SystemRoots`, `qga_transport::Method`), the method
//!    parsed, paths made absolute against the starting directory (a daemon
//!    changes to `/`), and the environment read (`QGA_CONF`, `TZDIR`,
//!    `QGA_OS_RELEASE`, the daemon's child marker).
//!
//! `-D` prints the result ([`Settings::dump`]) as a configuration file, in
//! QEMU's layout, so it can be read back with `-c`.

pub mod cli;
pub mod file;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use qapi_core::{ConflictingLists, DispatchConfig, Policy};
use qga_commands::{AgentConfig, SystemRoots, QEMU_COMPAT_VERSION};
use qga_transport::{ActivatedSocket, ChannelConfig, ChannelError, Method, UnknownMethod, VsockPeers};

use self::cli::{Cli, UsageError};
use self::file::ConfigError;

/// The pidfile's name in QEMU's default place for it (the `var_run` root's
/// default).
pub const PIDFILE_NAME: &str = "qemu-ga.pid";
/// QEMU's default fsfreeze hook (`-F` without a path).
pub const DEFAULT_FSFREEZE_HOOK: &str = "/etc/qemu/fsfreeze-hook";
/// The configuration file read when neither `-c` nor `QGA_CONF` names one.
pub const DEFAULT_CONFIG: &str = "/etc/qemu/qemu-ga.conf";
/// Default deadline for a command, in seconds.
pub const DEFAULT_COMMAND_TIMEOUT: u64 = 30;
/// Set in the daemon's child's environment.
pub const DAEMON_CHILD_ENV: &str = "QGA_DAEMON_CHILD";

/// What the agent was asked to do.
#[derive(Debug)]
pub enum Action {
    /// Print this help text and exit.
    Help(String),
    /// Print this version line and exit.
    Version(String),
    /// Print the settings as a configuration file and exit (`-D`).
    Dump(Box<Settings>),
    /// List the commands and exit (`-b help`, `-a help`).
    ListCommands,
    /// Serve.
    Run(Box<Settings>),
}

/// Why the settings could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// The command line is not one clap accepts.
    #[error("{}", .0.line)]
    Usage(UsageError),
    /// The configuration file could not be used.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The method is not one QEMU knows.
    #[error(transparent)]
    Method(#[from] UnknownMethod),
    /// A relative path could not be made absolute.
    #[error("cannot read the current directory")]
    CurrentDir,
}

/// The environment the settings read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Environment {
    /// `QGA_CONF`: the configuration file when `-c` names none.
    pub config: Option<PathBuf>,
    /// Whether this process is the daemon's child ([`DAEMON_CHILD_ENV`]).
    pub daemon_child: bool,
    /// `TZDIR`: where zone files are.
    pub tzdir: Option<PathBuf>,
    /// `QGA_OS_RELEASE`: the os-release file to read, as QEMU's agent
    /// reads it.
    pub os_release: Option<PathBuf>,
    /// The starting directory, relative paths are taken against it.
    pub cwd: Option<PathBuf>,
}

impl Environment {
    /// This process's.
    pub fn of_process() -> Environment {
        Environment {
            config: std::env::var_os("QGA_CONF").map(PathBuf::from),
            daemon_child: std::env::var_os(DAEMON_CHILD_ENV).is_some(),
            tzdir: std::env::var_os("TZDIR").map(PathBuf::from),
            os_release: std::env::var_os("QGA_OS_RELEASE").map(PathBuf::from),
            cwd: std::env::current_dir().ok(),
        }
    }
}

/// The settings as the configuration file and the command line give them,
/// before any default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawSettings {
    /// `daemon` / `-d`.
    pub daemon: bool,
    /// `method` / `-m`.
    pub method: Option<String>,
    /// `path` / `-p`.
    pub path: Option<PathBuf>,
    /// `logfile` / `-l`.
    pub logfile: Option<PathBuf>,
    /// `pidfile` / `-f`.
    pub pidfile: Option<PathBuf>,
    /// `fsfreeze-hook` / `-F`.
    pub fsfreeze_hook: Option<PathBuf>,
    /// `statedir` / `-t`.
    pub statedir: Option<PathBuf>,
    /// `verbose` / `-v`.
    pub verbose: bool,
    /// `retry-path` / `-r`.
    pub retry_path: bool,
    /// `block-rpcs` / `-b`.
    pub block_rpcs: Vec<String>,
    /// `allow-rpcs` / `-a`.
    pub allow_rpcs: Vec<String>,
    /// `fsfreeze-hook-timeout` / `--fsfreeze-hook-timeout`, in seconds.
    pub fsfreeze_hook_timeout: Option<u64>,
    /// `fsfreeze-timeout` / `--fsfreeze-timeout`, in seconds.
    pub fsfreeze_timeout: Option<u64>,
    /// `file-create-mode` / `--file-create-mode`.
    pub file_create_mode: Option<u32>,
    /// `vsock-allow-cids` / `--vsock-allow-cids`.
    pub vsock_allow_cids: Option<VsockPeers>,
    /// `command-timeout` / `--command-timeout`, in seconds.
    pub command_timeout: Option<u64>,
    /// The `[system-roots]` group, each root where given, by name (see
    /// `qga_commands::SystemRoots::named`).
    pub roots: Vec<(String, PathBuf)>,
}

impl RawSettings {
    /// Lays the command line over these values: options given override
    /// them; command lists are appended.
    fn apply(&mut self, cli: &Cli) {
        fn set<T: Clone>(ours: &mut Option<T>, theirs: &Option<T>) {
            if theirs.is_some() {
                ours.clone_from(theirs);
            }
        }
        self.daemon |= cli.daemonize;
        self.verbose |= cli.verbose;
        self.retry_path |= cli.retry_path;
        set(&mut self.method, &cli.method);
        set(&mut self.path, &cli.path);
        set(&mut self.logfile, &cli.logfile);
        set(&mut self.pidfile, &cli.pidfile);
        set(&mut self.fsfreeze_hook, &cli.fsfreeze_hook);
        set(&mut self.statedir, &cli.statedir);
        set(&mut self.fsfreeze_hook_timeout, &cli.fsfreeze_hook_timeout);
        set(&mut self.fsfreeze_timeout, &cli.fsfreeze_timeout);
        set(&mut self.file_create_mode, &cli.file_create_mode);
        set(&mut self.vsock_allow_cids, &cli.vsock_allow_cids);
        set(&mut self.command_timeout, &cli.command_timeout);
        for list in &cli.block_rpcs {
            self.block_rpcs.extend(file::split_list(list));
        }
        for list in &cli.allow_rpcs {
            self.allow_rpcs.extend(file::split_list(list));
        }
    }
}

/// Everything the agent runs with, every default applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Run in the background (`-d`).
    pub daemonize: bool,
    /// This process is the daemon's child, started by its parent.
    pub daemon_child: bool,
    /// The channel kind (`-m`).
    pub method: Method,
    /// The device or socket (`-p`) as given, made absolute, or
    /// `<cid>:<port>`; `None` for the method's default.
    pub path: Option<PathBuf>,
    /// Open the channel again when it is missing or fails (`-r`).
    pub retry_path: bool,
    /// The vsock peers accepted.
    pub vsock_peers: VsockPeers,
    /// Log debugging information (`-v`).
    pub verbose: bool,
    /// The log file (`-l`), absolute; standard error when `None`.
    pub logfile: Option<PathBuf>,
    /// The pidfile written when daemonizing (`-f`), absolute.
    pub pidfile: PathBuf,
    /// The commands to disable (`-b`), as listed.
    pub block_rpcs: Vec<String>,
    /// The only commands to enable (`-a`), as listed.
    pub allow_rpcs: Vec<String>,
    /// The guest operations' configuration, system roots included.
    pub agent: AgentConfig,
    /// The system roots as the defaults and the environment give them,
    /// before the configuration file's `[system-roots]`: the ones `-D`
    /// leaves out.
    pub base_roots: SystemRoots,
    /// How commands are run.
    pub dispatch: DispatchConfig,
}

/// The pidfile's default path (QEMU's).
pub fn default_pidfile() -> PathBuf {
    SystemRoots::default().var_run.join(PIDFILE_NAME)
}

/// `path` made absolute against `cwd`.
fn absolute(path: PathBuf, cwd: Option<&Path>) -> Result<PathBuf, SettingsError> {
    if path.is_absolute() {
        return Ok(path);
    }
    cwd.map(|cwd| cwd.join(&path)).ok_or(SettingsError::CurrentDir)
}

/// A duration in seconds; 0 is none.
fn seconds(secs: u64) -> Option<Duration> {
    (secs > 0).then(|| Duration::from_secs(secs))
}

/// What `args` (the program name first) and `env` ask the agent to do,
/// with the resolved settings: the one function that reads the command
/// line, the configuration file and the environment.
pub fn resolve(args: &[OsString], env: &Environment) -> Result<Action, SettingsError> {
    let cli = Cli::parse_from_args(args).map_err(|e| SettingsError::Usage(UsageError::of(&e, args)))?;
    if cli.help {
        return Ok(Action::Help(cli::help_text("qemu-ga", QEMU_COMPAT_VERSION)));
    }
    if cli.version {
        return Ok(Action::Version(format!("QEMU Guest Agent {QEMU_COMPAT_VERSION}")));
    }
    let (config, must_exist) = match (&cli.config, &env.config) {
        (Some(path), _) | (None, Some(path)) => (path.clone(), true),
        (None, None) => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let mut raw = file::read(&config, must_exist)?.unwrap_or_default();
    raw.apply(&cli);
    if raw.block_rpcs.iter().chain(&raw.allow_rpcs).any(|c| c == "help") && !cli.dump_conf {
        return Ok(Action::ListCommands);
    }
    let settings = Box::new(Settings::from_raw(raw, env)?);
    Ok(if cli.dump_conf {
        Action::Dump(settings)
    } else {
        Action::Run(settings)
    })
}

impl Settings {
    /// The raw values resolved (see the module's documentation).
    pub fn from_raw(raw: RawSettings, env: &Environment) -> Result<Settings, SettingsError> {
        let cwd = env.cwd.as_deref();
        let absolute = |path: Option<PathBuf>| path.map(|p| absolute(p, cwd)).transpose();
        let method: Method = raw
            .method
            .as_deref()
            .map(str::parse)
            .transpose()?
            .unwrap_or_default();
        // A vsock address is not a path.
        let path = match method {
            Method::VsockListen => raw.path,
            _ => absolute(raw.path)?,
        };
        let defaults = AgentConfig::default();
        let base_roots = SystemRoots {
            zoneinfo: env.tzdir.clone().unwrap_or(defaults.roots.zoneinfo),
            os_release: env.os_release.clone(),
            ..defaults.roots
        };
        let mut roots = base_roots.clone();
        for (name, root) in raw.roots {
            if let Some(slot) = roots.named_mut(&name) {
                *slot = absolute(Some(root))?.unwrap_or_default();
            }
        }
        if let Some(statedir) = absolute(raw.statedir)? {
            roots.statedir = statedir;
        }
        let agent = AgentConfig {
            roots,
            fsfreeze_hook: absolute(raw.fsfreeze_hook)?,
            fsfreeze_hook_timeout: raw
                .fsfreeze_hook_timeout
                .map_or(defaults.fsfreeze_hook_timeout, seconds),
            fsfreeze_timeout: raw.fsfreeze_timeout.map_or(defaults.fsfreeze_timeout, seconds),
            file_create_mode: raw.file_create_mode.unwrap_or(defaults.file_create_mode),
        };
        Ok(Settings {
            daemonize: raw.daemon,
            daemon_child: raw.daemon && env.daemon_child,
            method,
            path,
            retry_path: raw.retry_path,
            vsock_peers: raw.vsock_allow_cids.unwrap_or_default(),
            verbose: raw.verbose,
            logfile: absolute(raw.logfile)?,
            pidfile: absolute(raw.pidfile)?.unwrap_or_else(default_pidfile),
            block_rpcs: raw.block_rpcs,
            allow_rpcs: raw.allow_rpcs,
            agent,
            base_roots,
            dispatch: DispatchConfig {
                deadline: seconds(raw.command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT)),
            },
        })
    }

    /// The operator's policy: the block list or the allow list (not both).
    pub fn policy(&self) -> Result<Policy, ConflictingLists> {
        Policy::from_lists(&self.block_rpcs, &self.allow_rpcs)
    }

    /// The channel to serve: the socket systemd passed (`activated`), or
    /// the configured one.
    pub fn channel(&self, activated: Option<&ActivatedSocket>) -> Result<ChannelConfig, ChannelError> {
        ChannelConfig::resolve_with_activation(
            activated,
            self.method,
            self.path.clone(),
            self.retry_path,
            self.vsock_peers.clone(),
        )
    }

    /// The settings as a configuration file, in QEMU's `-D` layout. This
    /// agent's own settings follow, each only where it is not the default,
    /// so that the dump of a configuration QEMU's agent could read is the
    /// one QEMU's prints.
    pub fn dump(&self) -> String {
        use qga_sys::keyfile::escape;
        let mut out = String::from("[general]\n");
        let mut line = |key: &str, value: &str| {
            out.push_str(key);
            out.push('=');
            out.push_str(&escape(value));
            out.push('\n');
        };
        let text = |p: &Path| p.display().to_string();
        line("daemon", &self.daemonize.to_string());
        line("method", self.method.as_str());
        if let Some(path) = self.method.path_or_default(self.path.clone()) {
            line("path", &text(&path));
        }
        if let Some(logfile) = &self.logfile {
            line("logfile", &text(logfile));
        }
        line("pidfile", &text(&self.pidfile));
        if let Some(hook) = &self.agent.fsfreeze_hook {
            line("fsfreeze-hook", &text(hook));
        }
        line("statedir", &text(&self.agent.roots.statedir));
        line("verbose", &self.verbose.to_string());
        line("retry-path", &self.retry_path.to_string());
        line("block-rpcs", &self.block_rpcs.join(","));
        line("allow-rpcs", &self.allow_rpcs.join(","));
        let defaults = AgentConfig::default();
        let secs = |d: Option<Duration>| d.map_or(0, |d| d.as_secs()).to_string();
        if self.agent.fsfreeze_hook_timeout != defaults.fsfreeze_hook_timeout {
            line("fsfreeze-hook-timeout", &secs(self.agent.fsfreeze_hook_timeout));
        }
        if self.agent.fsfreeze_timeout != defaults.fsfreeze_timeout {
            line("fsfreeze-timeout", &secs(self.agent.fsfreeze_timeout));
        }
        if self.agent.file_create_mode != defaults.file_create_mode {
            line(
                "file-create-mode",
                &format!("{:04o}", self.agent.file_create_mode),
            );
        }
        if self.vsock_peers != VsockPeers::default() {
            line("vsock-allow-cids", &self.vsock_peers.to_string());
        }
        let command_timeout = seconds(DEFAULT_COMMAND_TIMEOUT);
        if self.dispatch.deadline != command_timeout {
            line("command-timeout", &secs(self.dispatch.deadline));
        }
        let changed: Vec<(&str, &PathBuf)> = self
            .agent
            .roots
            .named()
            .into_iter()
            .zip(self.base_roots.named())
            .filter(|((_, ours), (_, base))| ours != base)
            .map(|(ours, _)| ours)
            .collect();
        if !changed.is_empty() {
            out.push_str(&format!("[{}]\n", file::ROOTS));
            for (key, path) in changed {
                out.push_str(&format!("{key}={}\n", escape(&text(path))));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<OsString> {
        std::iter::once("qemu-ga")
            .chain(list.iter().copied())
            .map(OsString::from)
            .collect()
    }

    fn env() -> Environment {
        Environment {
            // An empty configuration file.
            config: Some(PathBuf::from("/dev/null")),
            cwd: Some(PathBuf::from("/start")),
            ..Environment::default()
        }
    }

    /// The settings of `text` as a configuration file, then `list` as the
    /// command line.
    fn settings(text: &str, list: &[&str]) -> Settings {
        let mut raw = file::parse(text.as_bytes(), Path::new("c")).unwrap();
        raw.apply(&Cli::parse_from_args(args(list)).unwrap());
        Settings::from_raw(raw, &env()).unwrap()
    }

    /// QEMU's upstream fixture, `tests/data/test-qga-config`.
    const UPSTREAM: &str =
        "[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\n\
        pidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
        block-rpcs=guest-ping,guest-get-time\n";

    #[test]
    fn reads_every_key_and_dumps_in_qemus_layout() {
        let text = "# comment\n[general]\n daemon = true \nmethod=unix-listen\npath=/run/x\\sy\nlogfile=/l\n\
                    pidfile=/p\nfsfreeze-hook=/h\nstatedir=/s\nverbose=1\nretry-path=true\n\
                    block-rpcs=a,b\nallow-rpcs=\nunknown=1\n[other]\ndaemon=oops\n";
        let ours = settings(text, &[]);
        assert_eq!(
            ours.dump(),
            "[general]\ndaemon=true\nmethod=unix-listen\npath=/run/x y\nlogfile=/l\npidfile=/p\n\
             fsfreeze-hook=/h\nstatedir=/s\nverbose=true\nretry-path=true\nblock-rpcs=b,a\nallow-rpcs=\n"
        );
        // The dump reads back as the same settings (each read reverses a
        // list, as in QEMU).
        let again = settings(&ours.dump(), &[]);
        assert_eq!(again.dump(), ours.dump().replace("b,a", "a,b"));
    }

    #[test]
    fn command_line_overrides_and_lists_join() {
        let ours = settings(
            UPSTREAM,
            &["-m", "unix-listen", "-p", "/x", "-b", "guest-info", "-F"],
        );
        assert_eq!(
            ours.dump(),
            "[general]\ndaemon=false\nmethod=unix-listen\npath=/x\npidfile=/var/foo/qemu-ga.pid\n\
             fsfreeze-hook=/etc/qemu/fsfreeze-hook\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
             block-rpcs=guest-get-time,guest-ping,guest-info\nallow-rpcs=\n"
        );
    }

    #[test]
    fn defaults_are_filled_for_the_dump() {
        let ours = settings("", &[]);
        assert_eq!(
            ours.dump(),
            "[general]\ndaemon=false\nmethod=virtio-serial\npath=/dev/virtio-ports/org.qemu.guest_agent.0\n\
             pidfile=/var/run/qemu-ga.pid\nstatedir=/var/run\nverbose=false\nretry-path=false\nblock-rpcs=\n\
             allow-rpcs=\n"
        );
        assert_eq!(ours.agent, AgentConfig::default());
        assert_eq!(
            ours.dispatch.deadline,
            Some(Duration::from_secs(DEFAULT_COMMAND_TIMEOUT))
        );
        assert_eq!(ours.policy(), Ok(Policy::All));
    }

    #[test]
    fn this_agents_own_keys_read_and_dump_back() {
        let text = "[general]\nfsfreeze-hook-timeout=5\nfsfreeze-timeout=0\nfile-create-mode=0640\n\
                    vsock-allow-cids=2,3\n[system-roots]\nproc=/fake/proc\nsbin=rel/sbin\n";
        let ours = settings(text, &[]);
        let dump = ours.dump();
        assert!(
            dump.ends_with(
                "allow-rpcs=\nfsfreeze-hook-timeout=5\nfsfreeze-timeout=0\nfile-create-mode=0640\n\
                 vsock-allow-cids=2,3\n[system-roots]\nproc=/fake/proc\nsbin=/start/rel/sbin\n"
            ),
            "{dump}"
        );
        assert_eq!(settings(&dump, &[]).dump(), dump);
        assert_eq!(ours.agent.fsfreeze_hook_timeout, Some(Duration::from_secs(5)));
        assert_eq!(ours.agent.fsfreeze_timeout, None);
        let cli = settings(
            text,
            &[
                "--fsfreeze-timeout=9",
                "--file-create-mode=600",
                "--vsock-allow-cids=any",
                "--command-timeout=0",
            ],
        );
        assert_eq!(cli.agent.fsfreeze_timeout, Some(Duration::from_secs(9)));
        assert_eq!(cli.agent.fsfreeze_hook_timeout, Some(Duration::from_secs(5)));
        assert_eq!(cli.agent.file_create_mode, 0o600);
        assert_eq!(cli.vsock_peers, VsockPeers::Any);
        assert_eq!(cli.dispatch.deadline, None);
        assert!(cli.dump().contains("\ncommand-timeout=0\n"), "{}", cli.dump());
        let file = settings("[general]\ncommand-timeout=7\n", &[]);
        assert_eq!(file.dispatch.deadline, Some(Duration::from_secs(7)));
    }

    #[test]
    fn paths_are_made_absolute_but_not_vsock_addresses() {
        let ours = settings(
            "",
            &["-m", "unix-listen", "-p", "sock", "-t", "state", "-l", "log"],
        );
        assert_eq!(ours.path.as_deref(), Some(Path::new("/start/sock")));
        assert_eq!(ours.agent.roots.statedir, Path::new("/start/state"));
        assert_eq!(ours.logfile.as_deref(), Some(Path::new("/start/log")));
        let vsock = settings("", &["-m", "vsock-listen", "-p", "3:1234"]);
        assert_eq!(vsock.path.as_deref(), Some(Path::new("3:1234")));
        let no_cwd = Environment { cwd: None, ..env() };
        let raw = RawSettings {
            logfile: Some("rel".into()),
            ..RawSettings::default()
        };
        assert!(matches!(
            Settings::from_raw(raw, &no_cwd),
            Err(SettingsError::CurrentDir)
        ));
    }

    #[test]
    fn the_environment_is_read_once_here() {
        let env = Environment {
            tzdir: Some("/zones".into()),
            os_release: Some("/my/os-release".into()),
            daemon_child: true,
            ..env()
        };
        let daemon = Settings::from_raw(
            RawSettings {
                daemon: true,
                ..RawSettings::default()
            },
            &env,
        )
        .unwrap();
        assert_eq!(daemon.agent.roots.zoneinfo, Path::new("/zones"));
        // What the environment sets is not the configuration's: -D leaves it
        // out.
        assert!(!daemon.dump().contains("[system-roots]"), "{}", daemon.dump());
        assert_eq!(
            daemon.agent.roots.os_release.as_deref(),
            Some(Path::new("/my/os-release"))
        );
        assert!(daemon.daemon_child);
        let foreground = Settings::from_raw(RawSettings::default(), &env).unwrap();
        assert!(!foreground.daemon_child, "the child marker counts only with -d");
    }

    #[test]
    fn actions() {
        let act = |list: &[&str]| resolve(&args(list), &env());
        assert!(matches!(act(&["-h"]), Ok(Action::Help(text)) if text.starts_with("Usage: qemu-ga")));
        assert!(matches!(act(&["-V"]), Ok(Action::Version(v)) if v == "QEMU Guest Agent 10.1.0"));
        assert!(matches!(act(&["-b", "help"]), Ok(Action::ListCommands)));
        assert!(matches!(act(&["-D"]), Ok(Action::Dump(_))));
        assert!(matches!(act(&["-m", "unix-listen"]), Ok(Action::Run(_))));
        assert!(matches!(act(&["-m", "bogus"]), Err(SettingsError::Method(_))));
        assert!(matches!(act(&["-x"]), Err(SettingsError::Usage(_))));
        // -c names a file that must exist.
        assert!(matches!(
            act(&["-c", "/nonexistent/c.conf"]),
            Err(SettingsError::Config(_))
        ));
        let both = act(&["-a", "guest-ping", "-b", "guest-info"]);
        let Ok(Action::Run(settings)) = both else {
            panic!("{both:?}")
        };
        assert_eq!(
            settings.policy().map_err(|e| e.to_string()),
            Err("--allow-rpcs and --block-rpcs cannot be used together".into())
        );
    }
}
