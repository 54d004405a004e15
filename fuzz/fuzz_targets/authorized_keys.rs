//! Bytes as a user's `~/.ssh/authorized_keys` (`qga_sys::authorized_keys`,
//! read as root from a file the user writes): never a panic; every key is
//! stripped, not empty and not a comment.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::authorized_keys::{keys, lines, strip};

fuzz_target!(|data: &[u8]| {
    let lines = lines(data);
    assert!(lines
        .iter()
        .all(|line| !line.contains(&b'\n') && !line.contains(&0)));
    for key in keys(&lines) {
        assert!(!key.is_empty() && key[0] != b'#');
        assert_eq!(strip(key), key);
    }
});
