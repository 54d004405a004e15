//! Text as `/proc/self/mountinfo` and `/proc/self/mounts`
//! (`qga_sys::mountinfo`): never a panic; unescaping never grows a field.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::mountinfo::{parse_mountinfo, parse_mounts, unescape};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for mount in parse_mountinfo(&text) {
        assert!(!mount.dir.contains('\n'));
    }
    let _ = parse_mounts(&text);
    assert!(unescape(&text).len() <= text.len() + text.matches('\\').count() * 2);
});
