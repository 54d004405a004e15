//! Bytes as a TZif zone file (`qga_sys::tz::Tzif`): every count and index
//! checked, so parsing never panics, and a parsed zone answers for any
//! instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::tz::Tzif;

fuzz_target!(|data: &[u8]| {
    if let Some(zone) = Tzif::parse(data) {
        for t in [i64::MIN, -1 << 40, -1, 0, 1_700_000_000, 1 << 40, i64::MAX] {
            let local = zone.at(t);
            assert!(local.offset.abs() <= 1 << 40, "{local:?}");
        }
    }
});
