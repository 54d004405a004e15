//! From one framed message to its reply: checks, policy, argument decoding,
//! running the command, and writing the reply as QEMU does.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use qga_protocol::{encode_error, encode_return, FrameError, Request, SENTINEL};
use serde_json::Value;

use crate::error::QapiError;
use crate::executor::{run_caught, Executor};
use crate::registry::Registry;

/// How a [`Dispatcher`] runs commands.
#[derive(Debug, Clone, Default)]
pub struct DispatchConfig {
    /// Longest a blocking command may run before the host gets an error;
    /// `None` for no limit.
    pub deadline: Option<Duration>,
    /// Set (by a signal handler) when the agent is stopping; cuts short the
    /// wait for a running command.
    pub interrupt: Option<Arc<AtomicBool>>,
}

/// Turns framed messages into replies.
#[derive(Debug)]
pub struct Dispatcher {
    registry: Arc<Registry>,
    executor: Executor,
}

impl Dispatcher {
    /// A dispatcher over `registry`.
    pub fn new(registry: Arc<Registry>, config: DispatchConfig) -> Self {
        Dispatcher {
            registry,
            executor: Executor::new(config.deadline, config.interrupt),
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

    /// Handles one framed message, appending its reply (if it has one) to
    /// `out`. Before running a command that may block, `flush` is called
    /// with `out` so earlier replies reach the host first.
    pub fn message(&mut self, message: &[u8], out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
        let request = match Request::decode(message) {
            Ok(request) => request,
            Err(rejected) => {
                let error = QapiError::from(rejected.error);
                log::debug!("bad request: {}", error.desc);
                encode_error(out, error.class, &error.desc, rejected.id.as_ref());
                return;
            }
        };
        self.request(request, out, flush);
    }

    /// Handles one decoded request, as [`Dispatcher::message`].
    pub fn request(&mut self, request: Request, out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
        let Request {
            execute: name,
            arguments,
            id,
        } = request;
        let registry = &self.registry;
        let Some(command) = registry.get(&name) else {
            log::debug!("{name}: not found");
            return reply_error(out, QapiError::command_not_found(&name), id.as_ref());
        };
        if let Some(why) = registry.disabled(command) {
            log::debug!("{name}: disabled ({why:?})");
            return reply_error(out, QapiError::disabled(&name, why.reason()), id.as_ref());
        }
        let arguments = arguments.unwrap_or_default();
        let outcome = if command.is_instant() {
            let handler = command.handler();
            run_caught(|| handler(registry, arguments))
        } else {
            flush(out);
            let handler = Arc::clone(command.handler());
            let shared = Arc::clone(registry);
            let job = Box::new(move || handler(&shared, arguments));
            if command.is_unbounded() {
                self.executor.run_within(&name, job, None)
            } else {
                self.executor.run(&name, job)
            }
        };
        match outcome {
            Ok(result) => {
                log::debug!("{name}: ok");
                if command.success_response() {
                    if command.delimited() {
                        out.push(SENTINEL);
                    }
                    encode_return(out, &result, id.as_ref());
                }
            }
            Err(error) => {
                log::debug!("{name}: {}", error.desc);
                reply_error(out, error, id.as_ref());
            }
        }
    }
}

fn reply_error(out: &mut Vec<u8>, error: QapiError, id: Option<&Value>) {
    encode_error(out, error.class, &error.desc, id);
}
