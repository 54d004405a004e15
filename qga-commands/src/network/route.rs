//! `guest-network-get-route`: the kernel's IPv4 routes from
//! `<proc>/net/route`, then its IPv6 routes from `<proc>/net/ipv6_route`.
//!
//! Fields are converted as QEMU's `sscanf` formats convert them: IPv4
//! addresses are little-endian hexadecimal words; IPv6 metric, reference
//! count, use count and flags are hexadecimal C `int`s (so
//! `ffffffff` is a metric of -1, and a flags word with its top bit set is
//! sign-extended into the 64-bit `flags`); prefix lengths become decimal
//! text. A line that does not parse is skipped. A file that cannot be
//! opened makes the command fail. The lines are read by `qga_sys::procfs`,
//! addresses written by `qga_sys::inet`.

use std::path::Path;

use qga_protocol::schema::GuestNetworkRoute;
use qga_sys::inet::{ipv4_text, ipv6_text};
use qga_sys::procfs::{self, Ipv4Route, Ipv6Route};

use crate::error::{Call, CommandError};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The reply entry of an IPv4 route.
fn ipv4_route(route: &Ipv4Route) -> GuestNetworkRoute {
    GuestNetworkRoute {
        flags: Some(u64::from(route.flags)),
        source: None,
        metric: i64::from(route.metric),
        refcnt: Some(i64::from(route.refcnt)),
        window: Some(i64::from(route.window)),
        version: 4,
        nexthop: None,
        iface: text(route.iface),
        destination: ipv4_text(route.destination),
        desprefixlen: None,
        irtt: Some(i64::from(route.irtt)),
        gateway: Some(ipv4_text(route.gateway)),
        srcprefixlen: None,
        use_: Some(i64::from(route.use_count)),
        mtu: Some(i64::from(route.mtu)),
        mask: Some(ipv4_text(route.mask)),
    }
}

/// The reply entry of an IPv6 route.
fn ipv6_route(route: &Ipv6Route) -> GuestNetworkRoute {
    GuestNetworkRoute {
        // A C int stored into a uint64: sign-extended.
        flags: Some(i64::from(route.flags) as u64),
        source: route.source.as_ref().map(ipv6_text),
        metric: i64::from(route.metric),
        refcnt: Some(i64::from(route.refcnt)),
        window: None,
        version: 6,
        nexthop: route.next_hop.as_ref().map(ipv6_text),
        iface: text(route.iface),
        destination: ipv6_text(&route.destination),
        desprefixlen: Some(route.destination_prefix_len.to_string()),
        irtt: None,
        gateway: None,
        srcprefixlen: Some(route.source_prefix_len.to_string()),
        use_: Some(i64::from(route.use_count)),
        mtu: None,
        mask: None,
    }
}

/// The routes in the text of `/proc/net/route` (after its header line).
pub(crate) fn parse_ipv4_table(text: &[u8]) -> Vec<GuestNetworkRoute> {
    procfs::parse_route_table(text).iter().map(ipv4_route).collect()
}

/// The routes in the text of `/proc/net/ipv6_route` (no header).
pub(crate) fn parse_ipv6_table(text: &[u8]) -> Vec<GuestNetworkRoute> {
    procfs::parse_ipv6_route_table(text)
        .iter()
        .map(ipv6_route)
        .collect()
}

/// `guest-network-get-route`, from `<proc>/net/route` and
/// `<proc>/net/ipv6_route`.
pub(super) fn get_routes(proc_root: &Path) -> Result<Vec<GuestNetworkRoute>, CommandError> {
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
                failure.get_or_insert_with(|| CommandError::call(Call::Open, path.display(), e));
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
        let route = |hop: &[u8]| {
            let mut line =
                b"fe8000000000000000fc00fffe000001 40 00000000000000000000000000000000 00 ".to_vec();
            line.extend_from_slice(hop);
            line.extend_from_slice(b" 0 0 0 0 eth0\n");
            parse_ipv6_table(&line).pop().and_then(|r| r.nexthop)
        };
        assert_eq!(parse_ipv4_table(ROUTE)[0].gateway.as_deref(), Some("192.0.2.1"));
        assert_eq!(
            route(b"fe8000000000000000fc00fffe000001").as_deref(),
            Some("fe80::fc:ff:fe00:1")
        );
        assert_eq!(route(b"fe80"), None);
        assert_eq!(
            route(b"fe8000000000000000fc00fffe00000g").as_deref(),
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
            get_routes(proc_root.path()).unwrap_err().to_string(),
            format!("open(\"{root}/net/ipv6_route\"): No such file or directory")
        );
        fs::write(net.join("ipv6_route"), IPV6_ROUTE).unwrap();
        assert_eq!(get_routes(proc_root.path()).unwrap().len(), 5);
    }
}
