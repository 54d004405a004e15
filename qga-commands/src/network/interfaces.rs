//! `guest-network-get-interfaces`: one entry per name `getifaddrs` reports,
//! in the order it first reports it (every link, then IPv4 labels that are
//! not link names), each with its addresses in the kernel's order.
//!
//! As in QEMU: the hardware address is the first six bytes of the device's
//! address, zeros where it has fewer (`00:00:00:00:00:00` for `lo`), looked
//! up by the name before any `:`; counters from `/proc/net/dev`
//! (`qga_sys::procfs::net_dev_counters`) are given only for interfaces that
//! have an address. Addresses are written as glibc's `inet_ntop` writes
//! them (`qga_sys::inet`).

use std::path::Path;

use qga_protocol::schema::{
    GuestIpAddress, GuestIpAddressType, GuestNetworkInterface, GuestNetworkInterfaceStat,
};

use qga_sys::inet::{ipv4_text, ipv6_text};
use qga_sys::netlink::{self, Address, Link};
use qga_sys::procfs::net_dev_counters;

use crate::error::CommandError;

/// `AF_INET`.
const AF_INET: u8 = 2;
/// `AF_INET6`.
const AF_INET6: u8 = 10;

/// The counters of `name` in the text of `/proc/net/dev`, as QEMU's agent
/// stores them (a C `long` into a `uint64`).
fn find_stats(dev: &[u8], name: &[u8]) -> Option<GuestNetworkInterfaceStat> {
    let c = net_dev_counters(dev, name)?;
    Some(GuestNetworkInterfaceStat {
        tx_packets: c.tx_packets as u64,
        tx_errs: c.tx_errs as u64,
        rx_bytes: c.rx_bytes as u64,
        rx_dropped: c.rx_dropped as u64,
        rx_packets: c.rx_packets as u64,
        rx_errs: c.rx_errs as u64,
        tx_bytes: c.tx_bytes as u64,
        tx_dropped: c.tx_dropped as u64,
    })
}

/// `xx:xx:xx:xx:xx:xx` of the first six bytes of `address`, zero-padded.
fn hardware_text(address: Option<&[u8]>) -> String {
    let mut bytes = [0u8; 6];
    for (to, from) in bytes.iter_mut().zip(address.unwrap_or(&[])) {
        *to = *from;
    }
    bytes.map(|b| format!("{b:02x}")).join(":")
}

/// One entry being built.
struct Entry {
    info: GuestNetworkInterface,
}

impl Entry {
    fn find<'a>(entries: &'a mut Vec<Entry>, name: &str, links: &[Link]) -> &'a mut Entry {
        let at = match entries.iter().position(|e| e.info.name == name) {
            Some(at) => at,
            None => {
                entries.push(Entry {
                    info: GuestNetworkInterface {
                        name: name.to_string(),
                        ip_addresses: None,
                        statistics: None,
                        hardware_address: None,
                    },
                });
                entries.len() - 1
            }
        };
        let entry = &mut entries[at];
        if entry.info.hardware_address.is_none() {
            // The device named before any ':' (an address label's device).
            let device = name.split(':').next().unwrap_or(name).as_bytes();
            if let Some(link) = links.iter().find(|l| l.name == device) {
                entry.info.hardware_address = Some(hardware_text(link.address.as_deref()));
            }
        }
        entry
    }
}

/// The address entry of `address`, for the families QEMU reports.
fn ip_address(address: &Address) -> Option<GuestIpAddress> {
    let local = address.local.as_deref()?;
    let (ip_address_type, ip_address, max) = match address.family {
        AF_INET => {
            let b: [u8; 4] = local.get(..4)?.try_into().ok()?;
            (GuestIpAddressType::Ipv4, ipv4_text(b), 32)
        }
        AF_INET6 => {
            let b: [u8; 16] = local.get(..16)?.try_into().ok()?;
            (GuestIpAddressType::Ipv6, ipv6_text(&b), 128)
        }
        _ => return None,
    };
    Some(GuestIpAddress {
        ip_address_type,
        ip_address,
        prefix: i64::from(address.prefix_len.min(max)),
    })
}

/// Builds the reply from the link and address dumps and the text of
/// `/proc/net/dev` (`None` if it could not be read).
pub(crate) fn build(links: &[Link], addresses: &[Address], dev: Option<&[u8]>) -> Vec<GuestNetworkInterface> {
    let mut entries: Vec<Entry> = Vec::new();
    for link in links {
        Entry::find(&mut entries, &String::from_utf8_lossy(&link.name), links);
    }
    for address in addresses {
        let name = match &address.label {
            Some(label) => String::from_utf8_lossy(label).into_owned(),
            None => match links
                .iter()
                .find(|l| u32::try_from(l.index).ok() == Some(address.index))
            {
                Some(link) => String::from_utf8_lossy(&link.name).into_owned(),
                // An address of an interface that appeared after the link
                // dump: not reported.
                None => continue,
            },
        };
        let entry = Entry::find(&mut entries, &name, links);
        let Some(item) = ip_address(address) else {
            continue;
        };
        entry.info.ip_addresses.get_or_insert_with(Vec::new).push(item);
        if entry.info.statistics.is_none() {
            entry.info.statistics = dev.and_then(|dev| find_stats(dev, name.as_bytes()));
        }
    }
    entries.into_iter().map(|e| e.info).collect()
}

/// `guest-network-get-interfaces`, with counters from `<proc>/net/dev`.
pub(super) fn get_interfaces(proc_root: &Path) -> Result<Vec<GuestNetworkInterface>, CommandError> {
    let (links, addresses) = netlink::dump_links_and_addresses().map_err(CommandError::Getifaddrs)?;
    let dev = std::fs::read(proc_root.join("net/dev")).ok();
    Ok(build(&links, &addresses, dev.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: &[u8] = b"Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 382128573   12489    1    2    0     0          0         0   650001    7522    3    4    0     0       0          0
";

    fn link(index: i32, name: &str, address: Option<&[u8]>) -> Link {
        Link {
            index,
            name: name.as_bytes().to_vec(),
            address: address.map(<[u8]>::to_vec),
        }
    }

    fn addr(family: u8, index: u32, local: &[u8], prefix_len: u8, label: Option<&str>) -> Address {
        Address {
            family,
            prefix_len,
            index,
            label: label.map(|l| l.as_bytes().to_vec()),
            local: Some(local.to_vec()),
        }
    }

    #[test]
    fn counters_are_stored_as_qemu_stores_them() {
        // The table is parsed by `qga_sys::procfs`; a C `long` lands in a
        // `uint64`.
        assert_eq!(
            find_stats(DEV, b"eth0"),
            Some(GuestNetworkInterfaceStat {
                rx_bytes: 382_128_573,
                rx_packets: 12489,
                rx_errs: 1,
                rx_dropped: 2,
                tx_bytes: 650_001,
                tx_packets: 7522,
                tx_errs: 3,
                tx_dropped: 4,
            })
        );
        let negative = find_stats(b"x: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", b"x").unwrap();
        assert_eq!(negative.rx_bytes, u64::MAX);
        assert_eq!(find_stats(DEV, b"eth"), None);
    }

    #[test]
    fn interfaces_are_built_as_qemu_builds_them() {
        let mac = [2u8, 0xfc, 0, 0, 0, 1];
        let links = [
            link(1, "lo", Some(&[0; 6])),
            link(2, "ifb0", Some(&[0x0a, 0xf2, 0, 0x6f, 0x3f, 0xc5])),
            link(4, "eth0", Some(&mac)),
            link(5, "tun0", None),
        ];
        let mut loopback6 = [0u8; 16];
        loopback6[15] = 1;
        let addresses = [
            addr(AF_INET, 1, &[127, 0, 0, 1], 8, Some("lo")),
            addr(AF_INET, 4, &[192, 0, 2, 2], 24, Some("eth0")),
            addr(AF_INET, 4, &[192, 0, 2, 3], 24, Some("eth0:1")),
            addr(AF_INET6, 1, &loopback6, 128, None),
            addr(AF_INET6, 9, &loopback6, 128, None),
        ];
        let got = build(&links, &addresses, Some(DEV));
        let names: Vec<&str> = got.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, ["lo", "ifb0", "eth0", "tun0", "eth0:1"]);
        let json = serde_json::to_string(&got[0]).unwrap();
        assert_eq!(
            json,
            r#"{"name":"lo","ip-addresses":[{"ip-address-type":"ipv4","ip-address":"127.0.0.1","prefix":8},{"ip-address-type":"ipv6","ip-address":"::1","prefix":128}],"statistics":{"tx-packets":29,"tx-errs":0,"rx-bytes":3193,"rx-dropped":0,"rx-packets":29,"rx-errs":0,"tx-bytes":3193,"tx-dropped":0},"hardware-address":"00:00:00:00:00:00"}"#
        );
        assert_eq!(
            serde_json::to_string(&got[1]).unwrap(),
            r#"{"name":"ifb0","hardware-address":"0a:f2:00:6f:3f:c5"}"#
        );
        // A device without a hardware address reports zeros.
        assert_eq!(got[3].hardware_address.as_deref(), Some("00:00:00:00:00:00"));
        // An address label: its device's hardware address, no counters.
        assert_eq!(got[4].hardware_address.as_deref(), Some("02:fc:00:00:00:01"));
        assert_eq!(got[4].statistics, None);
        assert_eq!(got[4].ip_addresses.as_ref().unwrap().len(), 1);
        // Without /proc/net/dev: no counters at all.
        assert!(build(&links, &addresses, None)
            .iter()
            .all(|i| i.statistics.is_none()));
    }
}
