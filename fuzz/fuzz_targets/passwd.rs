//! Bytes as a password file (`qga_sys::passwd`), looked up for the name on
//! its first line: never a panic; a user found is named so.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::passwd::{find_user, parse_passwd_line};

fuzz_target!(|data: &[u8]| {
    let first = data.split(|&b| b == b'\n').next().unwrap_or_default();
    let name = first.split(|&b| b == b':').next().unwrap_or_default();
    let _ = find_user(data, name);
    let _ = parse_passwd_line(first, name);
    if find_user(data, b"").is_some() {
        panic!("an empty name matched");
    }
});
