//! Modified UTF-8 (`qga_sys::mutf8`): any system bytes read back as text
//! without a panic, and any host text written as system bytes reads back as
//! itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::mutf8::{from_system_bytes, system_bytes, system_os_str};

fuzz_target!(|data: &[u8]| {
    let text = from_system_bytes(data);
    assert_eq!(from_system_bytes(&system_bytes(&text)), text);
    assert!(!system_bytes(&text).contains(&0));
    let _ = system_os_str(&text);
});
