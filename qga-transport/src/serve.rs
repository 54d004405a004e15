//! The serving loop: wait for a host, read its bytes, hand them to the
//! service, write the replies back, and start over when the host goes.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::{Duration, Instant};

use qga_protocol::{Link, Service, Wait};
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::io::{self, Errno};

use crate::device::pause;
use crate::stop::StopSignal;

/// How much is read from the channel at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// What woke a wait.
pub(crate) enum Wake {
    Ready,
    Stop,
}

/// Waits until `fd` has `events` or stopping is requested.
pub(crate) fn wait_for(fd: BorrowedFd<'_>, events: PollFlags, stop: &StopSignal) -> io::Result<Wake> {
    loop {
        if stop.is_raised() {
            return Ok(Wake::Stop);
        }
        let mut fds = [
            PollFd::from_borrowed_fd(fd, events),
            PollFd::from_borrowed_fd(stop.poll_fd(), PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
        if !fds[1].revents().is_empty() || stop.is_raised() {
            return Ok(Wake::Stop);
        }
        if !fds[0].revents().is_empty() {
            return Ok(Wake::Ready);
        }
    }
}

/// Writes all of `data`, waiting while the channel is full. Fails if the
/// host is gone (hang-up: a socket's peer closed, or a virtio-serial port
/// lost its host) or stopping is requested.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut data: &[u8], stop: &StopSignal) -> io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => loop {
                if stop.is_raised() {
                    return Err(Errno::CANCELED);
                }
                let mut fds = [
                    PollFd::from_borrowed_fd(fd, PollFlags::OUT),
                    PollFd::from_borrowed_fd(stop.poll_fd(), PollFlags::IN),
                ];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e),
                }
                let events = fds[0].revents();
                if events.intersects(PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL) {
                    return Err(Errno::PIPE);
                }
                if events.contains(PollFlags::OUT) {
                    break;
                }
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The service's [`Link`] over a channel descriptor: replies are written
/// to it; while a command runs, the worker's pipe, the channel and the stop
/// pipe are polled together.
pub(crate) struct ChannelLink<'a> {
    fd: BorrowedFd<'a>,
    stop: &'a StopSignal,
    /// Where bytes read during a wait are put.
    buf: Vec<u8>,
    /// The first write error; later replies are dropped.
    failed: Option<Errno>,
}

impl<'a> ChannelLink<'a> {
    pub(crate) fn new(fd: BorrowedFd<'a>, stop: &'a StopSignal) -> Self {
        ChannelLink {
            fd,
            stop,
            buf: Vec::new(),
            failed: None,
        }
    }

    /// The first write error since the last call, if any.
    pub(crate) fn take_failure(&mut self) -> Option<Errno> {
        self.failed.take()
    }
}

/// `deadline` as a poll timeout from now; `None` waits without limit.
fn timeout_until(deadline: Option<Instant>) -> Option<Timespec> {
    deadline.map(|at| {
        let left = at.saturating_duration_since(Instant::now());
        Timespec {
            tv_sec: left.as_secs() as _,
            tv_nsec: left.subsec_nanos() as _,
        }
    })
}

impl Link for ChannelLink<'_> {
    fn flush(&mut self, out: &mut Vec<u8>) {
        if self.failed.is_none() && !out.is_empty() {
            self.failed = write_all(self.fd, out, self.stop).err();
        }
        out.clear();
    }

    fn wait(&mut self, ready: BorrowedFd<'_>, read: bool, deadline: Option<Instant>) -> Wait<'_> {
        loop {
            if self.stop.is_raised() {
                return Wait::Stopped;
            }
            if deadline.is_some_and(|at| Instant::now() >= at) {
                return Wait::TimedOut;
            }
            let timeout = timeout_until(deadline);
            let mut fds = [
                PollFd::from_borrowed_fd(ready, PollFlags::IN),
                PollFd::from_borrowed_fd(self.stop.poll_fd(), PollFlags::IN),
                PollFd::from_borrowed_fd(self.fd, if read { PollFlags::IN } else { PollFlags::empty() }),
            ];
            let count = if read { 3 } else { 2 };
            match poll(&mut fds[..count], timeout.as_ref()) {
                Ok(_) | Err(Errno::INTR) => {}
                Err(e) => {
                    log::warn!("polling while a command runs failed: {e}");
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                }
            }
            if !fds[1].revents().is_empty() {
                return Wait::Stopped;
            }
            if !fds[0].revents().is_empty() {
                return Wait::Ready;
            }
            if read && !fds[2].revents().is_empty() {
                if self.buf.len() < READ_CHUNK {
                    self.buf.resize(READ_CHUNK, 0);
                }
                match rustix::io::read(self.fd, &mut self.buf) {
                    Ok(0) => return Wait::Closed,
                    Ok(n) => return Wait::Input(&self.buf[..n]),
                    Err(Errno::AGAIN | Errno::INTR) => {}
                    Err(e) => {
                        log::debug!("reading the channel failed: {e}");
                        return Wait::Closed;
                    }
                }
            }
        }
    }
}

/// How serving a connection ([`serve_connection`]) or a device
/// ([`serve_device`](crate::serve_device)) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The host hung up or the connection failed (a connection only: a
    /// device outlives its hosts).
    HungUp,
    /// Stopping was requested.
    Stopped,
    /// The device failed (it was removed, say; a device only).
    Failed(Errno),
}

/// Serves one connected, non-blocking stream until the host hangs up
/// ([`Ended::HungUp`]) or stopping is requested ([`Ended::Stopped`]).
pub fn serve_connection(fd: BorrowedFd<'_>, service: &mut dyn Service, stop: &StopSignal) -> Ended {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut link = ChannelLink::new(fd, stop);
    loop {
        match wait_for(fd, PollFlags::IN, stop) {
            Ok(Wake::Ready) => {}
            Ok(Wake::Stop) => return Ended::Stopped,
            Err(e) => {
                log::warn!("polling the channel failed: {e}");
                return Ended::HungUp;
            }
        }
        let n = match rustix::io::read(fd, &mut buf) {
            Ok(0) => return Ended::HungUp,
            Ok(n) => n,
            Err(Errno::AGAIN | Errno::INTR) => continue,
            Err(e) => {
                log::debug!("reading the channel failed: {e}");
                return Ended::HungUp;
            }
        };
        service.input(&buf[..n], &mut link);
        if stop.is_raised() {
            return Ended::Stopped;
        }
        if let Some(e) = link.take_failure() {
            log::debug!("writing to the channel failed: {e}");
            return Ended::HungUp;
        }
    }
}

/// A listening socket that hands out one host connection at a time.
pub trait Listener {
    /// The listening socket, for polling.
    fn listen_fd(&self) -> BorrowedFd<'_>;
    /// Accepts a pending connection, non-blocking and close-on-exec.
    fn accept(&self) -> io::Result<OwnedFd>;
}

/// Serves hosts connecting to `listener`, one at a time, until stopping is
/// requested. The service keeps its state from one host to the next.
pub fn serve_listener(
    listener: &dyn Listener,
    service: &mut dyn Service,
    stop: &StopSignal,
) -> io::Result<()> {
    let mut backoff = AcceptBackoff::default();
    loop {
        if let Wake::Stop = wait_for(listener.listen_fd(), PollFlags::IN, stop)? {
            return Ok(());
        }
        let connection = match listener.accept() {
            Ok(fd) => {
                backoff.succeeded();
                fd
            }
            Err(Errno::AGAIN | Errno::INTR) => continue,
            Err(e) => {
                if backoff.failed(e, stop) {
                    return Ok(());
                }
                continue;
            }
        };
        log::debug!("host connected");
        let ended = serve_connection(connection.as_fd(), service, stop);
        service.disconnected();
        log::debug!("host disconnected");
        if ended == Ended::Stopped {
            return Ok(());
        }
    }
}

/// Pauses after failed accepts, doubling from [`AcceptBackoff::FIRST`] to
/// [`AcceptBackoff::LONGEST`]: a pending connection that cannot be accepted
/// (out of descriptors: `EMFILE`, `ENFILE`; out of memory) keeps the
/// listening socket readable, and retrying at once would spin.
#[derive(Debug, Default)]
struct AcceptBackoff {
    next: Option<Duration>,
}

impl AcceptBackoff {
    const FIRST: Duration = Duration::from_millis(10);
    const LONGEST: Duration = Duration::from_secs(1);

    /// Logs the first failure of a run and pauses; true if stopping was
    /// requested meanwhile.
    fn failed(&mut self, error: Errno, stop: &StopSignal) -> bool {
        let pause_for = match self.next {
            None => {
                log::warn!("accepting a connection failed: {error}; retrying with backoff");
                Self::FIRST
            }
            Some(pause_for) => pause_for,
        };
        self.next = Some((pause_for * 2).min(Self::LONGEST));
        pause(stop, pause_for)
    }

    fn succeeded(&mut self) {
        if self.next.take().is_some() {
            log::info!("accepting connections again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_failures_back_off_up_to_a_second() {
        let stop = StopSignal::new().unwrap();
        let mut backoff = AcceptBackoff::default();
        let started = Instant::now();
        for _ in 0..4 {
            assert!(!backoff.failed(Errno::MFILE, &stop));
        }
        // 10 + 20 + 40 + 80 ms.
        assert!(started.elapsed() >= Duration::from_millis(150));
        for _ in 0..8 {
            backoff.next = backoff.next.map(|d| (d * 2).min(AcceptBackoff::LONGEST));
        }
        assert_eq!(backoff.next, Some(AcceptBackoff::LONGEST));
        backoff.succeeded();
        assert_eq!(backoff.next, None);
        stop.raise();
        assert!(backoff.failed(Errno::MFILE, &stop));
    }
}
