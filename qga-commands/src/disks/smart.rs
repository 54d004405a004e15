//! NVMe SMART / health data for `guest-get-disks`.
//!
//! For a disk whose address says it sits on an NVMe controller, QEMU's
//! agent opens the disk's device node read-only and asks the controller,
//! through the kernel's admin passthrough, for the SMART / Health
//! Information log page (Get Log Page, log 02h, all namespaces, 512
//! bytes). The page's little-endian fields are reported as they are:
//! one-byte values and the two-byte composite temperature (kelvin) as
//! numbers, each 128-bit counter as its low and high 64-bit halves. When
//! the node cannot be opened or the command fails the disk is reported
//! without `smart`; the failure is only logged (at debug level). The
//! ioctl and the page's decoding are `qga_sys::nvme`'s.

use std::path::Path;

use qga_protocol::schema::{GuestDiskBusType, GuestDiskSmart};

use qga_sys::nvme::{decode_smart_log, nvme_smart_log, SmartLog};

/// The SMART data of the NVMe disk at device node `node`, or `None` (and
/// a debug message) if it cannot be had.
pub(super) fn nvme_smart(node: &Path) -> Option<GuestDiskSmart> {
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
    let dev = match rustix::fs::open(node, flags, rustix::fs::Mode::empty()) {
        Ok(dev) => dev,
        Err(e) => {
            log::debug!(
                "Failed to open device: {}: {}",
                node.display(),
                qga_sys::errno::strerror(e)
            );
            return None;
        }
    };
    match nvme_smart_log(&dev) {
        Ok(log) => Some(smart_reply(&decode_smart_log(&log))),
        Err(e) => {
            log::debug!("Failed to get smart: {}: {e}", node.display());
            None
        }
    }
}

/// The halves of a 128-bit counter: low, high.
fn halves(counter: u128) -> (u64, u64) {
    (counter as u64, (counter >> 64) as u64)
}

/// The reply's `smart` member for a decoded log page.
fn smart_reply(log: &SmartLog) -> GuestDiskSmart {
    let (data_units_read_lo, data_units_read_hi) = halves(log.data_units_read);
    let (data_units_written_lo, data_units_written_hi) = halves(log.data_units_written);
    let (host_read_commands_lo, host_read_commands_hi) = halves(log.host_read_commands);
    let (host_write_commands_lo, host_write_commands_hi) = halves(log.host_write_commands);
    let (controller_busy_time_lo, controller_busy_time_hi) = halves(log.controller_busy_time);
    let (power_cycles_lo, power_cycles_hi) = halves(log.power_cycles);
    let (power_on_hours_lo, power_on_hours_hi) = halves(log.power_on_hours);
    let (unsafe_shutdowns_lo, unsafe_shutdowns_hi) = halves(log.unsafe_shutdowns);
    let (media_errors_lo, media_errors_hi) = halves(log.media_errors);
    let (number_of_error_log_entries_lo, number_of_error_log_entries_hi) =
        halves(log.number_of_error_log_entries);
    GuestDiskSmart {
        r#type: GuestDiskBusType::Nvme,
        critical_warning: log.critical_warning.into(),
        temperature: log.temperature.into(),
        available_spare: log.available_spare.into(),
        available_spare_threshold: log.available_spare_threshold.into(),
        percentage_used: log.percentage_used.into(),
        data_units_read_lo,
        data_units_read_hi,
        data_units_written_lo,
        data_units_written_hi,
        host_read_commands_lo,
        host_read_commands_hi,
        host_write_commands_lo,
        host_write_commands_hi,
        controller_busy_time_lo,
        controller_busy_time_hi,
        power_cycles_lo,
        power_cycles_hi,
        power_on_hours_lo,
        power_on_hours_hi,
        unsafe_shutdowns_lo,
        unsafe_shutdowns_hi,
        media_errors_lo,
        media_errors_hi,
        number_of_error_log_entries_lo,
        number_of_error_log_entries_hi,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qga_sys::nvme::NVME_SMART_LOG_LEN;

    /// The reply member for log page `log`.
    fn decode(log: &[u8]) -> GuestDiskSmart {
        smart_reply(&decode_smart_log(log))
    }

    /// A log page with a distinct value in every reported field, and the
    /// bytes around and between them set, so that a field read from the
    /// wrong offset or with the wrong width or byte order shows.
    fn sample() -> [u8; NVME_SMART_LOG_LEN] {
        let mut log = [0xEEu8; NVME_SMART_LOG_LEN];
        log[0] = 0x05; // critical warning
        log[1..3].copy_from_slice(&0x0143u16.to_le_bytes()); // 323 K
        log[3] = 97; // available spare
        log[4] = 10; // threshold
        log[5] = 42; // percentage used
        for i in 0..10u64 {
            let at = 32 + 16 * i as usize;
            log[at..at + 8].copy_from_slice(&lo(i).to_le_bytes());
            log[at + 8..at + 16].copy_from_slice(&hi(i).to_le_bytes());
        }
        log
    }

    /// The low half of the `i`th counter of [`sample`].
    fn lo(i: u64) -> u64 {
        0x0101_0101_0101_0101 * (i + 1) + 0x10
    }

    /// The high half of the `i`th counter of [`sample`].
    fn hi(i: u64) -> u64 {
        0x0202_0202_0202_0202 * (i + 1) + 0x20
    }

    #[test]
    fn every_field_comes_from_its_offset() {
        let smart = decode(&sample());
        let expected = GuestDiskSmart {
            r#type: GuestDiskBusType::Nvme,
            critical_warning: 5,
            temperature: 323,
            available_spare: 97,
            available_spare_threshold: 10,
            percentage_used: 42,
            data_units_read_lo: lo(0),
            data_units_read_hi: hi(0),
            data_units_written_lo: lo(1),
            data_units_written_hi: hi(1),
            host_read_commands_lo: lo(2),
            host_read_commands_hi: hi(2),
            host_write_commands_lo: lo(3),
            host_write_commands_hi: hi(3),
            controller_busy_time_lo: lo(4),
            controller_busy_time_hi: hi(4),
            power_cycles_lo: lo(5),
            power_cycles_hi: hi(5),
            power_on_hours_lo: lo(6),
            power_on_hours_hi: hi(6),
            unsafe_shutdowns_lo: lo(7),
            unsafe_shutdowns_hi: hi(7),
            media_errors_lo: lo(8),
            media_errors_hi: hi(8),
            number_of_error_log_entries_lo: lo(9),
            number_of_error_log_entries_hi: hi(9),
        };
        assert_eq!(smart, expected);
    }

    #[test]
    fn high_bytes_and_unsigned_values_are_kept() {
        let mut log = [0u8; NVME_SMART_LOG_LEN];
        log[0] = 0xFF;
        log[1..3].copy_from_slice(&[0xFF, 0xFF]);
        log[5] = 255; // percentage used may exceed 100
        log[32..48].copy_from_slice(&[0xFF; 16]);
        let smart = decode(&log);
        assert_eq!(smart.critical_warning, 255);
        assert_eq!(smart.temperature, 65_535);
        assert_eq!(smart.percentage_used, 255);
        assert_eq!(
            (smart.data_units_read_lo, smart.data_units_read_hi),
            (u64::MAX, u64::MAX)
        );
        assert_eq!(smart.data_units_written_lo, 0);
    }

    #[test]
    fn serialized_as_qemu_names_the_members() {
        let value = serde_json::to_value(decode(&sample())).unwrap();
        assert_eq!(value["type"], "nvme");
        assert_eq!(value["temperature"], 323);
        assert_eq!(value["available-spare-threshold"], 10);
        assert_eq!(value["number-of-error-log-entries-hi"], hi(9));
        assert_eq!(value.as_object().map(|o| o.len()), Some(26));
    }

    #[test]
    fn a_node_that_is_not_nvme_gives_no_smart() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("nvme0n1");
        std::fs::write(&file, [0u8; 512]).unwrap();
        assert_eq!(nvme_smart(&file), None);
        assert_eq!(nvme_smart(&dir.path().join("missing")), None);
    }
}
