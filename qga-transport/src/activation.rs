//! systemd socket activation: a listening socket handed over as descriptor
//! 3 with `LISTEN_FDS=1` and `LISTEN_PID` naming this process, as QEMU's
//! agent accepts it. The socket's family decides the method (`unix-listen`
//! or `vsock-listen`); `-m` and `-p` are then ignored. A vsock socket
//! serves only the peers [`VsockPeers`] allows, as a `vsock-listen`
//! channel the agent opens itself does.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SocketFlags};

use crate::method::Method;
use crate::serve::Listener;
use crate::vsock::{PeerGate, VsockPeers};

/// The first descriptor systemd passes.
const SD_LISTEN_FDS_START: i32 = 3;

/// Why an activation socket cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ActivationError {
    /// More than one socket was passed (QEMU's message).
    #[error("qemu-ga only supports listening on one socket")]
    TooMany,
    /// The passed descriptor is not a usable listening socket.
    #[error("the socket passed by socket activation cannot be used")]
    Unusable(#[source] rustix::io::Errno),
    /// The passed socket is neither a Unix nor a vsock socket.
    #[error("the socket passed by socket activation is neither a Unix nor a vsock socket")]
    Family,
}

/// A listening socket received by socket activation.
#[derive(Debug)]
pub struct ActivatedSocket {
    fd: OwnedFd,
    method: Method,
    /// For a vsock socket, who may connect.
    gate: Option<PeerGate>,
}

impl ActivatedSocket {
    /// The socket passed by systemd, if this process was socket-activated.
    pub fn from_environment() -> Result<Option<ActivatedSocket>, ActivationError> {
        let for_us = std::env::var("LISTEN_PID")
            .ok()
            .and_then(|pid| pid.parse::<i32>().ok())
            .is_some_and(|pid| pid == rustix::process::getpid().as_raw_nonzero().get());
        let count: usize = std::env::var("LISTEN_FDS")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        if !for_us || count == 0 {
            return Ok(None);
        }
        if count > 1 {
            return Err(ActivationError::TooMany);
        }
        let fd = crate::sys::take_inherited_fd(SD_LISTEN_FDS_START).map_err(ActivationError::Unusable)?;
        let method = match rustix::net::getsockname(&fd)
            .map_err(ActivationError::Unusable)?
            .address_family()
        {
            AddressFamily::UNIX => Method::UnixListen,
            AddressFamily::VSOCK => Method::VsockListen,
            _ => return Err(ActivationError::Family),
        };
        rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::CLOEXEC).map_err(ActivationError::Unusable)?;
        let flags = rustix::fs::fcntl_getfl(&fd).map_err(ActivationError::Unusable)?;
        rustix::fs::fcntl_setfl(&fd, flags | rustix::fs::OFlags::NONBLOCK)
            .map_err(ActivationError::Unusable)?;
        Ok(Some(ActivatedSocket::new(fd, method)))
    }

    /// A listening socket `fd` of `method`'s family.
    fn new(fd: OwnedFd, method: Method) -> Self {
        // Until told otherwise, a vsock socket serves the host alone.
        let gate = (method == Method::VsockListen).then(|| PeerGate::new(VsockPeers::default()));
        ActivatedSocket { fd, method, gate }
    }

    /// A socket as if handed over, for tests of what is done with one.
    #[cfg(test)]
    pub(crate) fn for_tests(fd: OwnedFd, method: Method) -> Self {
        ActivatedSocket::new(fd, method)
    }

    /// Whether a vsock peer `cid` would be served; `None` for a Unix
    /// socket.
    #[cfg(test)]
    pub(crate) fn admits(&self, cid: u32) -> Option<bool> {
        use crate::vsock::Verdict;
        self.gate.as_ref().map(|gate| gate.judge(cid) == Verdict::Accept)
    }

    /// The socket, serving only `peers` if it is a vsock socket (a Unix
    /// socket is left as it is).
    pub fn with_vsock_peers(self, peers: VsockPeers) -> Self {
        let gate = self.gate.map(|_| PeerGate::new(peers));
        ActivatedSocket { gate, ..self }
    }

    /// The method the socket's family implies.
    pub fn method(&self) -> Method {
        self.method
    }
}

impl Listener for ActivatedSocket {
    fn listen_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Accepts a connection; on a vsock socket, an allowed peer's only (a
    /// refused one reads as `EAGAIN`).
    fn accept(&self) -> rustix::io::Result<OwnedFd> {
        match &self.gate {
            Some(gate) => gate.accept(self.fd.as_fd()),
            None => rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK),
        }
    }
}
