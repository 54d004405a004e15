//! Bytes as a utmp file in both of glibc's record layouts
//! (`qga_sys::utmp`): never a panic, at most one login per whole record.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::utmp::{parse, Layout};

fuzz_target!(|data: &[u8]| {
    for layout in [Layout::TIME32, Layout::TIME64] {
        let logins = parse(data, layout);
        assert!(logins.len() <= data.len() / layout.record_len());
        assert!(logins.iter().all(|login| login.user.len() <= 32));
    }
});
