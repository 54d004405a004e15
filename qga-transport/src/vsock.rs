//! The `vsock-listen` channel: a vsock port, one host at a time.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

use rustix::net::{AddressFamily, SocketFlags, SocketType};

use crate::serve::Listener;
pub use crate::sys::VsockAddr;

/// Why a vsock address did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid vsock address '{0}': expected <cid>:<port>")]
pub struct BadVsockAddr(pub String);

impl std::str::FromStr for VsockAddr {
    type Err = BadVsockAddr;

    /// Parses QEMU's `<cid>:<port>` form, both decimal numbers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || BadVsockAddr(s.to_string());
        let (cid, port) = s.split_once(':').ok_or_else(bad)?;
        Ok(VsockAddr {
            cid: cid.parse().map_err(|_| bad())?,
            port: port.parse().map_err(|_| bad())?,
        })
    }
}

/// A listening vsock socket.
#[derive(Debug)]
pub struct VsockChannel {
    fd: OwnedFd,
    addr: VsockAddr,
}

impl VsockChannel {
    /// Listens on `addr`.
    pub fn bind(addr: VsockAddr) -> rustix::io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::VSOCK,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, 1)?;
        Ok(VsockChannel { fd, addr })
    }

    /// The address listened on.
    pub fn addr(&self) -> VsockAddr {
        self.addr
    }
}

impl Listener for VsockChannel {
    fn listen_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    fn accept(&self) -> rustix::io::Result<OwnedFd> {
        rustix::net::accept_with(&self.fd, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_qemu_addresses() {
        assert_eq!("3:1234".parse(), Ok(VsockAddr { cid: 3, port: 1234 }));
        assert_eq!("4294967295:1".parse::<VsockAddr>().map(|a| a.cid), Ok(u32::MAX));
        for bad in ["3", "x:1", "3:", ":1", "3:1:2", "-1:5"] {
            assert!(bad.parse::<VsockAddr>().is_err(), "{bad}");
        }
        assert_eq!(
            "nope".parse::<VsockAddr>().unwrap_err().to_string(),
            "invalid vsock address 'nope': expected <cid>:<port>"
        );
    }
}
