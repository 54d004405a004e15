//! The character-device channels: a virtio-serial port and a serial port.
//!
//! The agent keeps the device open for its whole life. A virtio-serial port
//! reports hang-up (and reads return end-of-file) while no host has its end
//! open; the agent then forgets any partial input and looks again every
//! [`HOST_POLL_INTERVAL`], without spinning and without exiting, and serves
//! as soon as a host writes. Bytes an earlier host left unread may still
//! come through: hosts deal with them with the sync handshake. A serial port
//! is put in raw mode, as QEMU's agent does. A read or poll error means the
//! device itself went away (hot-unplug): the caller decides whether to
//! retry ([`crate::ChannelConfig::retry`]).

use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use qga_protocol::Service;
use rustix::event::{poll, PollFd, PollFlags, Timespec};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::termios::{self, OptionalActions, QueueSelector, SpecialCodeIndex};

use crate::serve::{ChannelLink, Ended, READ_CHUNK};
use crate::stop::StopSignal;

/// How often a virtio-serial port without a host is looked at again.
pub const HOST_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// Which kind of device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceKind {
    /// `/dev/virtio-ports/...`.
    VirtioSerial,
    /// A tty such as `/dev/ttyS0`.
    IsaSerial,
}

/// An open channel device.
#[derive(Debug)]
pub struct DeviceChannel {
    fd: OwnedFd,
    path: PathBuf,
    kind: DeviceKind,
}

impl DeviceChannel {
    /// Opens `path` read-write, non-blocking, close-on-exec; a serial port
    /// is put in raw mode with pending input flushed.
    pub fn open(path: &Path, kind: DeviceKind) -> rustix::io::Result<Self> {
        let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(path, flags, Mode::empty())?;
        if kind == DeviceKind::IsaSerial {
            let mut tio = termios::tcgetattr(&fd)?;
            tio.make_raw();
            tio.special_codes[SpecialCodeIndex::VMIN] = 1;
            tio.special_codes[SpecialCodeIndex::VTIME] = 0;
            termios::tcflush(&fd, QueueSelector::IFlush)?;
            termios::tcsetattr(&fd, OptionalActions::Now, &tio)?;
        }
        Ok(DeviceChannel {
            fd,
            path: path.to_path_buf(),
            kind,
        })
    }

    /// The device's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The kind of device.
    pub fn kind(&self) -> DeviceKind {
        self.kind
    }
}

/// Sleeps `interval` unless stopping is requested first; true if stopping.
pub(crate) fn pause(stop: &StopSignal, interval: Duration) -> bool {
    let timeout = Timespec {
        tv_sec: interval.as_secs() as _,
        tv_nsec: interval.subsec_nanos() as _,
    };
    let mut fds = [PollFd::from_borrowed_fd(stop.poll_fd(), PollFlags::IN)];
    let _ = poll(&mut fds, Some(&timeout));
    stop.is_raised()
}

/// Serves the host on `device` until stopping is requested
/// ([`Ended::Stopped`]) or the device fails ([`Ended::Failed`]).
pub fn serve_device(device: &DeviceChannel, service: &mut dyn Service, stop: &StopSignal) -> Ended {
    let fd = device.fd.as_fd();
    let mut buf = vec![0u8; READ_CHUNK];
    let mut link = ChannelLink::new(fd, stop);
    let mut host_present = true;
    loop {
        if stop.is_raised() {
            return Ended::Stopped;
        }
        let mut fds = [
            PollFd::from_borrowed_fd(fd, PollFlags::IN),
            PollFd::from_borrowed_fd(stop.poll_fd(), PollFlags::IN),
        ];
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => return Ended::Failed(e),
        }
        if !fds[1].revents().is_empty() {
            return Ended::Stopped;
        }
        let events = fds[0].revents();
        if events.intersects(PollFlags::ERR | PollFlags::NVAL) {
            return Ended::Failed(Errno::IO);
        }
        let n = match rustix::io::read(fd, &mut buf) {
            Ok(n) => n,
            Err(Errno::AGAIN | Errno::INTR) => 0,
            Err(e) => return Ended::Failed(e),
        };
        if n == 0 {
            if events.contains(PollFlags::HUP) || events.contains(PollFlags::IN) {
                // No host on the other end: forget its partial input and
                // look again later, without spinning.
                if host_present {
                    log::debug!("no host connected to {}", device.path.display());
                    service.disconnected();
                    host_present = false;
                }
                if pause(stop, HOST_POLL_INTERVAL) {
                    return Ended::Stopped;
                }
            }
            continue;
        }
        if !host_present {
            log::debug!("host connected to {}", device.path.display());
            host_present = true;
        }
        service.input(&buf[..n], &mut link);
        if stop.is_raised() {
            return Ended::Stopped;
        }
        if let Some(e) = link.take_failure() {
            // The host went away before reading its replies; they are lost,
            // as with QEMU's agent. The device itself is still there.
            log::debug!("writing to {} failed: {e}", device.path.display());
        }
    }
}
