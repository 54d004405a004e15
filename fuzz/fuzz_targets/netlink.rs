//! Bytes as a route netlink datagram of link and address messages
//! (`qga_sys::netlink`), the first byte choosing the sequence number to
//! wait for: splitting and parsing never panic, whatever the lengths say.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::netlink::{parse_address, parse_link, split_datagram};

/// `RTM_NEWLINK` and `RTM_NEWADDR`.
const KINDS: [u16; 2] = [16, 20];

fuzz_target!(|data: &[u8]| {
    let Some((&seq, datagram)) = data.split_first() else {
        return;
    };
    for kind in KINDS {
        let mut payloads = Vec::new();
        let _ = split_datagram(datagram, u32::from(seq), kind, &mut payloads);
        for payload in &payloads {
            assert!(payload.len() <= datagram.len());
            let _ = parse_link(payload);
            let _ = parse_address(payload);
        }
    }
    let _ = parse_link(datagram);
    let _ = parse_address(datagram);
});
