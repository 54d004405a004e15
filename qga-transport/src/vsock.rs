//! The `vsock-listen` channel: a vsock port, one host at a time, and only
//! from the peers [`VsockPeers`] allows (by default the host alone).

use std::collections::BTreeSet;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::{Mutex, PoisonError};

use rustix::io::Errno;
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

/// How many refused peers are remembered, each to be logged only once;
/// refusals of peers beyond that go unlogged.
const REMEMBERED_REFUSALS: usize = 256;

/// What becomes of a connection, by its peer's context id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The peer is allowed: serve it.
    Accept,
    /// The peer is not allowed: close the connection; `log` says whether
    /// this is the first refusal of this peer (to be logged).
    Refuse {
        /// Whether to log the refusal.
        log: bool,
    },
}

/// The door of a vsock listener: accepts connections from allowed peers
/// only, and logs each refused peer once.
#[derive(Debug)]
pub(crate) struct PeerGate {
    peers: VsockPeers,
    refused: Mutex<BTreeSet<u32>>,
}

impl PeerGate {
    /// A gate letting in `peers`.
    pub(crate) fn new(peers: VsockPeers) -> Self {
        PeerGate {
            peers,
            refused: Mutex::new(BTreeSet::new()),
        }
    }

    /// The verdict on a connection from context id `cid`.
    pub(crate) fn judge(&self, cid: u32) -> Verdict {
        if self.peers.allows(cid) {
            return Verdict::Accept;
        }
        let mut refused = self.refused.lock().unwrap_or_else(PoisonError::into_inner);
        let first = refused.len() < REMEMBERED_REFUSALS && refused.insert(cid);
        Verdict::Refuse { log: first }
    }

    /// Accepts a pending connection on `listener` (non-blocking,
    /// close-on-exec) if its peer is allowed. A refused connection is closed
    /// at once and reported as `EAGAIN`, so the serving loop waits for the
    /// next one.
    pub(crate) fn accept(&self, listener: BorrowedFd<'_>) -> rustix::io::Result<OwnedFd> {
        let (fd, addr) =
            rustix::net::acceptfrom_with(listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)?;
        let Some(peer) = addr.as_ref().and_then(crate::sys::vsock_addr_of) else {
            log::debug!("closed a vsock connection whose peer address is unknown");
            return Err(Errno::AGAIN);
        };
        match self.judge(peer.cid) {
            Verdict::Accept => Ok(fd),
            Verdict::Refuse { log } => {
                drop(fd);
                if log {
                    log::warn!(
                        "refused a vsock connection from CID {} (vsock-allow-cids={}); \
                         further connections from it are refused silently",
                        peer.cid,
                        self.peers
                    );
                }
                Err(Errno::AGAIN)
            }
        }
    }
}

/// A listening vsock socket.
#[derive(Debug)]
pub struct VsockChannel {
    fd: OwnedFd,
    addr: VsockAddr,
    gate: PeerGate,
}

impl VsockChannel {
    /// Listens on `addr`, to serve only `peers`.
    pub fn bind(addr: VsockAddr, peers: VsockPeers) -> rustix::io::Result<Self> {
        let fd = rustix::net::socket_with(
            AddressFamily::VSOCK,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )?;
        rustix::net::bind(&fd, &addr)?;
        rustix::net::listen(&fd, 1)?;
        Ok(VsockChannel {
            fd,
            addr,
            gate: PeerGate::new(peers),
        })
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

    /// Accepts an allowed peer's connection; a refused one reads as
    /// `EAGAIN`.
    fn accept(&self) -> rustix::io::Result<OwnedFd> {
        self.gate.accept(self.fd.as_fd())
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

    #[test]
    fn only_allowed_peers_are_accepted_and_each_refusal_is_logged_once() {
        let host_only = PeerGate::new(VsockPeers::default());
        assert_eq!(host_only.judge(HOST_CID), Verdict::Accept);
        assert_eq!(host_only.judge(1), Verdict::Refuse { log: true });
        assert_eq!(host_only.judge(1), Verdict::Refuse { log: false });
        assert_eq!(host_only.judge(3), Verdict::Refuse { log: true });
        for _ in 0..5 {
            assert_eq!(host_only.judge(1), Verdict::Refuse { log: false });
            assert_eq!(host_only.judge(3), Verdict::Refuse { log: false });
            assert_eq!(host_only.judge(HOST_CID), Verdict::Accept);
        }

        let listed: PeerGate = PeerGate::new("1,5".parse().unwrap());
        assert_eq!(listed.judge(1), Verdict::Accept);
        assert_eq!(listed.judge(5), Verdict::Accept);
        assert_eq!(listed.judge(HOST_CID), Verdict::Refuse { log: true });

        let any = PeerGate::new(VsockPeers::Any);
        for cid in [0, 1, 2, 3, u32::MAX] {
            assert_eq!(any.judge(cid), Verdict::Accept);
        }
    }

    #[test]
    fn a_connection_whose_peer_is_unknown_is_closed_at_once() {
        use std::io::Read;
        // A Unix socket's peer has no context id: refused whatever the list.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        let gate = PeerGate::new(VsockPeers::Any);
        assert_eq!(gate.accept(listener.as_fd()).unwrap_err(), Errno::AGAIN);
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        assert_eq!(
            client.read(&mut [0u8; 8]).unwrap(),
            0,
            "the connection is still open"
        );
        // Nothing pending any more: the listener reports EAGAIN itself.
        listener.set_nonblocking(true).unwrap();
        assert_eq!(gate.accept(listener.as_fd()).unwrap_err(), Errno::AGAIN);
    }

    #[test]
    fn the_memory_of_refused_peers_is_bounded() {
        let gate = PeerGate::new(VsockPeers::default());
        let many = u32::try_from(REMEMBERED_REFUSALS).unwrap() + 10;
        let logged = (100..100 + many)
            .filter(|&cid| gate.judge(cid) == Verdict::Refuse { log: true })
            .count();
        assert_eq!(logged, REMEMBERED_REFUSALS);
        assert_eq!(gate.refused.lock().unwrap().len(), REMEMBERED_REFUSALS);
        // Peers seen early stay quiet; the host still gets in.
        assert_eq!(gate.judge(100), Verdict::Refuse { log: false });
        assert_eq!(gate.judge(HOST_CID), Verdict::Accept);
    }
}
