//! Text as a sysfs `uevent` file and as a udev database record
//! (`qga_sys::udev`): never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::udev::{db_properties, db_record_name, devnode, uevent_properties};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for (key, value) in uevent_properties(&text) {
        assert!(!key.contains('\n') && !value.contains('\n'));
        if key == "DEVNAME" {
            let _ = devnode(value);
        }
    }
    for (key, value) in db_properties(&text) {
        assert!(!key.contains('\n') && !value.contains('\n'));
    }
    let mut words = text.split(':');
    let _ = db_record_name(
        data.first().is_some_and(|b| b & 1 == 1),
        words.next().unwrap_or(""),
        words.next().unwrap_or(""),
    );
});
