//! The table of commands an agent offers, and which of them may run now.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use qga_protocol::schema::{GuestAgentCommandInfo, GuestAgentInfo};
use qga_protocol::to_json;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::args::from_arguments;
use crate::error::QapiError;
use crate::frozen::FrozenState;

/// What a handler produces: its result serialized as QEMU writes JSON.
pub type Outcome = Result<Vec<u8>, QapiError>;

/// A command's code, taking the raw `arguments` object.
pub type Handler = Arc<dyn Fn(&Registry, Map<String, Value>) -> Outcome + Send + Sync>;

/// Code run on the channel thread to make work in progress end early.
pub type Hook = Arc<dyn Fn() + Send + Sync>;

/// Whether an `arguments` object is one a command accepts (decodes into
/// its argument type), without running it.
pub type ArgumentCheck = Arc<dyn Fn(&Map<String, Value>) -> bool + Send + Sync>;

/// Why a command may not run now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disabled {
    /// Blocked by the operator (`--block-rpcs`); QEMU gives no reason.
    Blocked,
    /// Left out of the operator's allow list (`--allow-rpcs`).
    NotAllowed,
    /// Filesystems are frozen and the command is not safe then.
    Frozen,
}

impl Disabled {
    /// The reason QEMU appends to "has been disabled", if any.
    pub fn reason(self) -> Option<&'static str> {
        match self {
            Disabled::Blocked => None,
            Disabled::NotAllowed => Some("the command is not allowed"),
            Disabled::Frozen => Some("the agent is in frozen state"),
        }
    }
}

/// One registered command.
pub struct Command {
    name: String,
    handler: Handler,
    success_response: bool,
    instant: bool,
    unbounded: bool,
    allowed_while_frozen: bool,
    delimited: bool,
    cancel: Option<Hook>,
    urgent: Option<Hook>,
    accepts: Option<ArgumentCheck>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("success_response", &self.success_response)
            .field("instant", &self.instant)
            .field("unbounded", &self.unbounded)
            .field("allowed_while_frozen", &self.allowed_while_frozen)
            .field("delimited", &self.delimited)
            .field("cancel", &self.cancel.is_some())
            .field("urgent", &self.urgent.is_some())
            .finish()
    }
}

impl Command {
    /// The command's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a success is answered (false for shutdown and suspend).
    pub fn success_response(&self) -> bool {
        self.success_response
    }

    /// Whether it finishes at once and so runs on the channel thread,
    /// without a deadline.
    pub fn is_instant(&self) -> bool {
        self.instant
    }

    /// Whether it runs as long as it takes, outside the dispatcher's
    /// deadline.
    pub fn is_unbounded(&self) -> bool {
        self.unbounded
    }

    /// Whether it stays enabled while filesystems are frozen.
    pub fn allowed_while_frozen(&self) -> bool {
        self.allowed_while_frozen
    }

    /// Whether its success reply is preceded by the 0xFF sentinel.
    pub fn delimited(&self) -> bool {
        self.delimited
    }

    /// The command's code.
    pub fn handler(&self) -> &Handler {
        &self.handler
    }

    /// How to make a run of this command end early, if it can.
    pub fn cancel_hook(&self) -> Option<&Hook> {
        self.cancel.as_ref()
    }

    /// What to do at once when a request for this command arrives while
    /// an earlier command still runs, if anything.
    pub fn urgent_hook(&self) -> Option<&Hook> {
        self.urgent.as_ref()
    }

    /// Whether `arguments` decode into the command's argument type (true
    /// for a command registered with raw arguments).
    pub fn accepts(&self, arguments: &Map<String, Value>) -> bool {
        self.accepts.as_ref().is_none_or(|check| check(arguments))
    }

    /// Marks the command as finishing at once: it runs on the channel thread.
    pub fn instant(&mut self) -> &mut Self {
        self.instant = true;
        self
    }

    /// Exempts the command from the dispatcher's deadline, for work that
    /// is long by nature and better finished than abandoned (a trim of a
    /// large filesystem): the host waits for it, as with QEMU's agent.
    pub fn no_deadline(&mut self) -> &mut Self {
        self.unbounded = true;
        self
    }

    /// Marks the command as silent on success.
    pub fn no_success_response(&mut self) -> &mut Self {
        self.success_response = false;
        self
    }

    /// Keeps the command enabled while filesystems are frozen.
    pub fn allow_while_frozen(&mut self) -> &mut Self {
        self.allowed_while_frozen = true;
        self
    }

    /// Precedes the command's success reply with 0xFF.
    pub fn delimit_response(&mut self) -> &mut Self {
        self.delimited = true;
        self
    }

    /// Says how to make a run of this command end early: `cancel` is
    /// called when the dispatcher gives up waiting for it (its deadline
    /// passed, or the agent is stopping). The run should then undo what it
    /// did and return soon.
    pub fn cancel_with(&mut self, cancel: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.cancel = Some(Arc::new(cancel));
        self
    }

    /// Marks the command urgent: when a request for it is read while an
    /// earlier command still runs, `hook` is called at once on the channel
    /// thread (to cut that work short); the request itself then waits its
    /// turn as usual. `guest-fsfreeze-thaw` uses it to stop a freeze in
    /// progress.
    pub fn urgent(&mut self, hook: impl Fn() + Send + Sync + 'static) -> &mut Self {
        self.urgent = Some(Arc::new(hook));
        self
    }
}

/// The commands an agent offers and the policy deciding which may run.
///
/// Built once at start-up (register, then apply allow/block lists), then
/// shared; only the frozen flag changes afterwards.
pub struct Registry {
    version: String,
    commands: Vec<Command>,
    index: HashMap<String, usize>,
    blocked: HashSet<String>,
    allowed: Option<HashSet<String>>,
    frozen: Arc<FrozenState>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("version", &self.version)
            .field("commands", &self.commands)
            .field("blocked", &self.blocked)
            .field("allowed", &self.allowed)
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

impl Registry {
    /// An empty registry for an agent reporting `version` in `guest-info`.
    pub fn new(version: impl Into<String>) -> Self {
        Registry::with_frozen_state(version, Arc::new(FrozenState::new(false)))
    }

    /// An empty registry whose frozen state is `frozen`, owned by the code
    /// that freezes filesystems.
    pub fn with_frozen_state(version: impl Into<String>, frozen: Arc<FrozenState>) -> Self {
        Registry {
            version: version.into(),
            commands: Vec::new(),
            index: HashMap::new(),
            blocked: HashSet::new(),
            allowed: None,
            frozen,
        }
    }

    /// The version reported by `guest-info`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Registers a command taking the raw arguments object. A second
    /// registration of a name replaces the first.
    pub fn register_raw(&mut self, name: &str, handler: Handler) -> &mut Command {
        let command = Command {
            name: name.to_string(),
            handler,
            success_response: true,
            instant: false,
            unbounded: false,
            allowed_while_frozen: false,
            delimited: false,
            cancel: None,
            urgent: None,
            accepts: None,
        };
        let at = match self.index.get(name) {
            Some(&at) => {
                self.commands[at] = command;
                at
            }
            None => {
                self.commands.push(command);
                self.index.insert(name.to_string(), self.commands.len() - 1);
                self.commands.len() - 1
            }
        };
        &mut self.commands[at]
    }

    /// Registers a command with typed arguments and result.
    pub fn register<A, R, E, F>(&mut self, name: &str, handler: F) -> &mut Command
    where
        A: DeserializeOwned,
        R: Serialize,
        E: Into<QapiError>,
        F: Fn(A) -> Result<R, E> + Send + Sync + 'static,
    {
        self.register_with_registry(name, move |_: &Registry, args: A| handler(args))
    }

    /// Registers a command that also reads the registry (as `guest-info` does).
    pub fn register_with_registry<A, R, E, F>(&mut self, name: &str, handler: F) -> &mut Command
    where
        A: DeserializeOwned,
        R: Serialize,
        E: Into<QapiError>,
        F: Fn(&Registry, A) -> Result<R, E> + Send + Sync + 'static,
    {
        let handler: Handler = Arc::new(move |registry: &Registry, arguments| {
            let args: A = from_arguments(arguments)?;
            let result = handler(registry, args).map_err(Into::into)?;
            to_json(&result).map_err(|e| QapiError::generic(format!("failed to encode the result: {e}")))
        });
        let name = name.to_string();
        let command = self.register_raw(&name, handler);
        command.accepts = Some(Arc::new(|arguments: &Map<String, Value>| {
            from_arguments::<A>(arguments.clone()).is_ok()
        }));
        command
    }

    /// Disables the named commands (`--block-rpcs`). Unknown names are
    /// accepted and ignored, as QEMU does.
    pub fn block<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) {
        self.blocked
            .extend(names.into_iter().map(|s| s.as_ref().to_string()));
    }

    /// Disables every command not named (`--allow-rpcs`).
    pub fn allow_only<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) {
        self.allowed
            .get_or_insert_with(HashSet::new)
            .extend(names.into_iter().map(|s| s.as_ref().to_string()));
    }

    /// Enters or leaves the frozen state, in which only commands marked
    /// [`Command::allow_while_frozen`] run. For tests and for embedders
    /// without a freezer: an agent's freezer keeps the shared state itself
    /// (with its marker file and auto-thaw), and nothing else should set it.
    pub fn set_frozen(&self, frozen: bool) {
        self.frozen.set(frozen);
    }

    /// The frozen state, shared with code that must not write while
    /// filesystems are frozen (the logger, the pidfile).
    pub fn frozen_state(&self) -> Arc<FrozenState> {
        Arc::clone(&self.frozen)
    }

    /// Whether the registry is in the frozen state.
    pub fn is_frozen(&self) -> bool {
        self.frozen.is_frozen()
    }

    /// Looks a command up by name.
    pub fn get(&self, name: &str) -> Option<&Command> {
        self.index.get(name).map(|&at| &self.commands[at])
    }

    /// Every command, in registration order.
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter()
    }

    /// Why `command` may not run now, or `None` if it may.
    pub fn disabled(&self, command: &Command) -> Option<Disabled> {
        if self.is_frozen() && !command.allowed_while_frozen {
            Some(Disabled::Frozen)
        } else if self.blocked.contains(&command.name) {
            Some(Disabled::Blocked)
        } else if self.allowed.as_ref().is_some_and(|a| !a.contains(&command.name)) {
            Some(Disabled::NotAllowed)
        } else {
            None
        }
    }

    /// The `guest-info` result: the version and every command's state,
    /// newest registration first (QEMU's agent lists its schema backwards).
    pub fn info(&self) -> GuestAgentInfo {
        GuestAgentInfo {
            version: self.version.clone(),
            supported_commands: self
                .commands
                .iter()
                .rev()
                .map(|c| GuestAgentCommandInfo {
                    name: c.name.clone(),
                    enabled: self.disabled(c).is_none(),
                    success_response: c.success_response,
                })
                .collect(),
        }
    }
}
