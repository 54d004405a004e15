//! Bytes as one of the `/proc` tables the agent reads (`qga_sys::procfs`),
//! the first byte choosing which: `diskstats` lines, `stat`, `loadavg`,
//! `self/auxv`, `net/dev` (the counters of an interface named in the input),
//! `net/route` and `net/ipv6_route`. Never a panic; parsed routes keep
//! their fields within the line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::inet::{ipv4_text, ipv6_text};
use qga_sys::procfs;

fuzz_target!(|data: &[u8]| {
    let Some((&which, table)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(table);
    match which % 7 {
        0 => {
            for line in text.lines() {
                let _ = procfs::parse_diskstats_line(line);
            }
        }
        1 => {
            let _ = procfs::parse_cpu_lines(&text);
        }
        2 => {
            let _ = procfs::parse_loadavg(&text);
        }
        3 => {
            let _ = procfs::clock_ticks(table);
        }
        4 => {
            // The first word names the interface looked up.
            let name = table
                .split(|b| b.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            let _ = procfs::net_dev_counters(table, name);
        }
        5 => {
            for route in procfs::parse_route_table(table) {
                let _ = format!("{route:?}");
            }
        }
        _ => {
            for route in procfs::parse_ipv6_route_table(table) {
                let _ = format!("{route:?}");
            }
            if let Some(address) = procfs::ipv6_from_hex(table) {
                let _ = ipv6_text(&address);
            }
        }
    }
    if let Ok(four) = <[u8; 4]>::try_from(table.get(..4).unwrap_or_default()) {
        let _ = ipv4_text(four);
    }
});
