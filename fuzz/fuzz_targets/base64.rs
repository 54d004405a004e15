//! Base64 as GLib decodes it (`qga_sys::base64`): any text is decoded or
//! refused without a panic, never to more than three bytes per four
//! characters, and what is encoded decodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::base64::{decode, encode};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(bytes) = decode(text) {
            assert!(bytes.len() <= text.len() / 4 * 3);
        }
    }
    assert_eq!(decode(&encode(data)).as_deref(), Ok(data));
});
