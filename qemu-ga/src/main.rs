//! `qemu-ga`: the guest agent binary. Only wiring: the command line, the
//! pidfile, logging, signals and daemonizing; everything else is in the
//! library crates.
#![forbid(unsafe_code)]

mod cli;
mod config;
mod daemon;
mod logging;
mod pidfile;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context};
use qapi_core::{DispatchConfig, Dispatcher, Registry, Session};
use qga_commands::{full_registry, Agent, AgentConfig, QEMU_COMPAT_VERSION};
use qga_transport::{run_channel, ActivatedSocket, Channel, ChannelConfig, Method, StopSignal};

use crate::cli::{Cli, DEFAULT_COMMAND_TIMEOUT, DEFAULT_PIDFILE, DEFAULT_STATEDIR};
use crate::config::Config;
use crate::pidfile::PidfileSlot;

fn main() -> ExitCode {
    // Before any thread or child: no inherited descriptor reaches a child.
    if let Err(e) = qga_commands::run::cloexec_inherited_fds() {
        eprintln!("qemu-ga: cannot mark inherited descriptors close-on-exec: {e}");
    }
    let cli = match Cli::parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(e) => return usage_error(&e),
    };
    if cli.help {
        print!("{}", cli::help_text("qemu-ga", QEMU_COMPAT_VERSION));
        return ExitCode::SUCCESS;
    }
    if cli.version {
        println!("QEMU Guest Agent {QEMU_COMPAT_VERSION}");
        return ExitCode::SUCCESS;
    }
    let mut config = match Config::load(&cli) {
        Ok(config) => config,
        Err(e) => return fail(&e.into()),
    };
    config.apply(&cli);
    config.fill_defaults(|m| m.parse::<Method>().ok().and_then(Method::default_path));
    if cli.dump_conf {
        print!("{}", config.dump());
        return ExitCode::SUCCESS;
    }
    if config
        .block_rpcs
        .iter()
        .chain(&config.allow_rpcs)
        .any(|c| c == "help")
    {
        let agent = match Agent::without_state_writes(AgentConfig::default()) {
            Ok(agent) => Arc::new(agent),
            Err(e) => return fail(&e.into()),
        };
        for command in full_registry(&agent).commands() {
            println!("{}", command.name());
        }
        return ExitCode::SUCCESS;
    }
    let daemon_child = config.daemon && daemon::is_child();
    if config.daemon && !daemon_child {
        return daemon::spawn_and_wait().unwrap_or_else(|e| fail(&e));
    }
    match run(&config, cli.command_timeout, daemon_child) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if daemon_child => {
            daemon::report_failure(&e);
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("qemu-ga: {error:#}");
    ExitCode::FAILURE
}

/// Bad options, reported as QEMU's qemu-ga reports them: getopt's line on
/// standard error, QEMU's hint on standard output, exit status 1.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    let argv0 = std::env::args().next().unwrap_or_else(|| "qemu-ga".into());
    let arg = match error.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(arg)) => arg.split(['=', ' ']).next().unwrap_or_default().to_string(),
        _ => String::new(),
    };
    let complaint = match (error.kind(), arg.strip_prefix("--"), arg.strip_prefix('-')) {
        (ErrorKind::UnknownArgument, Some(long), _) => format!("unrecognized option '--{long}'"),
        (ErrorKind::UnknownArgument, None, Some(short)) => format!("invalid option -- '{short}'"),
        (ErrorKind::InvalidValue, _, _) if error.to_string().contains("value is required") => {
            // The option missing its value is the last argument, as given.
            let last = std::env::args().next_back().unwrap_or_default();
            match last.strip_prefix("--") {
                Some(long) => format!("option '--{long}' requires an argument"),
                None => format!(
                    "option requires an argument -- '{}'",
                    last.chars().last().unwrap_or('?')
                ),
            }
        }
        _ => {
            let text = error.to_string();
            let first = text
                .lines()
                .next()
                .unwrap_or("invalid arguments")
                .trim_start_matches("error: ");
            eprintln!("qemu-ga: {first}");
            return ExitCode::FAILURE;
        }
    };
    eprintln!("qemu-ga: {complaint}");
    println!("Unknown option, try '{argv0} --help' for more information.");
    ExitCode::FAILURE
}

/// `path` made absolute against the starting directory, since a daemon
/// changes to `/`.
fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()
            .context("cannot read the current directory")?
            .join(path))
    }
}

fn build_registry(config: &Config, agent: &Arc<Agent>) -> anyhow::Result<Registry> {
    let mut registry = full_registry(agent);
    let (blocked, allowed) = (&config.block_rpcs, &config.allow_rpcs);
    if !blocked.is_empty() && !allowed.is_empty() {
        bail!("--allow-rpcs and --block-rpcs cannot be used together");
    }
    registry.block(blocked);
    if !allowed.is_empty() {
        registry.allow_only(allowed);
    }
    Ok(registry)
}

fn register_signals(stop: &StopSignal) -> anyhow::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    for signal in [SIGINT, SIGTERM] {
        signal_hook::flag::register(signal, Arc::clone(stop.flag())).context("cannot handle signals")?;
        let wake = stop
            .wake_fd()
            .try_clone_to_owned()
            .context("cannot handle signals")?;
        signal_hook::low_level::pipe::register(signal, wake).context("cannot handle signals")?;
    }
    Ok(())
}

/// Thaws what the agent froze when dropped: on the way out of [`run`],
/// whether it returns or a panic unwinds through it. Unlike QEMU's agent,
/// which ignores SIGTERM while frozen, an agent that is going away must not
/// leave the guest's filesystems frozen.
#[must_use = "the thaw happens when this is dropped"]
struct ThawOnExit(Arc<Agent>);

impl Drop for ThawOnExit {
    fn drop(&mut self) {
        self.0.freezer().thaw_before_exit();
        // The next agent may take the state directory over now, even if a
        // thread of this one lingers in the kernel.
        self.0.release_statedir();
    }
}

fn run(config: &Config, command_timeout: Option<u64>, daemon_child: bool) -> anyhow::Result<()> {
    if daemon_child {
        daemon::detach()?;
    }
    // Socket activation (systemd) overrides the method and path.
    let activated = ActivatedSocket::from_environment()?;
    let method: Method = match &activated {
        Some(socket) => socket.method(),
        None => config.method.as_deref().unwrap_or("virtio-serial").parse()?,
    };
    let path = if activated.is_some() {
        Some(PathBuf::from("socket-activation"))
    } else {
        config.path.clone()
    };
    let Some(path) = path.or_else(|| method.default_path().map(PathBuf::from)) else {
        bail!("must specify a path for this channel");
    };
    // A vsock address is not a path.
    let path = if method == Method::VsockListen {
        path
    } else {
        absolute(&path)?
    };
    let channel_config = ChannelConfig {
        method,
        path: path.clone(),
        retry: config.retry_path,
        vsock_peers: config.vsock_allow_cids.clone().unwrap_or_default(),
    };
    let statedir = absolute(config.statedir.as_deref().unwrap_or(Path::new(DEFAULT_STATEDIR)))?;
    if !statedir.is_dir() {
        bail!("state directory {} does not exist", statedir.display());
    }
    let logfile = config.logfile.as_deref().map(absolute).transpose()?;
    let agent_config = AgentConfig {
        statedir,
        fsfreeze_hook: config.fsfreeze_hook.as_deref().map(absolute).transpose()?,
        // Test hooks, as QEMU's own QGA_OS_RELEASE: where the shutdown
        // programs are, and which mount table freezing reads.
        sbin_dir: std::env::var_os("QGA_SBIN_DIR").map_or_else(|| PathBuf::from("/sbin"), PathBuf::from),
        mountinfo: std::env::var_os("QGA_MOUNTINFO")
            .map_or_else(|| PathBuf::from("/proc/self/mountinfo"), PathBuf::from),
        ..AgentConfig::default()
    };
    let seconds = |secs: u64| (secs > 0).then(|| Duration::from_secs(secs));
    let agent_config = AgentConfig {
        fsfreeze_hook_timeout: config
            .fsfreeze_hook_timeout
            .map_or(agent_config.fsfreeze_hook_timeout, seconds),
        fsfreeze_timeout: config
            .fsfreeze_timeout
            .map_or(agent_config.fsfreeze_timeout, seconds),
        file_create_mode: config.file_create_mode.unwrap_or(agent_config.file_create_mode),
        ..agent_config
    };
    let agent = Arc::new(Agent::new(agent_config).context("failed to load persistent state")?);
    let registry = Arc::new(build_registry(config, &agent)?);
    let reopen_log = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reopen_log))
        .context("cannot handle signals")?;
    logging::init(
        config.verbose,
        logfile.as_deref(),
        registry.frozen_state(),
        reopen_log,
    )?;
    if registry.is_frozen() {
        eprintln!("qemu-ga: filesystems were left frozen; starting in the frozen state");
    }
    let stop = StopSignal::new().context("cannot create the stop pipe")?;
    register_signals(&stop)?;

    let _pidfile = if daemon_child {
        let pidfile = absolute(config.pidfile.as_deref().unwrap_or(Path::new(DEFAULT_PIDFILE)))?;
        Some(PidfileSlot::acquire_when_thawed(
            pidfile,
            registry.frozen_state(),
        )?)
    } else {
        None
    };
    let mut channel = Some(match activated {
        Some(socket) => Channel::Activated(socket.with_vsock_peers(channel_config.vsock_peers.clone())),
        None => match Channel::open_retrying(&channel_config, &stop)? {
            Some(channel) => channel,
            None => return Ok(()),
        },
    });
    if daemon_child {
        daemon::report_ready()?;
    }
    if !agent.owns_statedir() {
        let notice = format!(
            "another agent holds the state directory {}: a freeze it recorded there is left to it",
            agent.config().statedir.display()
        );
        // Logging is off while frozen: say it where start-up errors go.
        if registry.is_frozen() {
            eprintln!("qemu-ga: {notice}");
        } else {
            log::warn!("{notice}");
        }
    }
    log::info!("serving on {} ({method})", path.display());
    // From here on this agent serves: however it stops (an error, a signal,
    // a panic unwinding), what it froze is thawed, and that happens before
    // the channel and the pidfile are removed (either may be on a frozen
    // filesystem). Declared after them, it is dropped before them.
    let thaw_on_exit = ThawOnExit(Arc::clone(&agent));

    let deadline = match command_timeout.unwrap_or(DEFAULT_COMMAND_TIMEOUT) {
        0 => None,
        secs => Some(Duration::from_secs(secs)),
    };
    let dispatcher = Dispatcher::new(Arc::clone(&registry), DispatchConfig { deadline });
    let mut session = Session::new(dispatcher);
    let served =
        run_channel(&channel_config, &mut channel, &mut session, &stop).context("serving the channel failed");
    drop(thaw_on_exit);
    log::info!("stopping");
    drop(channel);
    served
}
