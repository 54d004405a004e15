//! From one request to its reply: checks, policy, argument decoding,
//! running the command, and writing the reply as QEMU does.
//!
//! A command that finishes at once runs on the caller's thread and its
//! reply is written right away. Any other command is started on a worker
//! ([`Dispatcher::start`] hands back a [`RunningCommand`]); the caller
//! (the [`Session`](crate::Session)) waits for it while it watches the host,
//! then writes the reply with [`Dispatcher::finish`], or gives up with
//! [`Dispatcher::abandon`].

use std::os::fd::BorrowedFd;
use std::sync::Arc;
use std::time::{Duration, Instant};

use qga_protocol::{encode_error, encode_return, FrameError, Request, SENTINEL};
use serde_json::Value;

use crate::error::QapiError;
use crate::executor::{run_caught, Executor, Running, MAX_ABANDONED};
use crate::registry::{Hook, Outcome, Registry};

/// How a [`Dispatcher`] runs commands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DispatchConfig {
    /// Longest a blocking command may run before the host gets an error;
    /// `None` for no limit.
    pub deadline: Option<Duration>,
}

/// Why the dispatcher stopped waiting for a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GiveUp<'a> {
    /// The command overran its deadline.
    Deadline,
    /// The agent is stopping.
    Stopping,
    /// A request for this urgent command arrived while it ran.
    Preempted(&'a str),
}

/// A command started on a worker, whose reply is still to be written.
pub struct RunningCommand {
    running: Running,
    name: String,
    id: Option<Value>,
    success_response: bool,
    delimited: bool,
    deadline: Option<(Instant, Duration)>,
    cancel: Option<Hook>,
}

impl std::fmt::Debug for RunningCommand {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCommand")
            .field("name", &self.name)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl RunningCommand {
    /// The command's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Turns readable once the command has ended.
    pub fn ready_fd(&self) -> BorrowedFd<'_> {
        self.running.ready_fd()
    }

    /// When the host's wait for it ends, if it has a deadline.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline.map(|(at, _)| at)
    }

    /// The outcome, once the command has ended.
    pub fn try_outcome(&mut self) -> Option<Outcome> {
        self.running.try_outcome()
    }

    /// Whether it can be made to end early (it has a cancel hook), and so
    /// be preempted by an urgent command.
    pub fn is_cancellable(&self) -> bool {
        self.cancel.is_some()
    }
}

/// Turns requests into replies.
#[derive(Debug)]
pub struct Dispatcher {
    registry: Arc<Registry>,
    executor: Executor,
    deadline: Option<Duration>,
}

impl Dispatcher {
    /// A dispatcher over `registry`.
    pub fn new(registry: Arc<Registry>, config: DispatchConfig) -> Self {
        Dispatcher {
            registry,
            executor: Executor::new(),
            deadline: config.deadline,
        }
    }

    /// The registry commands come from.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Appends the error reply for input the framer dropped.
    pub fn frame_error(&self, error: FrameError, out: &mut Vec<u8>) {
        log::debug!("dropped input: {error}");
        let error = QapiError::from(error);
        encode_error(out, error.class, &error.desc, None);
    }

    /// Decodes one framed message and starts it as [`Dispatcher::start`]
    /// does; a message that is not a valid request gets its error reply.
    pub fn message(&mut self, message: &[u8], out: &mut Vec<u8>) -> Option<RunningCommand> {
        match Request::decode(message) {
            Ok(request) => self.start(request, out),
            Err(rejected) => {
                let error = QapiError::from(rejected.error);
                log::debug!("bad request: {}", error.desc);
                encode_error(out, error.class, &error.desc, rejected.id.as_ref());
                None
            }
        }
    }

    /// Handles one request: a command that finishes at once, or one that
    /// cannot run, gets its reply (if it has one) appended to `out` and
    /// `None` comes back; any other is started and handed back.
    pub fn start(&mut self, request: Request, out: &mut Vec<u8>) -> Option<RunningCommand> {
        let Request {
            execute: name,
            arguments,
            id,
        } = request;
        let registry = &self.registry;
        let Some(command) = registry.get(&name) else {
            log::debug!("{}: not found", crate::echo(&name));
            reply_error(out, QapiError::command_not_found(&name), id.as_ref());
            return None;
        };
        if let Some(why) = registry.disabled(command) {
            log::debug!("{name}: disabled ({why:?})");
            reply_error(out, QapiError::disabled(&name, why.reason()), id.as_ref());
            return None;
        }
        let arguments = arguments.unwrap_or_default();
        if command.is_instant() {
            let handler = command.handler();
            let outcome = run_caught(|| handler(registry, arguments));
            write_reply(
                out,
                &name,
                outcome,
                command.success_response(),
                command.delimited(),
                id.as_ref(),
            );
            return None;
        }
        // The commands that stay enabled while frozen (sync, ping, info,
        // status, thaw) must always run; others wait for abandoned ones.
        let abandoned = self.executor.abandoned();
        if abandoned >= MAX_ABANDONED && !command.allowed_while_frozen() {
            log::warn!("{name}: refused, {abandoned} commands that overran their deadline still run");
            let error = QapiError::generic(format!(
                "Command {name} was not started: {abandoned} commands that overran their deadline \
                 are still running (at most {MAX_ABANDONED}); try again when they have ended"
            ));
            reply_error(out, error, id.as_ref());
            return None;
        }
        let handler = Arc::clone(command.handler());
        let shared = Arc::clone(registry);
        let job = Box::new(move || handler(&shared, arguments));
        let deadline = if command.is_unbounded() {
            None
        } else {
            // A deadline past the end of time is none.
            self.deadline
                .and_then(|d| Instant::now().checked_add(d).map(|at| (at, d)))
        };
        let (success_response, delimited, cancel) = (
            command.success_response(),
            command.delimited(),
            command.cancel_hook().cloned(),
        );
        match self.executor.start(&name, job) {
            Ok(running) => Some(RunningCommand {
                running,
                name,
                id,
                success_response,
                delimited,
                deadline,
                cancel,
            }),
            Err(error) => {
                reply_error(out, error, id.as_ref());
                None
            }
        }
    }

    /// Writes the reply of a command that has ended with `outcome`.
    pub fn finish(&mut self, command: RunningCommand, outcome: Outcome, out: &mut Vec<u8>) {
        let RunningCommand {
            running,
            name,
            id,
            success_response,
            delimited,
            ..
        } = command;
        self.executor.finish(running);
        write_reply(out, &name, outcome, success_response, delimited, id.as_ref());
    }

    /// Stops waiting for a command: asks it to end early (its cancel hook),
    /// lets its worker finish it alone, and writes the error the host gets.
    pub fn abandon(&mut self, command: RunningCommand, why: GiveUp<'_>, out: &mut Vec<u8>) {
        if let Some(cancel) = &command.cancel {
            cancel();
        }
        let error = match (why, command.deadline) {
            (GiveUp::Deadline, Some((_, limit))) => {
                log::warn!(
                    "{} overran its deadline of {limit:?}; abandoning it",
                    command.name
                );
                QapiError::timed_out(&command.name, limit)
            }
            (GiveUp::Preempted(by), _) => {
                log::warn!("{} was cancelled: {by} arrived while it ran", command.name);
                QapiError::generic(format!(
                    "Command {} was cancelled: {by} arrived while it ran",
                    command.name
                ))
            }
            _ => QapiError::interrupted(&command.name),
        };
        self.executor.abandon(command.running);
        reply_error(out, error, command.id.as_ref());
    }

    /// Whether `request` is for an urgent command (see
    /// [`CommandSpec::urgent`](crate::CommandSpec::urgent)) that will run: enabled,
    /// with arguments it accepts. A request that would fail does not get to
    /// cut anything short.
    pub fn is_urgent(&self, request: &Request) -> bool {
        let registry = &self.registry;
        registry.get(&request.execute).is_some_and(|command| {
            command.urgent_hook().is_some()
                && registry.disabled(command).is_none()
                && command.accepts(&request.arguments.clone().unwrap_or_default())
        })
    }

    /// Runs the urgent hook of `name`, if it has one.
    pub fn announce(&self, name: &str) {
        if let Some(hook) = self.registry.get(name).and_then(|command| command.urgent_hook()) {
            log::debug!("{name} arrived while a command runs: running its urgent hook");
            hook();
        }
    }
}

fn write_reply(
    out: &mut Vec<u8>,
    name: &str,
    outcome: Outcome,
    success_response: bool,
    delimited: bool,
    id: Option<&Value>,
) {
    match outcome {
        Ok(result) => {
            log::debug!("{name}: ok");
            if success_response {
                if delimited {
                    out.push(SENTINEL);
                }
                encode_return(out, &result, id);
            }
        }
        Err(error) => {
            log::debug!("{name}: {}", error.desc);
            reply_error(out, error, id);
        }
    }
}

fn reply_error(out: &mut Vec<u8>, error: QapiError, id: Option<&Value>) {
    encode_error(out, error.class, &error.desc, id);
}
