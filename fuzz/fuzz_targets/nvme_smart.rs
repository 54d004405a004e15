//! Bytes as an NVMe SMART / Health Information log page
//! (`qga_sys::nvme::decode_smart_log`), whatever its length: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::nvme::decode_smart_log;

fuzz_target!(|data: &[u8]| {
    let _ = decode_smart_log(data);
});
