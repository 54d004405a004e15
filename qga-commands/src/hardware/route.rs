//! `guest-network-get-route`: the kernel's IPv4 routes from
//! `<proc>/net/route`, then its IPv6 routes from `<proc>/net/ipv6_route`.
//!
//! Fields are converted as QEMU's `sscanf` formats convert them: IPv4
//! addresses are little-endian hexadecimal words; IPv6 metric, reference
//! count, use count and flags are hexadecimal C `int`s (so
//! `ffffffff` is a metric of -1, and a flags word with its top bit set is
//! sign-extended into the 64-bit `flags`); prefix lengths become decimal
//! text. A line that does not parse is skipped. A file that cannot be
//! opened makes the command fail.

use std::path::Path;

use qga_protocol::schema::GuestNetworkRoute;

use super::interfaces::ipv6_text;
use super::scan::Scanner;
use crate::error::CommandError;

/// A little-endian IPv4 word as dotted text.
fn ipv4_text(word: u32) -> String {
    let b = word.to_le_bytes();
    format!("{}.{}.{}.{}", b[0], b[1], b[2], b[3])
}

/// 32 hexadecimal digits as an IPv6 address; `None` when a byte pair does
/// not start with a hexadecimal digit (or the text is short).
fn ipv6_from_hex(hex: &[u8]) -> Option<String> {
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let pair = hex.get(i * 2..(i * 2 + 2).min(hex.len()))?;
        let digits: Vec<u32> = pair.iter().map_while(|&b| char::from(b).to_digit(16)).collect();
        *byte = match digits[..] {
            [high, low] => (high * 16 + low) as u8,
            [only] => only as u8,
            _ => return None,
        };
    }
    Some(ipv6_text(&bytes))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One line of `/proc/net/route`: `Iface Destination Gateway Flags RefCnt
/// Use Metric Mask MTU Window IRTT`.
fn parse_ipv4(line: &[u8]) -> Option<GuestNetworkRoute> {
    let mut s = Scanner::new(line);
    let iface = s.word(None)?;
    let destination = s.hex()?;
    let gateway = s.hex()?;
    let flags = s.hex()?;
    let refcnt = s.int()?;
    let use_ = s.int()?;
    let metric = s.int()?;
    let mask = s.hex()?;
    let mtu = s.int()?;
    let window = s.int()?;
    let irtt = s.int()?;
    Some(GuestNetworkRoute {
        flags: Some(u64::from(flags)),
        source: None,
        metric: i64::from(metric),
        refcnt: Some(i64::from(refcnt)),
        window: Some(i64::from(window)),
        version: 4,
        nexthop: None,
        iface: text(iface),
        destination: ipv4_text(destination),
        desprefixlen: None,
        irtt: Some(i64::from(irtt)),
        gateway: Some(ipv4_text(gateway)),
        srcprefixlen: None,
        use_: Some(i64::from(use_)),
        mtu: Some(i64::from(mtu)),
        mask: Some(ipv4_text(mask)),
    })
}

/// One line of `/proc/net/ipv6_route`: destination, its prefix length,
/// source, its prefix length, next hop, metric, reference count, use
/// count, flags, interface.
fn parse_ipv6(line: &[u8]) -> Option<GuestNetworkRoute> {
    let mut s = Scanner::new(line);
    let destination = s.word(Some(32))?;
    let des_prefix_len = s.hex()? as i32;
    let source = s.word(Some(32))?;
    let src_prefix_len = s.hex()? as i32;
    let next_hop = s.word(Some(32))?;
    let metric = s.hex()? as i32;
    let refcnt = s.hex()? as i32;
    let use_ = s.hex()? as i32;
    let flags = s.hex()? as i32;
    let iface = s.word(None)?;
    Some(GuestNetworkRoute {
        // A C int stored into a uint64: sign-extended.
        flags: Some(i64::from(flags) as u64),
        source: ipv6_from_hex(source),
        metric: i64::from(metric),
        refcnt: Some(i64::from(refcnt)),
        window: None,
        version: 6,
        nexthop: ipv6_from_hex(next_hop),
        iface: text(iface),
        destination: ipv6_from_hex(destination)?,
        desprefixlen: Some(des_prefix_len.to_string()),
        irtt: None,
        gateway: None,
        srcprefixlen: Some(src_prefix_len.to_string()),
        use_: Some(i64::from(use_)),
        mtu: None,
        mask: None,
    })
}

/// The routes in the text of `/proc/net/route` (after its header line).
pub(crate) fn parse_ipv4_table(text: &[u8]) -> Vec<GuestNetworkRoute> {
    text.split_inclusive(|&b| b == b'\n')
        .skip(1)
        .filter_map(parse_ipv4)
        .collect()
}

/// The routes in the text of `/proc/net/ipv6_route` (no header).
pub(crate) fn parse_ipv6_table(text: &[u8]) -> Vec<GuestNetworkRoute> {
    text.split_inclusive(|&b| b == b'\n')
        .filter_map(parse_ipv6)
        .collect()
}

/// `guest-network-get-route`, from `<proc>/net/route` and
/// `<proc>/net/ipv6_route`.
pub fn get_routes(proc_root: &Path) -> Result<Vec<GuestNetworkRoute>, CommandError> {
    let mut routes = Vec::new();
    let mut failure = None;
    for (file, parse) in [
        ("route", parse_ipv4_table as fn(&[u8]) -> Vec<GuestNetworkRoute>),
        ("ipv6_route", parse_ipv6_table),
    ] {
        let path = proc_root.join("net").join(file);
        match std::fs::read(&path) {
            Ok(text) => routes.extend(parse(&text)),
            Err(e) => {
                // The first failure is reported, once both files are tried.
                failure.get_or_insert_with(|| {
                    CommandError::io(format_args!("open(\"{}\")", path.display()), &e)
                });
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(routes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    const ROUTE: &[u8] =
        b"Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT
eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0
eth0\t000200C0\t00000000\t0001\t0\t5\t100\t00FFFFFF\t1500\t0\t0
broken line
";

    const IPV6_ROUTE: &[u8] = b"\
fd000000000000000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001     eth0
00000000000000000000000000000001 80 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000002 00000000 80200001       lo
00000000000000000000000000000000 00 00000000000000000000000000000000 00 fd000000000000000000000000000001 ffffffff 00000001 00000000 00200200       lo
zz000000000000000000000000000000 00 00000000000000000000000000000000 00 00000000000000000000000000000000 00000000 00000001 00000000 00000001       lo
";

    #[test]
    fn ipv4_routes() {
        let routes = parse_ipv4_table(ROUTE);
        assert_eq!(routes.len(), 2);
        assert_eq!(
            serde_json::to_string(&routes[1]).unwrap(),
            r#"{"flags":1,"metric":100,"refcnt":0,"window":0,"version":4,"iface":"eth0","destination":"192.0.2.0","irtt":0,"gateway":"0.0.0.0","use":5,"mtu":1500,"mask":"255.255.255.0"}"#
        );
        assert_eq!(routes[0].gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(routes[0].flags, Some(3));
    }

    #[test]
    fn ipv6_routes() {
        let routes = parse_ipv6_table(IPV6_ROUTE);
        assert_eq!(routes.len(), 3, "the unparsable destination is skipped");
        assert_eq!(
            serde_json::to_string(&routes[0]).unwrap(),
            r#"{"flags":1,"source":"::","metric":256,"refcnt":1,"version":6,"nexthop":"::","iface":"eth0","destination":"fd00::","desprefixlen":"64","srcprefixlen":"0","use":0}"#
        );
        assert_eq!(routes[1].flags, Some(18_446_744_071_564_165_121));
        assert_eq!(routes[1].destination, "::1");
        assert_eq!(routes[1].desprefixlen.as_deref(), Some("128"));
        assert_eq!(routes[2].metric, -1);
        assert_eq!(routes[2].nexthop.as_deref(), Some("fd00::1"));
    }

    #[test]
    fn hex_addresses() {
        assert_eq!(ipv4_text(0x0102_00C0), "192.0.2.1");
        assert_eq!(
            ipv6_from_hex(b"fe8000000000000000fc00fffe000001").as_deref(),
            Some("fe80::fc:ff:fe00:1")
        );
        assert_eq!(ipv6_from_hex(b"fe80"), None);
        assert_eq!(
            ipv6_from_hex(b"fe8000000000000000fc00fffe00000g").as_deref(),
            Some("fe80::fc:ff:fe00:0")
        );
    }

    #[test]
    fn missing_files_fail() {
        let proc_root = tempfile::tempdir().unwrap();
        let net = proc_root.path().join("net");
        fs::create_dir_all(&net).unwrap();
        fs::write(net.join("route"), ROUTE).unwrap();
        let root = proc_root.path().display().to_string();
        assert_eq!(
            get_routes(proc_root.path()).unwrap_err().0,
            format!("open(\"{root}/net/ipv6_route\"): No such file or directory")
        );
        fs::write(net.join("ipv6_route"), IPV6_ROUTE).unwrap();
        assert_eq!(get_routes(proc_root.path()).unwrap().len(), 5);
    }
}
