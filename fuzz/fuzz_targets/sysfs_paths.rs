//! Bytes as the parts of sysfs device paths the disk commands read
//! (`qga_sys::sysfs`: PCI roots and functions, SCSI targets, channel I/O
//! devices, `host<N>`/`ata<N>` names) and as scanf-style fields
//! (`qga_sys::scan`): never a panic; a scan never says it took more than
//! it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_sys::scan::Scanner;
use qga_sys::sysfs::{scan_ccw, scan_host_number, scan_pci_function, scan_pci_root, scan_target};

fuzz_target!(|data: &[u8]| {
    if let Some(taken) = scan_pci_root(data) {
        assert!(taken <= data.len());
    }
    if let Some((_, taken)) = scan_pci_function(data) {
        assert!(taken <= data.len());
    }
    let _ = scan_target(data);
    let _ = scan_ccw(data);
    let text = String::from_utf8_lossy(data);
    let _ = scan_host_number(&text, "host");
    let _ = scan_host_number(&text, "ata");
    let mut s = Scanner::new(data);
    for _ in 0..8 {
        let _ = (
            s.word(Some(4)),
            s.hex(),
            s.int(),
            s.signed(),
            s.unsigned_in(16),
            s.u32_clamped(10),
            s.lit(b':'),
        );
    }
});
