//! The serving loop: wait for a host, read its bytes, hand them to the
//! session, write the replies back, and start over when the host goes.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::event::{poll, PollFd, PollFlags};
use rustix::io::{self, Errno};

use crate::stop::StopSignal;

/// How much is read from the channel at a time.
pub const READ_CHUNK: usize = 64 * 1024;

/// What serves one host connection: fed the bytes the host sends, it puts
/// its replies in `out`, calling `flush` on them first whenever it is about
/// to do something slow.
pub trait Service {
    /// Handles bytes from the host.
    fn input(&mut self, input: &[u8], out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>));
    /// The host went away; partial input is to be forgotten.
    fn disconnected(&mut self);
}

impl Service for qapi_core::Session {
    fn input(&mut self, input: &[u8], out: &mut Vec<u8>, flush: &mut dyn FnMut(&mut Vec<u8>)) {
        self.feed(input, out, flush);
    }

    fn disconnected(&mut self) {
        self.reset();
    }
}

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

/// How a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The host hung up or the connection failed.
    HungUp,
    /// Stopping was requested.
    Stopped,
}

/// Serves one connected, non-blocking stream until the host hangs up or
/// stopping is requested.
pub fn serve_connection(fd: BorrowedFd<'_>, service: &mut dyn Service, stop: &StopSignal) -> Ended {
    let mut buf = vec![0u8; READ_CHUNK];
    let mut out = Vec::with_capacity(READ_CHUNK);
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
        if let Err(e) = respond(fd, service, &buf[..n], &mut out, stop) {
            if stop.is_raised() {
                return Ended::Stopped;
            }
            log::debug!("writing to the channel failed: {e}");
            return Ended::HungUp;
        }
    }
}

/// Hands `input` to the service and writes its replies to `fd`, flushing
/// earlier replies whenever the service asks. After a failed write the
/// remaining replies are dropped (the host is gone).
pub(crate) fn respond(
    fd: BorrowedFd<'_>,
    service: &mut dyn Service,
    input: &[u8],
    out: &mut Vec<u8>,
    stop: &StopSignal,
) -> io::Result<()> {
    let mut failed = None;
    let mut flush = |pending: &mut Vec<u8>| {
        if failed.is_none() {
            failed = write_all(fd, pending, stop).err();
        }
        pending.clear();
    };
    service.input(input, out, &mut flush);
    flush(out);
    failed.map_or(Ok(()), Err)
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
    loop {
        if let Wake::Stop = wait_for(listener.listen_fd(), PollFlags::IN, stop)? {
            return Ok(());
        }
        let connection = match listener.accept() {
            Ok(fd) => fd,
            Err(Errno::AGAIN | Errno::INTR) => continue,
            Err(e) => {
                log::warn!("accepting a connection failed: {e}");
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
