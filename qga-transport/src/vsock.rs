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

/// The context id of the host (`VMADDR_CID_HOST`).
pub const HOST_CID: u32 = 2;

/// Which vsock peers may connect (`vsock-allow-cids`): by default only the
/// host, so that neither another guest nor a process of this guest (over
/// the local loopback, CID 1) can talk to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VsockPeers {
    /// Any peer.
    Any,
    /// Only peers with one of these context ids.
    Cids(Vec<u32>),
}

impl Default for VsockPeers {
    fn default() -> Self {
        VsockPeers::Cids(vec![HOST_CID])
    }
}

impl VsockPeers {
    /// Whether a peer with context id `cid` may connect.
    pub fn allows(&self, cid: u32) -> bool {
        match self {
            VsockPeers::Any => true,
            VsockPeers::Cids(cids) => cids.contains(&cid),
        }
    }
}

/// Why a list of vsock peers did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid vsock peer list '{0}': expected 'any' or comma-separated context ids")]
pub struct BadVsockPeers(pub String);

impl std::str::FromStr for VsockPeers {
    type Err = BadVsockPeers;

    /// Parses `any`, or context ids separated by commas (`2,3`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim() == "any" {
            return Ok(VsockPeers::Any);
        }
        let cids = s
            .split(',')
            .map(|cid| cid.trim().parse::<u32>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| BadVsockPeers(s.to_string()))?;
        Ok(VsockPeers::Cids(cids))
    }
}

impl std::fmt::Display for VsockPeers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VsockPeers::Any => f.write_str("any"),
            VsockPeers::Cids(cids) => {
                let list: Vec<String> = cids.iter().map(u32::to_string).collect();
                f.write_str(&list.join(","))
            }
        }
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

    #[test]
    fn peer_lists_parse_and_print_back() {
        assert_eq!(VsockPeers::default(), VsockPeers::Cids(vec![HOST_CID]));
        assert_eq!("any".parse(), Ok(VsockPeers::Any));
        assert_eq!("2, 3".parse(), Ok(VsockPeers::Cids(vec![2, 3])));
        assert_eq!("2,3".parse::<VsockPeers>().unwrap().to_string(), "2,3");
        for bad in ["", "x", "2,", "-1", "any,2"] {
            assert!(bad.parse::<VsockPeers>().is_err(), "{bad}");
        }
        assert!(VsockPeers::default().allows(2));
        assert!(!VsockPeers::default().allows(1));
        assert!(VsockPeers::Any.allows(7));
    }
}
