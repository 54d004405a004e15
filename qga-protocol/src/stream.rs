//! How one conversation with a host is driven over a byte stream: the
//! sans-IO side ([`Service`]) is fed bytes and answers through the I/O side
//! ([`Link`]).
//!
//! A transport owns the stream: it reads what the host sends and hands it
//! to a [`Service`], which frames it, runs the commands and writes replies
//! through the transport's [`Link`]. While a command runs, the service may
//! use [`Link::wait`] to watch the command and the host at once; [`Wait`]
//! says what woke it.

use std::os::fd::BorrowedFd;
use std::time::Instant;

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

/// A service's view of the connection to the host, provided by the
/// transport.
pub trait Link {
    /// Writes `out` to the host and clears it. Once a write has failed
    /// (the host is gone), later data is dropped.
    fn flush(&mut self, out: &mut Vec<u8>);

    /// Waits until `ready` turns readable, the host sends bytes (only when
    /// `read` is true), `deadline` passes or the agent is stopping.
    fn wait(&mut self, ready: BorrowedFd<'_>, read: bool, deadline: Option<Instant>) -> Wait<'_>;
}

/// What serves one host connection: fed the bytes the host sends, it
/// answers through the [`Link`], which it may also use to wait for work in
/// progress while it watches the host.
pub trait Service {
    /// Handles bytes from the host.
    fn input(&mut self, input: &[u8], link: &mut dyn Link);
    /// The host went away; partial input is to be forgotten.
    fn disconnected(&mut self);
}
