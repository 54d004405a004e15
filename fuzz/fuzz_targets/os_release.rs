//! Bytes as an os-release file (`qga_sys::osrelease`: a key file under an
//! `[os-release]` group, values unquoted as QEMU's agent unquotes them,
//! which may repeat the tail of a value whose closing quote is missing):
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::osrelease::{unquote, OsRelease};

fuzz_target!(|data: &[u8]| {
    if let Ok(release) = OsRelease::parse(data) {
        for key in [
            "ID",
            "NAME",
            "PRETTY_NAME",
            "VERSION",
            "VERSION_ID",
            "VARIANT",
            "VARIANT_ID",
        ] {
            let _ = release.value(key);
        }
    }
    let _ = unquote(&String::from_utf8_lossy(data));
});
