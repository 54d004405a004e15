//! The guest operations of the QEMU Guest Agent, registered into a
//! [`qapi_core::Registry`].
//!
//! Each module serves a group of QGA commands and documents the system
//! interfaces it uses: [`files`] (`guest-file-*`), [`freeze`]
//! (`guest-fsfreeze-*`), [`shutdown`] (`guest-shutdown`). [`register_all`]
//! registers every command this agent offers, in the order of QEMU's
//! schema, so `guest-info` lists them as QEMU's agent does.
#![deny(unsafe_code)]

pub mod admin;
mod base64_glib;
mod c_string;
pub mod disks;
mod error;
pub mod exec;
pub mod files;
pub mod freeze;
pub mod hardware;
pub mod mounts;
pub mod run;
pub mod shutdown;
pub mod state;
pub mod statedir;
mod sys;
pub mod sysinfo;
#[cfg(feature = "test-utils")]
pub mod testing;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use qapi_core::Registry;
use qga_protocol::schema::{
    GuestFileHandleArgs, GuestFileOpenArgs, GuestFileReadArgs, GuestFileSeekArgs, GuestFileWriteArgs,
    GuestFsfreezeFreezeListArgs, GuestShutdownArgs, NoArgs,
};

pub use error::CommandError;

use crate::files::FileTable;
use crate::freeze::{Freezer, FreezerConfig};
use crate::shutdown::ShutdownMode;
use crate::state::{PersistentState, StateError};
use crate::statedir::StatedirHold;
use qapi_core::FrozenState;

/// The QEMU release whose guest agent protocol this agent implements,
/// reported by `guest-info` and `--version`.
pub const QEMU_COMPAT_VERSION: &str = "10.1.0";

/// Where the guest operations find the system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// State directory (`-t`): `qga.state`, `qga.state.isfrozen`.
    pub statedir: PathBuf,
    /// The fsfreeze hook (`-F`), if enabled.
    pub fsfreeze_hook: Option<PathBuf>,
    /// Where `shutdown`, `poweroff`, `halt` and `reboot` are (`/sbin`).
    pub sbin_dir: PathBuf,
    /// The mount table read for freezing (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// Longest the fsfreeze hook may run (`fsfreeze-hook-timeout`);
    /// `None` for no limit.
    pub fsfreeze_hook_timeout: Option<Duration>,
    /// How long after a freeze the agent thaws by itself if no thaw has
    /// come (`fsfreeze-timeout`); `None` for never.
    pub fsfreeze_timeout: Option<Duration>,
    /// Permissions of files `guest-file-open` creates (`file-create-mode`).
    pub file_create_mode: u32,
}

impl Default for AgentConfig {
    fn default() -> Self {
        AgentConfig {
            statedir: PathBuf::from("/var/run"),
            fsfreeze_hook: None,
            sbin_dir: PathBuf::from("/sbin"),
            mountinfo: PathBuf::from("/proc/self/mountinfo"),
            fsfreeze_hook_timeout: Some(freeze::DEFAULT_HOOK_TIMEOUT),
            fsfreeze_timeout: Some(freeze::DEFAULT_AUTO_THAW),
            file_create_mode: files::DEFAULT_CREATE_MODE,
        }
    }
}

/// The guest-side state the commands share.
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    files: FileTable,
    freezer: Freezer,
    /// This agent's hold on its state directory.
    statedir: Arc<StatedirHold>,
}

impl Agent {
    /// Loads the persistent state from the state directory and takes the
    /// directory for this agent (see [`Agent::owns_statedir`]). While an
    /// earlier agent's freeze is recorded there (`qga.state.isfrozen`; see
    /// [`Agent::is_frozen`]) nothing is written there.
    pub fn new(config: AgentConfig) -> Result<Agent, StateError> {
        let hold = Arc::new(StatedirHold::take(&config.statedir));
        let agent = Agent::with_state_writes(config, true, Arc::clone(&hold))?;
        let freezer = agent.freezer.clone();
        hold.take_over_later(agent.config.statedir.clone(), move || freezer.adopt_left_frozen());
        Ok(agent)
    }

    /// An agent that writes nothing at start-up and takes nothing (for
    /// listing commands).
    pub fn without_state_writes(config: AgentConfig) -> Result<Agent, StateError> {
        Agent::with_state_writes(config, false, Arc::new(StatedirHold::none()))
    }

    /// An agent; with `write`, a missing state file is written, unless an
    /// earlier agent's freeze is recorded (nothing is written while frozen).
    fn with_state_writes(
        config: AgentConfig,
        write: bool,
        statedir: Arc<StatedirHold>,
    ) -> Result<Agent, StateError> {
        let freezer = Freezer::new(
            FreezerConfig {
                hook: config.fsfreeze_hook.clone(),
                hook_timeout: config.fsfreeze_hook_timeout,
                auto_thaw: config.fsfreeze_timeout,
                mountinfo: config.mountinfo.clone(),
                statedir: config.statedir.clone(),
                adopt_left_frozen: !statedir.is_elsewhere(),
            },
            Arc::new(FrozenState::new(false)),
        );
        let write = write && !freezer.frozen_state().is_frozen();
        let state = Arc::new(PersistentState::load(&config.statedir, write)?);
        Ok(Agent {
            files: FileTable::new(state, config.file_create_mode),
            freezer,
            config,
            statedir,
        })
    }

    /// Whether this agent holds its state directory (see [`statedir`]). A
    /// second agent started on the same directory does not, until the first
    /// lets go: it serves, but leaves a freeze the first one recorded there
    /// to that one (no auto-thaw, no thaw on exit unless it froze
    /// filesystems itself).
    pub fn owns_statedir(&self) -> bool {
        !self.statedir.is_elsewhere()
    }

    /// Lets go of the state directory, for an agent on its way out (after
    /// [`freeze::Freezer::thaw_before_exit`]): the next agent may take it
    /// over at once, even while this process lingers.
    pub fn release_statedir(&self) {
        self.statedir.release();
    }

    /// Whether filesystems are frozen now (an earlier agent may have left
    /// them so).
    pub fn is_frozen(&self) -> bool {
        self.freezer.frozen_state().is_frozen()
    }

    /// The frozen state, for everything that must not write while
    /// filesystems are frozen (the registry, the logger, the pidfile).
    pub fn frozen_state(&self) -> Arc<FrozenState> {
        Arc::clone(self.freezer.frozen_state())
    }

    /// Where the operations find the system.
    pub fn config(&self) -> &AgentConfig {
        &self.config
    }

    /// The open file handles.
    pub fn files(&self) -> &FileTable {
        &self.files
    }

    /// The filesystem freezer.
    pub fn freezer(&self) -> &Freezer {
        &self.freezer
    }
}

/// Registers every command this agent offers.
pub fn register_all(registry: &mut Registry, agent: &Arc<Agent>) {
    qapi_core::register_sync_commands(registry);
    sysinfo::register_time(registry, agent);
    qapi_core::register_guest_info(registry);

    let sbin = agent.config.sbin_dir.clone();
    registry
        .register("guest-shutdown", move |args: GuestShutdownArgs| {
            shutdown::shutdown(&sbin, ShutdownMode::parse(args.mode.as_deref())?)
        })
        .no_success_response();

    // Each file command forwards its typed arguments to the file table.
    macro_rules! file_command {
        ($name:literal, $args:ty, $method:ident) => {{
            let a = Arc::clone(agent);
            registry.register($name, move |args: $args| a.files.$method(args));
        }};
    }
    file_command!("guest-file-open", GuestFileOpenArgs, open);
    file_command!("guest-file-close", GuestFileHandleArgs, close);
    file_command!("guest-file-read", GuestFileReadArgs, read);
    file_command!("guest-file-write", GuestFileWriteArgs, write);
    file_command!("guest-file-seek", GuestFileSeekArgs, seek);
    file_command!("guest-file-flush", GuestFileHandleArgs, flush);

    // Freezes and thaws run without the command deadline: their hook has
    // its own (fsfreeze-hook-timeout), a thaw stops a freeze at any point,
    // and a thaw abandoned half-way would be reported failed when it was
    // done. A thaw that arrives while a freeze runs preempts it.
    let freezer = agent.freezer.clone();
    registry
        .register("guest-fsfreeze-status", move |_: NoArgs| {
            Ok::<_, CommandError>(freezer.status())
        })
        .instant()
        .allow_while_frozen();
    let (freezer, canceller) = (agent.freezer.clone(), agent.freezer.clone());
    registry
        .register("guest-fsfreeze-freeze", move |_: NoArgs| freezer.freeze(None))
        .no_deadline()
        .cancel_with(move || canceller.cancel());
    let (freezer, canceller) = (agent.freezer.clone(), agent.freezer.clone());
    registry
        .register(
            "guest-fsfreeze-freeze-list",
            move |args: GuestFsfreezeFreezeListArgs| freezer.freeze(args.mountpoints.as_deref()),
        )
        .no_deadline()
        .cancel_with(move || canceller.cancel());
    let (freezer, canceller) = (agent.freezer.clone(), agent.freezer.clone());
    registry
        .register("guest-fsfreeze-thaw", move |_: NoArgs| freezer.thaw())
        .no_deadline()
        .allow_while_frozen()
        .urgent(move || canceller.cancel());

    admin::register_fstrim(registry, agent);
    admin::register_suspend(registry, agent);
    hardware::register_network_interfaces(registry, agent);
    hardware::register_vcpus(registry, agent);
    disks::register_disks(registry, agent);
    admin::register_user_password(registry, agent);
    hardware::register_memory_blocks(registry, agent);
    exec::register_exec(registry, agent);
    sysinfo::register_identity(registry, agent);
    admin::register_ssh_keys(registry, agent);
    sysinfo::register_stats(registry, agent);
    hardware::register_network_route(registry, agent);
    sysinfo::register_load(registry, agent);
}

/// A registry holding every command, reporting [`QEMU_COMPAT_VERSION`],
/// sharing the agent's frozen state.
pub fn full_registry(agent: &Arc<Agent>) -> Registry {
    let mut registry = Registry::with_frozen_state(QEMU_COMPAT_VERSION, agent.frozen_state());
    register_all(&mut registry, agent);
    registry
}
