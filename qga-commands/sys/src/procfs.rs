//! The `/proc` tables the agent reports: `diskstats`, the `cpuN` lines of
//! `stat`, `loadavg`, the `AT_CLKTCK` entry of `self/auxv`, and in
//! `net/` the `dev` counters and the `route` and `ipv6_route` tables.
//!
//! Each function takes the file's text (or one line of it) and gives the
//! fields as the reading QEMU's agent does converts them; which of them a
//! reply shows is the caller's business.

use crate::scan::Scanner;

/// Most counters a `/proc/diskstats` line has (with flushes, Linux 5.5).
const MAX_DISK_COUNTERS: usize = 17;
/// Most times a `/proc/stat` `cpuN` line has (up to `guest_nice`).
const MAX_CPU_TIMES: usize = 10;
/// Fewest times of a usable `cpuN` line (`user nice system idle`).
const MIN_CPU_TIMES: usize = 4;
/// `AT_CLKTCK` from `<linux/auxvec.h>`: the frequency `times()` counts at.
const AT_CLKTCK: u64 = 17;

/// Leading unsigned numbers of `fields`, at most `max`, as far as they
/// parse.
fn numbers<'a>(fields: impl Iterator<Item = &'a str>, max: usize) -> Vec<u64> {
    fields.take(max).map_while(|f| f.parse::<u64>().ok()).collect()
}

/// One `/proc/diskstats` line: `major minor name` and the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskStatsLine<'a> {
    /// The device's major number.
    pub major: u32,
    /// The device's minor number.
    pub minor: u32,
    /// The device's name (`vda`, `sda1`).
    pub name: &'a str,
    /// The leading counters that are numbers, at most 17. The kernel
    /// writes 4 (old partitions), 11, 15 (with discards) or 17 (with
    /// flushes).
    pub counters: Vec<u64>,
}

/// A line of `/proc/diskstats`; `None` when it does not start with two
/// numbers and a name.
pub fn parse_diskstats_line(line: &str) -> Option<DiskStatsLine<'_>> {
    let mut fields = line.split_whitespace();
    let major = fields.next()?.parse().ok()?;
    let minor = fields.next()?.parse().ok()?;
    let name = fields.next()?;
    Some(DiskStatsLine {
        major,
        minor,
        name,
        counters: numbers(fields, MAX_DISK_COUNTERS),
    })
}

/// One processor's times from a `cpuN` line of `/proc/stat`, in clock
/// ticks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpuTimes {
    /// The processor number, as C's `atoi` reads the digits after `cpu`
    /// (0 if there are none).
    pub cpu: i64,
    /// `user nice system idle`, then as far as the line has them `iowait
    /// irq softirq steal guest guest_nice`: 4 to 10 values.
    pub ticks: Vec<u64>,
}

/// The per-processor lines of `/proc/stat` text: every `cpuN` line (not
/// the `cpu` total), in order. A `cpuN` line with fewer than four times
/// ends the list, with a warning, as QEMU's agent stops there.
pub fn parse_cpu_lines(text: &str) -> Vec<CpuTimes> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(number) = name.strip_prefix("cpu").filter(|n| !n.is_empty()) else {
            continue;
        };
        let ticks = numbers(fields, MAX_CPU_TIMES);
        if ticks.len() < MIN_CPU_TIMES {
            log::warn!("Parsing cpu stat from /proc/stat failed, see \"man proc\"");
            break;
        }
        cpus.push(CpuTimes {
            cpu: atoi(number),
            ticks,
        });
    }
    cpus
}

/// C's `atoi` of a CPU number: leading digits, 0 if none (or too many).
fn atoi(text: &str) -> i64 {
    let len = text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len());
    text.get(..len)
        .and_then(|digits| digits.parse::<i64>().ok())
        .unwrap_or(0)
}

/// The three load averages of `/proc/loadavg`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadAverage {
    /// Over the last minute.
    pub one: f64,
    /// Over the last five minutes.
    pub five: f64,
    /// Over the last fifteen minutes.
    pub fifteen: f64,
}

/// The three load averages at the start of `/proc/loadavg` text; `None`
/// unless its first three fields are numbers.
pub fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    let mut next = || fields.next()?.ok();
    let (one, five, fifteen) = (next()?, next()?, next()?);
    Some(LoadAverage { one, five, fifteen })
}

/// The kernel's clock ticks per second (`AT_CLKTCK`, what `/proc/stat`
/// counts in) in the contents of `/proc/self/auxv` (pairs of native 64-bit
/// words): the first non-zero one; `None` if there is none.
pub fn clock_ticks(auxv: &[u8]) -> Option<u64> {
    auxv.chunks_exact(16).find_map(|pair| {
        let (key, value) = pair.split_at(8);
        let key = u64::from_ne_bytes(key.try_into().ok()?);
        let value = u64::from_ne_bytes(value.try_into().ok()?);
        (key == AT_CLKTCK && value > 0).then_some(value)
    })
}

/// An interface's counters in `/proc/net/dev`, as QEMU's agent reads them
/// (`%ld`: signed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetDevCounters {
    /// Bytes received.
    pub rx_bytes: i64,
    /// Packets received.
    pub rx_packets: i64,
    /// Receive errors.
    pub rx_errs: i64,
    /// Received packets dropped.
    pub rx_dropped: i64,
    /// Bytes sent.
    pub tx_bytes: i64,
    /// Packets sent.
    pub tx_packets: i64,
    /// Send errors.
    pub tx_errs: i64,
    /// Packets to send dropped.
    pub tx_dropped: i64,
}

/// The counters of interface `name` in the text of `/proc/net/dev`: the
/// first line `name: <16 numbers>` (leading white space allowed); `None`
/// when no line names it with 16 numbers.
pub fn net_dev_counters(dev: &[u8], name: &[u8]) -> Option<NetDevCounters> {
    for line in dev.split(|&b| b == b'\n') {
        let Some(start) = line.iter().position(|b| !b.is_ascii_whitespace()) else {
            continue;
        };
        let line = line.get(start..).unwrap_or_default();
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        if line.get(..colon) != Some(name) {
            continue;
        }
        let mut scan = Scanner::new(line.get(colon + 1..).unwrap_or_default());
        let values: Vec<i64> = (0..16).map_while(|_| scan.signed()).collect();
        if let [rx_bytes, rx_packets, rx_errs, rx_dropped, _, _, _, _, tx_bytes, tx_packets, tx_errs, tx_dropped, _, _, _, _] =
            values[..]
        {
            return Some(NetDevCounters {
                rx_bytes,
                rx_packets,
                rx_errs,
                rx_dropped,
                tx_bytes,
                tx_packets,
                tx_errs,
                tx_dropped,
            });
        }
    }
    None
}

/// One line of `/proc/net/route`, converted as QEMU's agent's
/// `"%s%X%X%X%d%d%d%X%d%d%d"` converts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Route<'a> {
    /// The interface.
    pub iface: &'a [u8],
    /// The destination, in network byte order.
    pub destination: [u8; 4],
    /// The gateway, in network byte order.
    pub gateway: [u8; 4],
    /// `RTF_*` flags.
    pub flags: u32,
    /// Reference count.
    pub refcnt: i32,
    /// Use count.
    pub use_count: i32,
    /// Metric.
    pub metric: i32,
    /// The destination's mask, in network byte order.
    pub mask: [u8; 4],
    /// MTU.
    pub mtu: i32,
    /// TCP window.
    pub window: i32,
    /// Initial round trip time.
    pub irtt: i32,
}

/// A line of `/proc/net/route`: `Iface Destination Gateway Flags RefCnt Use
/// Metric Mask MTU Window IRTT`, the addresses and mask little-endian
/// hexadecimal words; `None` unless all eleven fields are there.
pub fn parse_route_line(line: &[u8]) -> Option<Ipv4Route<'_>> {
    let mut s = Scanner::new(line);
    let iface = s.word(None)?;
    let destination = s.hex()?.to_le_bytes();
    let gateway = s.hex()?.to_le_bytes();
    let flags = s.hex()?;
    let refcnt = s.int()?;
    let use_count = s.int()?;
    let metric = s.int()?;
    let mask = s.hex()?.to_le_bytes();
    let mtu = s.int()?;
    let window = s.int()?;
    let irtt = s.int()?;
    Some(Ipv4Route {
        iface,
        destination,
        gateway,
        flags,
        refcnt,
        use_count,
        metric,
        mask,
        mtu,
        window,
        irtt,
    })
}

/// The routes in the text of `/proc/net/route` (after its header line);
/// lines that do not parse are skipped.
pub fn parse_route_table(text: &[u8]) -> Vec<Ipv4Route<'_>> {
    text.split_inclusive(|&b| b == b'\n')
        .skip(1)
        .filter_map(parse_route_line)
        .collect()
}

/// One line of `/proc/net/ipv6_route`, converted as QEMU's agent's
/// `"%32s%x%32s%x%32s%x%x%x%x%s"` converts it (the numbers into C `int`s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Route<'a> {
    /// The destination.
    pub destination: [u8; 16],
    /// The destination's prefix length.
    pub destination_prefix_len: i32,
    /// The source, `None` if its hexadecimal text does not read.
    pub source: Option<[u8; 16]>,
    /// The source's prefix length.
    pub source_prefix_len: i32,
    /// The next hop, `None` if its hexadecimal text does not read.
    pub next_hop: Option<[u8; 16]>,
    /// Metric (`ffffffff` is -1).
    pub metric: i32,
    /// Reference count.
    pub refcnt: i32,
    /// Use count.
    pub use_count: i32,
    /// `RTF_*` flags.
    pub flags: i32,
    /// The interface.
    pub iface: &'a [u8],
}

/// 32 hexadecimal digits (an address in `/proc/net/ipv6_route`) as the 16
/// bytes of an IPv6 address, each byte read from its two digits as `%2hhx`
/// would (a pair whose second character is not a digit gives the first
/// digit's value); `None` when a pair does not start with a hexadecimal
/// digit, or the text is short.
pub fn ipv6_from_hex(hex: &[u8]) -> Option<[u8; 16]> {
    let mut bytes = [0u8; 16];
    for (i, byte) in bytes.iter_mut().enumerate() {
        let pair = hex.get(i * 2..(i * 2 + 2).min(hex.len()))?;
        let mut digits = pair.iter().map_while(|&b| char::from(b).to_digit(16));
        *byte = match (digits.next(), digits.next()) {
            (Some(high), Some(low)) => (high * 16 + low) as u8,
            (Some(only), None) => only as u8,
            (None, _) => return None,
        };
    }
    Some(bytes)
}

/// A line of `/proc/net/ipv6_route`: destination, its prefix length,
/// source, its prefix length, next hop, metric, reference count, use
/// count, flags, interface (numbers in hexadecimal); `None` when a field
/// is missing or the destination does not read.
pub fn parse_ipv6_route_line(line: &[u8]) -> Option<Ipv6Route<'_>> {
    let mut s = Scanner::new(line);
    let destination = s.word(Some(32))?;
    let destination_prefix_len = s.hex()? as i32;
    let source = s.word(Some(32))?;
    let source_prefix_len = s.hex()? as i32;
    let next_hop = s.word(Some(32))?;
    let metric = s.hex()? as i32;
    let refcnt = s.hex()? as i32;
    let use_count = s.hex()? as i32;
    let flags = s.hex()? as i32;
    let iface = s.word(None)?;
    Some(Ipv6Route {
        destination: ipv6_from_hex(destination)?,
        destination_prefix_len,
        source: ipv6_from_hex(source),
        source_prefix_len,
        next_hop: ipv6_from_hex(next_hop),
        metric,
        refcnt,
        use_count,
        flags,
        iface,
    })
}

/// The routes in the text of `/proc/net/ipv6_route` (no header); lines
/// that do not parse are skipped.
pub fn parse_ipv6_route_table(text: &[u8]) -> Vec<Ipv6Route<'_>> {
    text.split_inclusive(|&b| b == b'\n')
        .filter_map(parse_ipv6_route_line)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_lines() {
        let line =
            parse_diskstats_line(" 254       0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18").unwrap();
        assert_eq!((line.major, line.minor, line.name), (254, 0, "vda"));
        assert_eq!(line.counters, (1..=17).collect::<Vec<u64>>());
        let short = parse_diskstats_line("8 1 sda1 1 2 x 4").unwrap();
        assert_eq!(short.counters, [1, 2]);
        assert_eq!(parse_diskstats_line("8 1").map(|l| l.counters), None);
        assert_eq!(parse_diskstats_line("x 1 sda1 1 2 3 4"), None);
        assert_eq!(parse_diskstats_line("4294967296 1 sda1 1 2 3 4"), None);
        assert_eq!(parse_diskstats_line(""), None);
    }

    #[test]
    fn cpu_lines() {
        let text = "cpu  1 2 3 4\ncpu0 1 2 3 4 5 6 7 8 9 10 11\nintr 1\ncpu1x 5 6 7 8\ncpufoo 1 2 3\ncpu3 1\ncpu4 1 2 3 4\n";
        let cpus = parse_cpu_lines(text);
        assert_eq!(
            cpus,
            [
                CpuTimes {
                    cpu: 0,
                    ticks: (1..=10).collect()
                },
                CpuTimes {
                    cpu: 1,
                    ticks: vec![5, 6, 7, 8]
                },
            ],
            "cpufoo's short line ends the list"
        );
        assert_eq!(atoi("99999999999999999999"), 0);
        assert_eq!(parse_cpu_lines(""), []);
    }

    #[test]
    fn load_and_clock_ticks() {
        let avg = parse_loadavg("0.52 1.25 10.00 2/345 6789\n").unwrap();
        assert_eq!((avg.one, avg.five, avg.fifteen), (0.52, 1.25, 10.0));
        assert_eq!(parse_loadavg("0.5 1\n"), None);
        let pair = |k: u64, v: u64| [k.to_ne_bytes(), v.to_ne_bytes()].concat();
        let auxv = [pair(6, 4096), pair(17, 0), pair(17, 250), pair(0, 0)].concat();
        assert_eq!(clock_ticks(&auxv), Some(250));
        assert_eq!(clock_ticks(&auxv[..40]), None);
        assert_eq!(clock_ticks(b""), None);
    }

    const DEV: &[u8] = b"Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    3193      29    0    0    0     0          0         0     3193      29    0    0    0     0       0          0
  eth0: 382128573   12489    1    2    0     0          0         0   650001    7522    3    4    0     0       0          0
";

    #[test]
    fn net_dev() {
        let eth0 = net_dev_counters(DEV, b"eth0").unwrap();
        assert_eq!(
            (eth0.rx_bytes, eth0.rx_packets, eth0.rx_errs, eth0.rx_dropped),
            (382_128_573, 12489, 1, 2)
        );
        assert_eq!(
            (eth0.tx_bytes, eth0.tx_packets, eth0.tx_errs, eth0.tx_dropped),
            (650_001, 7522, 3, 4)
        );
        assert_eq!(net_dev_counters(DEV, b"eth"), None);
        assert_eq!(net_dev_counters(DEV, b"face |bytes"), None);
        assert_eq!(net_dev_counters(b"  x: 1 2 3\n", b"x"), None);
        let negative = net_dev_counters(b"x: -1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16", b"x").unwrap();
        assert_eq!(negative.rx_bytes, -1);
    }

    #[test]
    fn routes() {
        let routes = parse_route_table(
            b"Iface\tDestination\tGateway\nx\t000200C0\t010200C0\t0003\t1\t5\t-1\t00FFFFFF\t1500\t0\t7\nbroken\n",
        );
        assert_eq!(
            routes,
            [Ipv4Route {
                iface: b"x",
                destination: [192, 0, 2, 0],
                gateway: [192, 0, 2, 1],
                flags: 3,
                refcnt: 1,
                use_count: 5,
                metric: -1,
                mask: [255, 255, 255, 0],
                mtu: 1500,
                window: 0,
                irtt: 7,
            }]
        );
        let v6 = parse_ipv6_route_line(
            b"fd000000000000000000000000000001 40 zz 00 00000000000000000000000000000000 ffffffff 1 2 80200001 lo\n",
        )
        .unwrap();
        assert_eq!(v6.destination[0], 0xfd);
        assert_eq!(v6.destination[15], 1);
        assert_eq!(
            (v6.destination_prefix_len, v6.source, v6.next_hop),
            (64, None, Some([0; 16]))
        );
        assert_eq!((v6.metric, v6.refcnt, v6.use_count), (-1, 1, 2));
        assert_eq!((v6.flags, v6.iface), (0x8020_0001_u32 as i32, &b"lo"[..]));
        assert_eq!(parse_ipv6_route_line(b"zz 0 0 0 0 0 0 0 0 lo"), None);
        assert_eq!(parse_ipv6_route_table(b"\n\n"), []);
    }

    #[test]
    fn ipv6_hex() {
        assert_eq!(
            ipv6_from_hex(b"fe8000000000000000fc00fffe000001"),
            Some([0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0xfc, 0, 0xff, 0xfe, 0, 0, 1])
        );
        assert_eq!(ipv6_from_hex(b"fe80"), None);
        assert_eq!(ipv6_from_hex(b"fe8"), None);
        assert_eq!(
            ipv6_from_hex(b"fe8000000000000000fc00fffe00000g").map(|b| b[15]),
            Some(0)
        );
    }
}
