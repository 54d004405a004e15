//! The agent: all the guest-side state its commands share, and how it
//! starts and stops.

use std::sync::Arc;

use qapi_core::{FreezeState, Policy, Registry};

use crate::config::{AgentConfig, SystemRoots};
use crate::exec::ExecTable;
use crate::file::FileTable;
use crate::fsfreeze::{Freezer, FreezerConfig};
use crate::state::{PersistentState, StateError};

/// Why an agent could not start.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The state directory is not there.
    #[error("state directory {0} does not exist")]
    NoStatedir(std::path::PathBuf),
    /// The state file could not be used.
    #[error("failed to load persistent state")]
    State(#[from] StateError),
}
use crate::statedir::StatedirHold;
use crate::table::COMMANDS;
use crate::QEMU_COMPAT_VERSION;

/// Everything the guest operations share: the configuration, the open file
/// handles, the processes `guest-exec` started, the freezer and the frozen
/// state, and the hold on the state directory.
#[derive(Debug)]
pub struct Agent {
    config: AgentConfig,
    freeze: Arc<FreezeState>,
    files: FileTable,
    exec: ExecTable,
    freezer: Freezer,
    /// This agent's hold on its state directory.
    statedir: Arc<StatedirHold>,
}

impl Agent {
    /// Loads the persistent state from the state directory and takes the
    /// directory for this agent (see [`Agent::owns_statedir`]). While an
    /// earlier agent's freeze is recorded there (`qga.state.isfrozen`; see
    /// [`Agent::is_frozen`]) nothing is written there.
    pub fn new(config: AgentConfig) -> Result<Arc<Agent>, AgentError> {
        let statedir = &config.roots.statedir;
        if !statedir.is_dir() {
            return Err(AgentError::NoStatedir(statedir.clone()));
        }
        let hold = Arc::new(StatedirHold::take(statedir));
        let freeze = Arc::new(FreezeState::new(false));
        let freezer = Freezer::new(
            FreezerConfig {
                hook: config.fsfreeze_hook.clone(),
                hook_timeout: config.fsfreeze_hook_timeout,
                auto_thaw: config.fsfreeze_timeout,
                mountinfo: config.roots.mountinfo(),
                statedir: statedir.clone(),
                adopt_left_frozen: !hold.is_elsewhere(),
            },
            Arc::clone(&freeze),
        );
        // Nothing is written while an earlier agent's freeze is recorded.
        let state = Arc::new(PersistentState::load(statedir, !freeze.is_frozen())?);
        let adopting = freezer.clone();
        hold.take_over_later(statedir.clone(), move || adopting.adopt_left_frozen());
        Ok(Arc::new(Agent {
            files: FileTable::new(state, config.file_create_mode),
            exec: ExecTable::new(),
            freezer,
            freeze,
            statedir: hold,
            config,
        }))
    }

    /// The registry of this agent's commands ([`COMMANDS`]), reporting
    /// [`QEMU_COMPAT_VERSION`] and the agent's frozen state, with the
    /// operator's `policy`.
    pub fn registry(self: &Arc<Self>, policy: Policy) -> Registry {
        Registry::new(
            QEMU_COMPAT_VERSION,
            COMMANDS,
            self,
            Arc::clone(&self.freeze),
            policy,
        )
    }

    /// What the agent does on its way out, however it stops: cancels a
    /// freeze in progress, thaws what it froze (or adopted) and runs the
    /// fsfreeze hook with `thaw` if it ran with `freeze` (see
    /// `fsfreeze`), then lets go of the state directory
    /// so the next agent may take it over at once, even while a thread of
    /// this one lingers in the kernel. Safe to call more than once.
    pub fn shutdown(&self) {
        self.freezer.thaw_before_exit();
        self.statedir.release();
    }

    /// A guard that calls [`Agent::shutdown`] when dropped: on the way out
    /// of whatever serves the agent, whether it returns or a panic unwinds
    /// through it. Unlike QEMU's agent, which ignores SIGTERM while frozen,
    /// an agent that is going away must not leave the guest's filesystems
    /// frozen.
    pub fn shutdown_on_drop(self: &Arc<Self>) -> ShutdownOnDrop {
        ShutdownOnDrop(Arc::clone(self))
    }

    /// Whether this agent holds its state directory. A second agent started
    /// on the same directory does not, until the first lets go: it serves,
    /// but leaves a freeze the first one recorded there to that one (no
    /// auto-thaw, no thaw on exit unless it froze filesystems itself).
    pub fn owns_statedir(&self) -> bool {
        !self.statedir.is_elsewhere()
    }

    /// Whether filesystems are frozen now (an earlier agent may have left
    /// them so).
    pub fn is_frozen(&self) -> bool {
        self.freeze.is_frozen()
    }

    /// The frozen state, for everything that must not write while
    /// filesystems are frozen (dispatch, the logger, the pidfile): they
    /// hold it and may defer work to the thaw
    /// ([`FreezeState::when_thawed`]).
    pub fn freeze_state(&self) -> &Arc<FreezeState> {
        &self.freeze
    }

    /// Where the system is.
    pub fn roots(&self) -> &SystemRoots {
        &self.config.roots
    }

    /// The open file handles.
    pub(crate) fn files(&self) -> &FileTable {
        &self.files
    }

    /// The processes `guest-exec` started.
    pub(crate) fn exec(&self) -> &ExecTable {
        &self.exec
    }

    /// The filesystem freezer.
    pub(crate) fn freezer(&self) -> &Freezer {
        &self.freezer
    }
}

/// Calls [`Agent::shutdown`] when dropped (see [`Agent::shutdown_on_drop`]).
#[derive(Debug)]
#[must_use = "the agent shuts down when this is dropped"]
pub struct ShutdownOnDrop(Arc<Agent>);

impl Drop for ShutdownOnDrop {
    fn drop(&mut self) {
        self.0.shutdown();
    }
}
