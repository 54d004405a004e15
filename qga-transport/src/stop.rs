//! A stop request that a poll loop can wait on: set from a signal handler,
//! seen at once by whichever loop is waiting.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rustix::io;
use rustix::pipe::{pipe_with, PipeFlags};

/// The agent's "please stop" flag plus a pipe that becomes readable when it
/// is raised, so a `poll` can wait for I/O and for stopping at once.
#[derive(Debug)]
pub struct StopSignal {
    flag: Arc<AtomicBool>,
    wake_read: OwnedFd,
    wake_write: OwnedFd,
}

impl StopSignal {
    /// A stop signal, not raised.
    pub fn new() -> io::Result<Self> {
        let (wake_read, wake_write) = pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)?;
        Ok(StopSignal {
            flag: Arc::new(AtomicBool::new(false)),
            wake_read,
            wake_write,
        })
    }

    /// The flag, for signal handlers (`signal_hook::flag::register`) and
    /// for code that waits without polling.
    pub fn flag(&self) -> &Arc<AtomicBool> {
        &self.flag
    }

    /// The pipe's write end, for signal handlers that wake a poll by writing
    /// a byte (`signal_hook::low_level::pipe::register`).
    pub fn wake_fd(&self) -> BorrowedFd<'_> {
        self.wake_write.as_fd()
    }

    /// The descriptor that turns readable once stopping is requested.
    pub fn poll_fd(&self) -> BorrowedFd<'_> {
        self.wake_read.as_fd()
    }

    /// Requests stopping (from ordinary code).
    pub fn raise(&self) {
        self.flag.store(true, Ordering::SeqCst);
        let _ = rustix::io::write(&self.wake_write, &[1]);
    }

    /// Whether stopping was requested.
    pub fn is_raised(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }
}
