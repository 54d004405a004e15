//! Text as a POSIX `TZ` rule (`qga_sys::tz::PosixTz`) and as a whole `TZ`
//! setting (`qga_sys::tz::Zone::from_setting`, with no zone files to find):
//! never a panic, and a rule answers for any instant.
#![no_main]

use std::ffi::OsStr;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use qga_sys::tz::{PosixTz, Zone};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(rule) = PosixTz::parse(text) {
        for t in [i64::MIN, -1, 0, 1_700_000_000, 4_102_444_800, i64::MAX] {
            let _ = rule.at(t);
        }
    }
    let nowhere = Path::new("/nonexistent/qga-fuzz");
    if let Some(zone) = Zone::from_setting(Some(OsStr::new(text)), nowhere, nowhere) {
        let _ = zone.at(1_700_000_000);
    }
});
