//! Bytes as a GLib key file (`qga_sys::keyfile`: the configuration file,
//! the state file and os-release are read through it): parsing never
//! panics, every value unescapes or is refused, and a value escaped for a
//! dump reads back as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::keyfile::{escape, unescape, KeyFile};

fuzz_target!(|data: &[u8]| {
    let Ok(file) = KeyFile::parse(data) else { return };
    for group in ["general", "global", "os-release", "system-roots"] {
        for (key, value) in file.entries(group) {
            assert_eq!(file.value(group, key), Some(value));
            let _ = file.string(group, key);
            if let Ok(text) = unescape(value) {
                assert_eq!(unescape(&escape(&text)).as_deref(), Ok(text.as_str()));
            }
        }
    }
});
