//! The commands an agent offers, built from its command table, and the
//! policy deciding which of them may run now.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use qga_protocol::schema::{GuestAgentCommandInfo, GuestAgentInfo};
use serde_json::{Map, Value};

use crate::args::ArgError;
use crate::error::QapiError;
use crate::freeze_state::FreezeState;
use crate::table::{CommandSpec, Flags, RowCheck};

/// What a handler produces: its result serialized as QEMU writes JSON.
pub type Outcome = Result<Vec<u8>, QapiError>;

/// A command's code, taking the raw `arguments` object (the registry is for
/// `guest-info`; other handlers never see it).
pub type Handler = Arc<dyn Fn(&Registry, Map<String, Value>) -> Outcome + Send + Sync>;

/// Code run on the channel thread to make work in progress end early.
pub type Hook = Arc<dyn Fn() + Send + Sync>;

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

/// Which commands the operator enabled: all, all but a block list
/// (`--block-rpcs`), or only an allow list (`--allow-rpcs`). Names the agent
/// does not have are accepted and ignored, as QEMU does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Policy {
    /// Every command is enabled.
    #[default]
    All,
    /// Every command but these.
    Block(BTreeSet<String>),
    /// Only these commands.
    AllowOnly(BTreeSet<String>),
}

/// Both a block list and an allow list were given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("--allow-rpcs and --block-rpcs cannot be used together")]
pub struct ConflictingLists;

impl Policy {
    /// The policy of the operator's block and allow lists (an empty list is
    /// no list).
    pub fn from_lists<S: AsRef<str>>(block: &[S], allow: &[S]) -> Result<Policy, ConflictingLists> {
        let set = |list: &[S]| list.iter().map(|s| s.as_ref().to_string()).collect();
        match (block.is_empty(), allow.is_empty()) {
            (true, true) => Ok(Policy::All),
            (false, true) => Ok(Policy::Block(set(block))),
            (true, false) => Ok(Policy::AllowOnly(set(allow))),
            (false, false) => Err(ConflictingLists),
        }
    }

    /// Why the operator disabled `name`, if they did.
    fn disabled(&self, name: &str) -> Option<Disabled> {
        match self {
            Policy::Block(blocked) if blocked.contains(name) => Some(Disabled::Blocked),
            Policy::AllowOnly(allowed) if !allowed.contains(name) => Some(Disabled::NotAllowed),
            _ => None,
        }
    }
}

/// One command of the registry, as its table row declared it.
pub struct Command {
    name: &'static str,
    flags: Flags,
    handler: Handler,
    check: RowCheck,
    cancel: Option<Hook>,
    urgent: Option<Hook>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Command")
            .field("name", &self.name)
            .field("flags", &self.flags)
            .field("cancel", &self.cancel.is_some())
            .field("urgent", &self.urgent.is_some())
            .finish_non_exhaustive()
    }
}

impl Command {
    /// The command's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// How it runs.
    pub fn flags(&self) -> Flags {
        self.flags
    }

    /// Whether a success is answered (false for shutdown and suspend).
    pub fn success_response(&self) -> bool {
        !self.flags.silent
    }

    /// Whether it finishes at once and so runs on the channel thread,
    /// without a deadline.
    pub fn is_instant(&self) -> bool {
        self.flags.instant
    }

    /// Whether it runs as long as it takes, outside the dispatcher's
    /// deadline.
    pub fn is_unbounded(&self) -> bool {
        self.flags.no_deadline
    }

    /// Whether it stays enabled while filesystems are frozen.
    pub fn allowed_while_frozen(&self) -> bool {
        self.flags.while_frozen
    }

    /// Whether its success reply is preceded by the 0xFF sentinel.
    pub fn delimited(&self) -> bool {
        self.flags.delimited
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

    /// Whether `arguments` decode into the command's argument type.
    pub fn accepts(&self, arguments: &Map<String, Value>) -> bool {
        self.decode_check(arguments).is_ok()
    }

    /// Decodes `arguments` as the command would, without running it: the
    /// error it would answer, if any.
    pub fn decode_check(&self, arguments: &Map<String, Value>) -> Result<(), ArgError> {
        (self.check)(arguments)
    }
}

/// The commands an agent offers and the policy deciding which may run.
///
/// Built once at start-up from the agent's command table, then shared; it
/// reads the agent's frozen state, which only the agent changes.
pub struct Registry {
    version: String,
    commands: Vec<Command>,
    index: HashMap<&'static str, usize>,
    policy: Policy,
    freeze: Arc<FreezeState>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("version", &self.version)
            .field("commands", &self.commands)
            .field("policy", &self.policy)
            .field("frozen", &self.is_frozen())
            .finish()
    }
}

impl Registry {
    /// The registry of the commands of `table`, whose handlers share
    /// `context`, for an agent reporting `version` in `guest-info`, frozen
    /// when `freeze` says so, with the operator's `policy`. A name listed
    /// twice keeps its first row.
    pub fn new<C: Send + Sync + 'static>(
        version: impl Into<String>,
        table: &[CommandSpec<C>],
        context: &Arc<C>,
        freeze: Arc<FreezeState>,
        policy: Policy,
    ) -> Self {
        let mut registry = Registry {
            version: version.into(),
            commands: Vec::with_capacity(table.len()),
            index: HashMap::with_capacity(table.len()),
            policy,
            freeze,
        };
        for spec in table {
            if registry.index.contains_key(spec.name) {
                continue;
            }
            let hook = |hook: Option<fn(&C)>| {
                hook.map(|hook| {
                    let context = Arc::clone(context);
                    Arc::new(move || hook(&context)) as Hook
                })
            };
            let (run, context_of_run) = (spec.handler, Arc::clone(context));
            registry.index.insert(spec.name, registry.commands.len());
            registry.commands.push(Command {
                name: spec.name,
                flags: spec.flags,
                handler: Arc::new(move |registry: &Registry, arguments| {
                    run(registry, &context_of_run, arguments)
                }),
                check: spec.check,
                cancel: hook(spec.cancel),
                urgent: hook(spec.urgent),
            });
        }
        registry
    }

    /// The version reported by `guest-info`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The operator's policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The frozen state the registry reads.
    pub fn freeze_state(&self) -> &Arc<FreezeState> {
        &self.freeze
    }

    /// Whether the agent is in the frozen state.
    pub fn is_frozen(&self) -> bool {
        self.freeze.is_frozen()
    }

    /// Looks a command up by name.
    pub fn get(&self, name: &str) -> Option<&Command> {
        self.index.get(name).map(|&at| &self.commands[at])
    }

    /// Every command, in table order.
    pub fn commands(&self) -> impl Iterator<Item = &Command> {
        self.commands.iter()
    }

    /// Why `command` may not run now, or `None` if it may.
    pub fn disabled(&self, command: &Command) -> Option<Disabled> {
        if self.is_frozen() && !command.allowed_while_frozen() {
            Some(Disabled::Frozen)
        } else {
            self.policy.disabled(command.name)
        }
    }

    /// The `guest-info` result: the version and every command's state,
    /// last row first (QEMU's agent lists its schema backwards).
    pub fn info(&self) -> GuestAgentInfo {
        GuestAgentInfo {
            version: self.version.clone(),
            supported_commands: self
                .commands
                .iter()
                .rev()
                .map(|c| GuestAgentCommandInfo {
                    name: c.name.to_string(),
                    enabled: self.disabled(c).is_none(),
                    success_response: c.success_response(),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_make_a_policy() {
        let none: [&str; 0] = [];
        assert_eq!(Policy::from_lists(&none, &none), Ok(Policy::All));
        assert_eq!(
            Policy::from_lists(&["a", "b"], &none),
            Ok(Policy::Block(["a".to_string(), "b".to_string()].into()))
        );
        let allow = Policy::from_lists(&none, &["guest-ping"]).unwrap_or_default();
        assert_eq!(allow.disabled("guest-ping"), None);
        assert_eq!(allow.disabled("guest-info"), Some(Disabled::NotAllowed));
        assert_eq!(
            Policy::from_lists(&["a"], &["b"]).map_err(|e| e.to_string()),
            Err("--allow-rpcs and --block-rpcs cannot be used together".to_string())
        );
    }
}
