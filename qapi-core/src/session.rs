//! One conversation with a host: bytes in, replies out, in order.
//!
//! The session frames what the host sends and answers each request before
//! it frames the next, as QEMU's agent does. While a command runs on a
//! worker, though, it does not sit idle: it frames the rest of the input,
//! and keeps reading the host (through its [`Link`]), into a queue. A valid
//! request for an *urgent* command (`guest-fsfreeze-thaw`) read meanwhile
//! has its urgent hook run, and preempts the running command if that can be
//! cancelled (a freeze): its cancel hook runs, its error reply is written at
//! once, and the queue is served without waiting for it. One sent together
//! with the running command's request (queued before it started) does the
//! same once [`URGENT_GRACE`] has passed, so a quick freeze followed by a
//! thaw behaves as with QEMU's agent. Otherwise the queue is served, in
//! order, when the command ends. Replies keep request order either way.
//! Reading ahead stops while the queue holds
//! [`MAX_READ_AHEAD`] bytes, so a host that floods the channel is slowed
//! down by its own socket buffer rather than by the agent's memory.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use qga_protocol::{encode_error, Frame, Framer, Link, Request, Service, Wait};

use crate::dispatch::{Dispatcher, GiveUp, RunningCommand};
use crate::error::QapiError;

/// Bytes of queued requests past which the session stops reading the host
/// while a command runs.
pub const MAX_READ_AHEAD: usize = 1 << 20;

/// How long a command may still run when a request for an urgent command
/// was sent together with it (before the host could see it run): a quick
/// freeze then ends as with QEMU's agent before the thaw runs, and a stuck
/// one is preempted after this.
pub const URGENT_GRACE: Duration = Duration::from_secs(1);

/// Capacity of the reply buffer kept between replies; a larger one (after
/// a large reply) is given back.
const KEPT_REPLY_CAPACITY: usize = 64 * 1024;

/// Entries of the read-ahead queue kept between inputs; a larger queue is
/// given back.
const KEPT_QUEUE_CAPACITY: usize = 64;

/// A request, or an error reply, waiting its turn.
#[derive(Debug)]
enum Queued {
    /// A decoded request, the size of its message, and whether it is for an
    /// urgent command that will run (see [`Dispatcher::is_urgent`]).
    Request(Request, usize, bool),
    /// The reply to input that is not a valid request.
    Reply(Vec<u8>),
}

impl Queued {
    fn size(&self) -> usize {
        match self {
            Queued::Request(_, size, _) => *size,
            Queued::Reply(reply) => reply.len(),
        }
    }
}

/// Frames incoming bytes and answers each message, in order. It is the
/// [`Service`] a transport feeds.
#[derive(Debug)]
pub struct Session {
    framer: Framer,
    dispatcher: Dispatcher,
    queue: VecDeque<Queued>,
    queued_bytes: usize,
    /// How many queued requests are urgent.
    queued_urgent: usize,
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
            queued_urgent: 0,
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
            // An urgent request that came in the same read was sent with
            // this one: it gets the grace.
            let urgent = self.enqueue(rest);
            rest = &[];
            let mut host_open = true;
            let pending = urgent.map(|name| (name, Instant::now() + URGENT_GRACE));
            if !self.wait_for(command, link, &mut host_open, pending)
                || !self.serve_queue(link, &mut host_open)
            {
                self.forget_queue();
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
        self.forget_queue();
    }

    /// Drops every queued request.
    fn forget_queue(&mut self) {
        self.queue.clear();
        self.queued_bytes = 0;
        self.queued_urgent = 0;
    }

    /// Frames `input` into the queue; returns the name of the first
    /// request in it for an urgent command that will run (see
    /// [`Dispatcher::is_urgent`]).
    fn enqueue(&mut self, input: &[u8]) -> Option<String> {
        let Session {
            framer,
            dispatcher,
            queue,
            queued_bytes,
            queued_urgent,
            ..
        } = self;
        let mut first_urgent = None;
        framer.feed(input, |frame| {
            let item = match frame {
                Frame::Message(message) => match Request::decode(message) {
                    Ok(request) => {
                        let urgent = dispatcher.is_urgent(&request);
                        if urgent {
                            *queued_urgent += 1;
                            first_urgent.get_or_insert_with(|| request.execute.clone());
                        }
                        Queued::Request(request, message.len(), urgent)
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
                Queued::Request(request, _, urgent) => {
                    self.queued_urgent -= usize::from(urgent);
                    request
                }
            };
            let Some(command) = self.dispatcher.start(request, &mut self.out) else {
                continue;
            };
            link.flush(&mut self.out);
            // Urgent requests queued behind it came before it ran: grace.
            let pending = self
                .queued_urgent()
                .map(|name| (name, Instant::now() + URGENT_GRACE));
            if !self.wait_for(command, link, host_open, pending) {
                return false;
            }
        }
        true
    }

    /// The first queued request for an urgent command that will run.
    fn queued_urgent(&self) -> Option<String> {
        if self.queued_urgent == 0 {
            return None;
        }
        self.queue.iter().find_map(|item| match item {
            Queued::Request(request, _, true) => Some(request.execute.clone()),
            _ => None,
        })
    }

    /// Waits for `command` to end and writes its reply, reading ahead
    /// meanwhile; false if the agent is stopping. `pending` is an urgent
    /// request queued before the command ran, and when its grace ends.
    fn wait_for(
        &mut self,
        mut command: RunningCommand,
        link: &mut dyn Link,
        host_open: &mut bool,
        mut pending: Option<(String, Instant)>,
    ) -> bool {
        loop {
            let read = *host_open && self.queued_bytes < MAX_READ_AHEAD;
            let grace = pending.as_ref().map(|(_, at)| *at);
            let wake = match (command.deadline(), grace) {
                (Some(deadline), Some(grace)) => Some(deadline.min(grace)),
                (deadline, grace) => deadline.or(grace),
            };
            let urgent = match link.wait(command.ready_fd(), read, wake) {
                Wait::Ready => {
                    if let Some(outcome) = command.try_outcome() {
                        self.dispatcher.finish(command, outcome, &mut self.out);
                        return true;
                    }
                    None
                }
                Wait::Input(bytes) => self.enqueue(bytes),
                Wait::Closed => {
                    *host_open = false;
                    None
                }
                Wait::TimedOut => {
                    if command.deadline().is_some_and(|at| Instant::now() >= at) {
                        self.dispatcher.abandon(command, GiveUp::Deadline, &mut self.out);
                        return true;
                    }
                    if grace.is_some_and(|at| Instant::now() >= at) {
                        pending.take().map(|(name, _)| name)
                    } else {
                        None
                    }
                }
                Wait::Stopped => {
                    self.dispatcher.abandon(command, GiveUp::Stopping, &mut self.out);
                    return false;
                }
            };
            // An urgent request: its hook runs now, and a command that can
            // be cancelled is preempted.
            if let Some(name) = urgent {
                pending = None;
                self.dispatcher.announce(&name);
                if command.is_cancellable() {
                    self.dispatcher
                        .abandon(command, GiveUp::Preempted(&name), &mut self.out);
                    return true;
                }
            }
        }
    }
}

/// A transport serves a host with a session: bytes go to [`Session::feed`],
/// and a host going away [`Session::reset`]s it.
impl Service for Session {
    fn input(&mut self, input: &[u8], link: &mut dyn Link) {
        self.feed(input, link);
    }

    fn disconnected(&mut self) {
        self.reset();
    }
}
