//! One conversation with a host: bytes in, replies out, in order.
//!
//! The session frames what the host sends and answers each request before
//! it frames the next, as QEMU's agent does. While a command runs on a
//! worker, though, it does not sit idle: it frames the rest of the input,
//! and keeps reading the host (through its [`Link`]), into a queue. A
//! request for an *urgent* command (`guest-fsfreeze-thaw`) read meanwhile
//! (not in the same read as the running command's request) preempts the
//! running command if that can be cancelled (a freeze): its cancel hook
//! runs, its error reply is written at once, and the queue is served
//! without waiting for it. Otherwise the queue is served, in order, when
//! the command ends. Replies keep request order either way. Reading ahead stops while the queue holds
//! [`MAX_READ_AHEAD`] bytes, so a host that floods the channel is slowed
//! down by its own socket buffer rather than by the agent's memory.

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::time::Instant;

use qga_protocol::{encode_error, Frame, Framer, Request};

use crate::dispatch::{Dispatcher, GiveUp, RunningCommand};
use crate::error::QapiError;

/// Bytes of queued requests past which the session stops reading the host
/// while a command runs.
pub const MAX_READ_AHEAD: usize = 1 << 20;

/// Capacity of the reply buffer kept between replies; a larger one (after
/// a large reply) is given back.
const KEPT_REPLY_CAPACITY: usize = 64 * 1024;

/// Entries of the read-ahead queue kept between inputs; a larger queue is
/// given back.
const KEPT_QUEUE_CAPACITY: usize = 64;

/// What woke a [`Link::wait`].
#[derive(Debug, PartialEq, Eq)]
pub enum Wait<'a> {
    /// The descriptor waited on is readable: the command has ended.
    Ready,
    /// The host sent these bytes.
    Input(&'a [u8]),
    /// The host closed its end (or reading failed): read no more for now.
    Closed,
    /// The deadline passed.
    TimedOut,
    /// The agent is stopping.
    Stopped,
}

/// The session's view of the connection to the host, provided by the
/// transport.
pub trait Link {
    /// Writes `out` to the host and clears it. Once a write has failed
    /// (the host is gone), later data is dropped.
    fn flush(&mut self, out: &mut Vec<u8>);

    /// Waits until `ready` turns readable, the host sends bytes (only when
    /// `read` is true), `deadline` passes or the agent is stopping.
    fn wait(&mut self, ready: BorrowedFd<'_>, read: bool, deadline: Option<Instant>) -> Wait<'_>;
}

/// A request, or an error reply, waiting its turn.
#[derive(Debug)]
enum Queued {
    /// A decoded request and the size of its message.
    Request(Request, usize),
    /// The reply to input that is not a valid request.
    Reply(Vec<u8>),
}

impl Queued {
    fn size(&self) -> usize {
        match self {
            Queued::Request(_, size) => *size,
            Queued::Reply(reply) => reply.len(),
        }
    }
}

/// Frames incoming bytes and answers each message, in order.
#[derive(Debug)]
pub struct Session {
    framer: Framer,
    dispatcher: Dispatcher,
    queue: VecDeque<Queued>,
    queued_bytes: usize,
    out: Vec<u8>,
}

impl Session {
    /// A session over `dispatcher` with QEMU's framing limits.
    pub fn new(dispatcher: Dispatcher) -> Self {
        Session::with_framer(Framer::new(), dispatcher)
    }

    /// A session with a given framer (for other limits).
    pub fn with_framer(framer: Framer, dispatcher: Dispatcher) -> Self {
        Session {
            framer,
            dispatcher,
            queue: VecDeque::new(),
            queued_bytes: 0,
            out: Vec::new(),
        }
    }

    /// The dispatcher behind this session.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Processes the next bytes from the host, writing replies through
    /// `link` (flushed before any command that may block, and at the end).
    pub fn feed(&mut self, input: &[u8], link: &mut dyn Link) {
        let mut rest = input;
        while !rest.is_empty() {
            let Session {
                framer,
                dispatcher,
                out,
                ..
            } = self;
            let mut started = None;
            let taken = framer.feed_until(rest, |frame| {
                match frame {
                    Frame::Message(message) => started = dispatcher.message(message, out),
                    Frame::Error(error) => dispatcher.frame_error(error, out),
                }
                started.is_none()
            });
            rest = &rest[taken..];
            let Some(command) = started else { break };
            link.flush(&mut self.out);
            // Bytes that came in the same read as the request are not
            // urgent: they were sent with it, and wait for it as with QEMU's
            // agent.
            self.enqueue(rest, false);
            rest = &[];
            let mut host_open = true;
            if !self.wait_for(command, link, &mut host_open) || !self.serve_queue(link, &mut host_open) {
                self.queue.clear();
                self.queued_bytes = 0;
                break;
            }
        }
        link.flush(&mut self.out);
        if self.out.capacity() > KEPT_REPLY_CAPACITY {
            self.out = Vec::new();
        }
        if self.queue.capacity() > KEPT_QUEUE_CAPACITY {
            self.queue = VecDeque::new();
        }
    }

    /// Forgets partial input, for a new host connection. Agent state (the
    /// registry, open handles) is not affected.
    pub fn reset(&mut self) {
        self.framer.reset();
        self.queue.clear();
        self.queued_bytes = 0;
    }

    /// Frames `input` into the queue. With `urgent`, a command is running:
    /// requests for urgent commands get their hook run at once, and the name
    /// of the first such command is returned.
    fn enqueue(&mut self, input: &[u8], urgent: bool) -> Option<String> {
        let Session {
            framer,
            dispatcher,
            queue,
            queued_bytes,
            ..
        } = self;
        let mut first_urgent = None;
        framer.feed(input, |frame| {
            let item = match frame {
                Frame::Message(message) => match Request::decode(message) {
                    Ok(request) => {
                        if urgent && dispatcher.announce(&request.execute) && first_urgent.is_none() {
                            first_urgent = Some(request.execute.clone());
                        }
                        Queued::Request(request, message.len())
                    }
                    Err(rejected) => {
                        let error = QapiError::from(rejected.error);
                        log::debug!("bad request: {}", error.desc);
                        let mut reply = Vec::new();
                        encode_error(&mut reply, error.class, &error.desc, rejected.id.as_ref());
                        Queued::Reply(reply)
                    }
                },
                Frame::Error(error) => {
                    let mut reply = Vec::new();
                    dispatcher.frame_error(error, &mut reply);
                    Queued::Reply(reply)
                }
            };
            *queued_bytes += item.size();
            queue.push_back(item);
        });
        first_urgent
    }

    /// Answers everything queued, in order; false if the agent is
    /// stopping.
    fn serve_queue(&mut self, link: &mut dyn Link, host_open: &mut bool) -> bool {
        while let Some(item) = self.queue.pop_front() {
            self.queued_bytes -= item.size();
            let request = match item {
                Queued::Reply(reply) => {
                    self.out.extend_from_slice(&reply);
                    continue;
                }
                Queued::Request(request, _) => request,
            };
            let Some(command) = self.dispatcher.start(request, &mut self.out) else {
                continue;
            };
            link.flush(&mut self.out);
            if !self.wait_for(command, link, host_open) {
                return false;
            }
        }
        true
    }

    /// Waits for `command` to end and writes its reply, reading ahead
    /// meanwhile; false if the agent is stopping.
    fn wait_for(&mut self, mut command: RunningCommand, link: &mut dyn Link, host_open: &mut bool) -> bool {
        loop {
            let read = *host_open && self.queued_bytes < MAX_READ_AHEAD;
            match link.wait(command.ready_fd(), read, command.deadline()) {
                Wait::Ready => {
                    if let Some(outcome) = command.try_outcome() {
                        self.dispatcher.finish(command, outcome, &mut self.out);
                        return true;
                    }
                }
                Wait::Input(bytes) => {
                    if let Some(urgent) = self.enqueue(bytes, true) {
                        if command.is_cancellable() {
                            self.dispatcher
                                .abandon(command, GiveUp::Preempted(&urgent), &mut self.out);
                            return true;
                        }
                    }
                }
                Wait::Closed => *host_open = false,
                Wait::TimedOut => {
                    if command.deadline().is_some_and(|at| Instant::now() >= at) {
                        self.dispatcher.abandon(command, GiveUp::Deadline, &mut self.out);
                        return true;
                    }
                }
                Wait::Stopped => {
                    self.dispatcher.abandon(command, GiveUp::Stopping, &mut self.out);
                    return false;
                }
            }
        }
    }
}
