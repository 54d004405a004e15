//! The kernel's link and address dumps over a route netlink socket: the
//! same requests glibc's `getifaddrs` sends, so entries come in the same
//! order. Messages are parsed from bytes with every length checked.

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::net::netlink::SocketAddrNetlink;
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

/// `RTM_GETLINK`.
const RTM_GETLINK: u16 = 18;
/// `RTM_NEWLINK`.
const RTM_NEWLINK: u16 = 16;
/// `RTM_GETADDR`.
const RTM_GETADDR: u16 = 22;
/// `RTM_NEWADDR`.
const RTM_NEWADDR: u16 = 20;
/// `NLMSG_ERROR`.
const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
const NLMSG_DONE: u16 = 3;
/// `NLM_F_REQUEST | NLM_F_DUMP`.
const DUMP_REQUEST: u16 = 0x1 | 0x300;
/// `sizeof(struct nlmsghdr)`.
const HEADER_LEN: usize = 16;
/// `sizeof(struct ifinfomsg)`.
const IFINFOMSG_LEN: usize = 16;
/// `sizeof(struct ifaddrmsg)`.
const IFADDRMSG_LEN: usize = 8;
/// `IFLA_ADDRESS`.
const IFLA_ADDRESS: u16 = 1;
/// `IFLA_IFNAME`.
const IFLA_IFNAME: u16 = 3;
/// `IFA_ADDRESS`.
const IFA_ADDRESS: u16 = 1;
/// `IFA_LOCAL`.
const IFA_LOCAL: u16 = 2;
/// `IFA_LABEL`.
const IFA_LABEL: u16 = 3;
/// Room for one datagram of a dump.
const RECV_BUFFER: usize = 128 * 1024;

/// One network interface of the link dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Interface index.
    pub index: i32,
    /// Interface name.
    pub name: Vec<u8>,
    /// Hardware address (`IFLA_ADDRESS`), absent when the device has none.
    pub address: Option<Vec<u8>>,
}

/// One address of the address dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address {
    /// Address family (`AF_INET`, `AF_INET6`, ...).
    pub family: u8,
    /// Prefix length.
    pub prefix_len: u8,
    /// Index of the interface it is on.
    pub index: u32,
    /// The address label (IPv4), which `getifaddrs` reports as the name.
    pub label: Option<Vec<u8>>,
    /// The local address: `IFA_LOCAL` if given, else `IFA_ADDRESS`.
    pub local: Option<Vec<u8>>,
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

/// The `(type, payload)` attributes in `bytes`; stops at the first
/// malformed one.
fn attributes(mut bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(bytes, 0)?);
        let kind = u16_at(bytes, 2)?;
        if len < 4 || len > bytes.len() {
            return None;
        }
        let payload = &bytes[4..len];
        bytes = bytes.get(align4(len)..).unwrap_or(&[]);
        Some((kind, payload))
    })
}

/// Text up to the first NUL.
fn c_string(bytes: &[u8]) -> Vec<u8> {
    bytes.split(|&b| b == 0).next().unwrap_or(&[]).to_vec()
}

/// Parses the payload of an `RTM_NEWLINK` message.
pub fn parse_link(payload: &[u8]) -> Option<Link> {
    let index = i32::from_ne_bytes(payload.get(4..8)?.try_into().ok()?);
    let mut link = Link {
        index,
        name: Vec::new(),
        address: None,
    };
    let mut named = false;
    for (kind, data) in attributes(payload.get(IFINFOMSG_LEN..)?) {
        match kind {
            IFLA_IFNAME => {
                link.name = c_string(data);
                named = true;
            }
            IFLA_ADDRESS => link.address = Some(data.to_vec()),
            _ => {}
        }
    }
    named.then_some(link)
}

/// Parses the payload of an `RTM_NEWADDR` message.
pub fn parse_address(payload: &[u8]) -> Option<Address> {
    let header = payload.get(..IFADDRMSG_LEN)?;
    let mut address = Address {
        family: header[0],
        prefix_len: header[1],
        index: u32_at(header, 4)?,
        label: None,
        local: None,
    };
    let mut peer_or_local = None;
    for (kind, data) in attributes(payload.get(IFADDRMSG_LEN..)?) {
        match kind {
            IFA_ADDRESS => peer_or_local = Some(data.to_vec()),
            IFA_LOCAL => address.local = Some(data.to_vec()),
            IFA_LABEL => address.label = Some(c_string(data)),
            _ => {}
        }
    }
    if address.local.is_none() {
        address.local = peer_or_local;
    }
    Some(address)
}

/// Appends to `out` the payloads of the messages of type `wanted` and
/// sequence number `seq` in one received datagram `bytes`; `Ok(true)` once
/// the dump is complete (`NLMSG_DONE`). A message the kernel reports
/// failed is its error; a malformed one, `EBADMSG`.
pub fn split_datagram(
    mut bytes: &[u8],
    seq: u32,
    wanted: u16,
    out: &mut Vec<Vec<u8>>,
) -> Result<bool, Errno> {
    while bytes.len() >= HEADER_LEN {
        let len = u32_at(bytes, 0)
            .and_then(|l| usize::try_from(l).ok())
            .ok_or(Errno::BADMSG)?;
        let kind = u16_at(bytes, 4).ok_or(Errno::BADMSG)?;
        let msg_seq = u32_at(bytes, 8).ok_or(Errno::BADMSG)?;
        if len < HEADER_LEN || len > bytes.len() {
            return Err(Errno::BADMSG);
        }
        let payload = &bytes[HEADER_LEN..len];
        bytes = bytes.get(align4(len)..).unwrap_or(&[]);
        if msg_seq != seq {
            continue;
        }
        match kind {
            NLMSG_DONE => return Ok(true),
            NLMSG_ERROR => {
                // A negated error number; anything out of errno's range is
                // no message the kernel sends.
                match u32_at(payload, 0).ok_or(Errno::BADMSG)? as i32 {
                    0 => {}
                    code @ -4095..=-1 => return Err(Errno::from_raw_os_error(-code)),
                    _ => return Err(Errno::BADMSG),
                }
            }
            k if k == wanted => out.push(payload.to_vec()),
            _ => {}
        }
    }
    Ok(false)
}

/// Sends a dump request of `request` type and collects the payloads of the
/// `reply` messages.
fn dump(socket: &OwnedFd, request: u16, reply: u16, seq: u32) -> Result<Vec<Vec<u8>>, Errno> {
    // nlmsghdr, then a struct rtgenmsg asking for every family, padded.
    let mut message = Vec::with_capacity(HEADER_LEN + 4);
    message.extend_from_slice(&((HEADER_LEN + 4) as u32).to_ne_bytes());
    message.extend_from_slice(&request.to_ne_bytes());
    message.extend_from_slice(&DUMP_REQUEST.to_ne_bytes());
    message.extend_from_slice(&seq.to_ne_bytes());
    message.extend_from_slice(&0u32.to_ne_bytes());
    message.extend_from_slice(&[0u8; 4]);
    rustix::net::sendto(
        socket,
        &message,
        SendFlags::empty(),
        &SocketAddrNetlink::new(0, 0),
    )?;

    let mut payloads = Vec::new();
    let mut buf = vec![0u8; RECV_BUFFER];
    loop {
        let (len, full) = match rustix::net::recv(socket, &mut buf[..], RecvFlags::TRUNC) {
            Ok(got) => got,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        };
        if full > len {
            return Err(Errno::MSGSIZE);
        }
        if len == 0 {
            return Err(Errno::BADMSG);
        }
        if split_datagram(&buf[..len], seq, reply, &mut payloads)? {
            return Ok(payloads);
        }
    }
}

/// Every interface, then every address, as the kernel dumps them.
pub fn dump_links_and_addresses() -> Result<(Vec<Link>, Vec<Address>), Errno> {
    let socket = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::RAW,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let links = dump(&socket, RTM_GETLINK, RTM_NEWLINK, 1)?
        .iter()
        .filter_map(|p| parse_link(p))
        .collect();
    let addresses = dump(&socket, RTM_GETADDR, RTM_NEWADDR, 2)?
        .iter()
        .filter_map(|p| parse_address(p))
        .collect();
    Ok((links, addresses))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(kind: u16, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((4 + data.len()) as u16).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(data);
        out.resize(align4(out.len()), 0);
        out
    }

    fn message(kind: u16, seq: u32, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&((HEADER_LEN + payload.len()) as u32).to_ne_bytes());
        out.extend_from_slice(&kind.to_ne_bytes());
        out.extend_from_slice(&0u16.to_ne_bytes());
        out.extend_from_slice(&seq.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(payload);
        out.resize(align4(out.len()), 0);
        out
    }

    #[test]
    fn links_are_parsed() {
        let mut payload = vec![0u8; IFINFOMSG_LEN];
        payload[4..8].copy_from_slice(&7i32.to_ne_bytes());
        payload.extend(attr(IFLA_IFNAME, b"eth0\0"));
        payload.extend(attr(99, b"junk"));
        payload.extend(attr(IFLA_ADDRESS, &[2, 0xfc, 0, 0, 0, 1]));
        assert_eq!(
            parse_link(&payload),
            Some(Link {
                index: 7,
                name: b"eth0".to_vec(),
                address: Some(vec![2, 0xfc, 0, 0, 0, 1])
            })
        );
        // Truncated headers and attributes never panic.
        for cut in 0..payload.len() {
            let _ = parse_link(&payload[..cut]);
        }
    }

    #[test]
    fn addresses_prefer_the_local_address() {
        let mut payload = vec![2u8, 24, 0, 0];
        payload.extend_from_slice(&4u32.to_ne_bytes());
        payload.extend(attr(IFA_ADDRESS, &[10, 0, 0, 2]));
        payload.extend(attr(IFA_LOCAL, &[10, 0, 0, 1]));
        payload.extend(attr(IFA_LABEL, b"eth0:1\0"));
        let got = parse_address(&payload).unwrap();
        assert_eq!(got.family, 2);
        assert_eq!(got.prefix_len, 24);
        assert_eq!(got.index, 4);
        assert_eq!(got.local, Some(vec![10, 0, 0, 1]));
        assert_eq!(got.label, Some(b"eth0:1".to_vec()));
        for cut in 0..payload.len() {
            let _ = parse_address(&payload[..cut]);
        }
    }

    #[test]
    fn datagrams_end_at_done_and_report_errors() {
        let mut out = Vec::new();
        let mut datagram = message(RTM_NEWLINK, 5, b"abcd");
        datagram.extend(message(RTM_NEWLINK, 4, b"other request"));
        datagram.extend(message(RTM_NEWADDR, 5, b"not wanted"));
        assert_eq!(split_datagram(&datagram, 5, RTM_NEWLINK, &mut out), Ok(false));
        assert_eq!(out, vec![b"abcd".to_vec()]);
        let done = message(NLMSG_DONE, 5, &0i32.to_ne_bytes());
        assert_eq!(split_datagram(&done, 5, RTM_NEWLINK, &mut out), Ok(true));
        let error = message(NLMSG_ERROR, 5, &(-13i32).to_ne_bytes());
        assert_eq!(
            split_datagram(&error, 5, RTM_NEWLINK, &mut out),
            Err(Errno::ACCESS)
        );
        let mut bad = message(RTM_NEWLINK, 5, b"x");
        bad[0] = 200;
        assert_eq!(split_datagram(&bad, 5, RTM_NEWLINK, &mut out), Err(Errno::BADMSG));
        // An error number out of range (found by the `netlink` fuzz target).
        for code in [13i32, -4096, i32::MIN] {
            let error = message(NLMSG_ERROR, 5, &code.to_ne_bytes());
            assert_eq!(
                split_datagram(&error, 5, RTM_NEWLINK, &mut out),
                Err(Errno::BADMSG)
            );
        }
    }

    #[test]
    fn the_kernel_answers() {
        let (links, addresses) = dump_links_and_addresses().unwrap();
        assert!(links.iter().any(|l| l.name == b"lo"), "{links:?}");
        assert!(addresses
            .iter()
            .any(|a| a.family == 2 && a.local.as_deref() == Some(&[127, 0, 0, 1][..])));
    }
}
