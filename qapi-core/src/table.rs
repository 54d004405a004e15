//! The declarative form of an agent's commands: one row per command, in
//! schema order (`guest-info` lists them last row first), each naming the
//! command, its argument and result types, its handler and its flags. The
//! [`Registry`] is built from such a table; nothing else declares a
//! command.
//!
//! ```
//! use std::sync::Arc;
//! use qapi_core::{command_table, CommandSpec, FreezeState, Policy, QapiError, Registry};
//! use qga_protocol::schema::{Empty, GuestAgentInfo, GuestSyncArgs, NoArgs};
//!
//! /// What the handlers share.
//! struct Counter(std::sync::atomic::AtomicU64);
//!
//! fn bump(counter: &Counter, _: NoArgs) -> Result<u64, QapiError> {
//!     Ok(counter.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst))
//! }
//!
//! static COMMANDS: &[CommandSpec<Counter>] = command_table! {
//!     Counter;
//!     "guest-sync" => qapi_core::sync(GuestSyncArgs) -> i64 [instant, while_frozen];
//!     "guest-info" => @registry qapi_core::info(NoArgs) -> GuestAgentInfo [instant, while_frozen];
//!     "x-bump" => bump(NoArgs) -> u64;
//! };
//!
//! let counter = Arc::new(Counter(0.into()));
//! let freeze = Arc::new(FreezeState::new(false));
//! let registry = Registry::new("1.0", COMMANDS, &counter, freeze, Policy::default());
//! assert_eq!(registry.commands().map(|c| c.name()).collect::<Vec<_>>(), ["guest-sync", "guest-info", "x-bump"]);
//! ```

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::args::{from_arguments, ArgError};
use crate::error::QapiError;
use crate::registry::{Outcome, Registry};

/// A row's handler, as the table macro builds it: the registry is passed
/// on only to handlers declared `@registry` (`guest-info`).
pub type RowHandler<C> = fn(&Registry, &C, Map<String, Value>) -> Outcome;

/// A row's argument check: whether an `arguments` object decodes into the
/// command's argument type, without running it.
pub type RowCheck = fn(&Map<String, Value>) -> Result<(), ArgError>;

/// How a command runs, beyond its handler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Flags {
    /// It finishes at once: it runs on the channel thread, without a
    /// deadline.
    pub instant: bool,
    /// It runs as long as it takes, outside the dispatcher's deadline: work
    /// that is long by nature and better finished than abandoned (a trim of
    /// a large filesystem, a freeze).
    pub no_deadline: bool,
    /// It stays enabled while filesystems are frozen.
    pub while_frozen: bool,
    /// A success is not answered (shutdown, suspend).
    pub silent: bool,
    /// Its success reply is preceded by the 0xFF sentinel.
    pub delimited: bool,
}

/// One row of a command table, for commands sharing a context `C`.
pub struct CommandSpec<C: 'static> {
    /// The command's name.
    pub name: &'static str,
    /// Decodes the arguments, runs the handler and encodes its result.
    pub handler: RowHandler<C>,
    /// Checks arguments without running the command.
    pub check: RowCheck,
    /// How it runs.
    pub flags: Flags,
    /// Called when the dispatcher gives up waiting for a run (its deadline
    /// passed, or the agent is stopping), to make it end early: the run
    /// should undo what it did and return soon.
    pub cancel: Option<fn(&C)>,
    /// Called at once, on the channel thread, when a request for this
    /// command arrives while an earlier command still runs (to cut that
    /// work short); the request itself then waits its turn.
    /// `guest-fsfreeze-thaw` uses it to stop a freeze in progress.
    pub urgent: Option<fn(&C)>,
}

impl<C> std::fmt::Debug for CommandSpec<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CommandSpec")
            .field("name", &self.name)
            .field("flags", &self.flags)
            .field("cancel", &self.cancel.is_some())
            .field("urgent", &self.urgent.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> CommandSpec<C> {
    /// A row with no flags (what the table macro starts from).
    pub const fn new(name: &'static str, handler: RowHandler<C>, check: RowCheck) -> Self {
        CommandSpec {
            name,
            handler,
            check,
            flags: Flags {
                instant: false,
                no_deadline: false,
                while_frozen: false,
                silent: false,
                delimited: false,
            },
            cancel: None,
            urgent: None,
        }
    }

    /// See [`Flags::instant`].
    pub const fn instant(mut self) -> Self {
        self.flags.instant = true;
        self
    }

    /// See [`Flags::no_deadline`].
    pub const fn no_deadline(mut self) -> Self {
        self.flags.no_deadline = true;
        self
    }

    /// See [`Flags::while_frozen`].
    pub const fn while_frozen(mut self) -> Self {
        self.flags.while_frozen = true;
        self
    }

    /// See [`Flags::silent`].
    pub const fn silent(mut self) -> Self {
        self.flags.silent = true;
        self
    }

    /// See [`Flags::delimited`].
    pub const fn delimited(mut self) -> Self {
        self.flags.delimited = true;
        self
    }

    /// See [`CommandSpec::cancel`].
    pub const fn cancel(mut self, hook: fn(&C)) -> Self {
        self.cancel = Some(hook);
        self
    }

    /// See [`CommandSpec::urgent`].
    pub const fn urgent(mut self, hook: fn(&C)) -> Self {
        self.urgent = Some(hook);
        self
    }
}

/// Decodes `arguments` into `A`, runs `handler` and encodes its result as
/// QEMU writes JSON (for the table macro).
#[doc(hidden)]
pub fn call<A, R, E>(arguments: Map<String, Value>, handler: impl FnOnce(A) -> Result<R, E>) -> Outcome
where
    A: DeserializeOwned,
    R: Serialize,
    E: Into<QapiError>,
{
    let args: A = from_arguments(arguments)?;
    let result = handler(args).map_err(Into::into)?;
    qga_protocol::to_json(&result)
        .map_err(|e| QapiError::generic(format!("failed to encode the result: {e}")))
}

/// Whether `arguments` decode into `A` (for the table macro).
#[doc(hidden)]
pub fn check<A: DeserializeOwned>(arguments: &Map<String, Value>) -> Result<(), ArgError> {
    from_arguments::<A>(arguments.clone()).map(drop)
}

/// Builds a command table: a `&[CommandSpec<C>]` for the context type `C`
/// named first, one row per command, in schema order (`guest-info` lists
/// them last row first, as QEMU's agent lists its schema):
///
/// ```text
/// "guest-file-open" => file::open(GuestFileOpenArgs) -> i64;
/// "guest-fsfreeze-thaw" => fsfreeze::thaw(NoArgs) -> i64 [no_deadline, while_frozen, urgent(fsfreeze::cancel)];
/// "guest-info" => @registry qapi_core::info(NoArgs) -> GuestAgentInfo [instant, while_frozen];
/// ```
///
/// A handler is a function `fn(&C, Args) -> Result<Result, E>` with `E:
/// Into<QapiError>`; one marked `@registry` takes the [`Registry`] in place
/// of the context. The flags are [`CommandSpec`]'s builder methods:
/// `instant`, `no_deadline`, `while_frozen`, `silent`, `delimited`,
/// `cancel(hook)` and `urgent(hook)`, hooks being `fn(&C)`.
#[macro_export]
macro_rules! command_table {
    (
        $ctx:ty;
        $(
            $name:literal => $(@$kind:ident)? $($handler:ident)::+ ($args:ty) -> $result:ty
                $([ $($flag:ident $(($hook:path))?),* $(,)? ])?;
        )*
    ) => {
        &[$(
            $crate::CommandSpec::<$ctx>::new(
                $name,
                $crate::__command_handler!([$($kind)?] $ctx, $args, $result, $($handler)::+),
                $crate::check::<$args>,
            )
            $($(.$flag($($hook)?))*)?
        ),*]
    };
}

/// The handler closure of one row of [`command_table!`].
#[doc(hidden)]
#[macro_export]
macro_rules! __command_handler {
    ([] $ctx:ty, $args:ty, $result:ty, $handler:path) => {
        |_: &$crate::Registry, context: &$ctx, arguments| {
            $crate::call::<$args, $result, _>(arguments, |args| $handler(context, args))
        }
    };
    ([registry] $ctx:ty, $args:ty, $result:ty, $handler:path) => {
        |registry: &$crate::Registry, _: &$ctx, arguments| {
            $crate::call::<$args, $result, _>(arguments, |args| $handler(registry, args))
        }
    };
}
