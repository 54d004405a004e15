//! `qemu-ga`: the guest agent binary. Only wiring: the settings (from the
//! `qemu_ga` library) go to the agent, its registry, the channel, logging,
//! the pidfile, signals and daemonizing.
#![forbid(unsafe_code)]

mod daemon;
mod logging;
mod pidfile;

use std::ffi::OsString;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use anyhow::Context;
use qapi_core::{Dispatcher, Session};
use qemu_ga::settings::{self, Action, Environment, Settings, SettingsError};
use qga_commands::{Agent, COMMANDS};
use qga_transport::{run_channel, ActivatedSocket, Channel, StopSignal};

use crate::pidfile::PidfileSlot;

fn main() -> ExitCode {
    // Before any thread or child: no inherited descriptor reaches a child.
    if let Err(e) = qga_sys::process::cloexec_inherited_fds() {
        eprintln!("qemu-ga: cannot mark inherited descriptors close-on-exec: {e}");
    }
    let args: Vec<OsString> = std::env::args_os().collect();
    match settings::resolve(&args, &Environment::of_process()) {
        Err(SettingsError::Usage(usage)) => {
            // Bad options, reported as QEMU's qemu-ga reports them.
            eprintln!("{}", usage.line);
            if let Some(hint) = usage.hint {
                println!("{hint}");
            }
            ExitCode::FAILURE
        }
        Err(e) => fail(&e.into()),
        Ok(Action::Help(text)) => {
            print!("{text}");
            ExitCode::SUCCESS
        }
        Ok(Action::Version(line)) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Ok(Action::Dump(settings)) => {
            print!("{}", settings.dump());
            ExitCode::SUCCESS
        }
        Ok(Action::ListCommands) => {
            for command in COMMANDS {
                println!("{}", command.name);
            }
            ExitCode::SUCCESS
        }
        Ok(Action::Run(settings)) => start(&settings),
    }
}

fn fail(error: &anyhow::Error) -> ExitCode {
    eprintln!("qemu-ga: {error:#}");
    ExitCode::FAILURE
}

/// Serves in the foreground, or as the daemon's child, or starts the
/// daemon and waits for its verdict.
fn start(settings: &Settings) -> ExitCode {
    if settings.daemonize && !settings.daemon_child {
        return daemon::spawn_and_wait().unwrap_or_else(|e| fail(&e));
    }
    match run(settings) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if settings.daemon_child => {
            daemon::report_failure(&e);
            log::error!("{e:#}");
            ExitCode::FAILURE
        }
        Err(e) => fail(&e),
    }
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

fn run(settings: &Settings) -> anyhow::Result<()> {
    if settings.daemon_child {
        daemon::detach()?;
    }
    // Socket activation (systemd) overrides the method and path.
    let activated = ActivatedSocket::from_environment()?;
    let channel_config = settings.channel(activated.as_ref())?;
    let agent = Agent::new(settings.agent.clone())?;
    let registry = Arc::new(agent.registry(settings.policy()?));
    let reopen_log = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGHUP, Arc::clone(&reopen_log))
        .context("cannot handle signals")?;
    logging::init(
        settings.verbose,
        settings.logfile.as_deref(),
        Arc::clone(agent.freeze_state()),
        reopen_log,
    )?;
    if agent.is_frozen() {
        eprintln!("qemu-ga: filesystems were left frozen; starting in the frozen state");
    }
    let stop = StopSignal::new().context("cannot create the stop pipe")?;
    register_signals(&stop)?;

    let pidfile = if settings.daemon_child {
        Some(PidfileSlot::acquire_when_thawed(
            settings.pidfile.clone(),
            agent.freeze_state(),
        )?)
    } else {
        None
    };
    let Some(channel) = Channel::open_for(&channel_config, activated, &stop)? else {
        return Ok(());
    };
    let mut channel = Some(channel);
    if settings.daemon_child {
        daemon::report_ready()?;
    }
    if !agent.owns_statedir() {
        let notice = format!(
            "another agent holds the state directory {}: a freeze it recorded there is left to it",
            agent.roots().statedir.display()
        );
        // Logging is off while frozen: say it where start-up errors go.
        if agent.is_frozen() {
            eprintln!("qemu-ga: {notice}");
        } else {
            log::warn!("{notice}");
        }
    }
    log::info!(
        "serving on {} ({})",
        channel_config.path.display(),
        channel_config.method
    );
    // From here on this agent serves: however it stops (an error, a signal,
    // a panic unwinding), what it froze is thawed, and that happens before
    // the channel and the pidfile are removed (either may be on a frozen
    // filesystem). Declared after them, it is dropped before them.
    let shutdown = agent.shutdown_on_drop();
    let dispatcher = Dispatcher::new(Arc::clone(&registry), settings.dispatch.clone());
    let mut session = Session::new(dispatcher);
    let served =
        run_channel(&channel_config, &mut channel, &mut session, &stop).context("serving the channel failed");
    // A pidfile still waiting for a thaw is not written by the thaw on the
    // way out.
    if let Some(pidfile) = &pidfile {
        pidfile.cancel_pending();
    }
    drop(shutdown);
    log::info!("stopping");
    drop(channel);
    served
}
