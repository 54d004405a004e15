//! NVMe admin commands through the kernel's passthrough
//! (`NVME_IOCTL_ADMIN_CMD` from `<linux/nvme_ioctl.h>`): the SMART / Health
//! Information log page, and its decoding ([`decode_smart_log`]).
#![allow(unsafe_code)]

use std::os::fd::AsFd;

use rustix::io;
use rustix::ioctl::{opcode, Opcode};

use crate::errno::strerror;

/// `struct nvme_passthru_cmd`, which `<linux/nvme_ioctl.h>` also names
/// `struct nvme_admin_cmd`: one NVMe admin command for the kernel to pass
/// to the controller, and on return the command's result (completion
/// dword 0).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct NvmeAdminCmd {
    opcode: u8,
    flags: u8,
    rsvd1: u16,
    nsid: u32,
    cdw2: u32,
    cdw3: u32,
    metadata: u64,
    /// User address of the data buffer.
    addr: u64,
    metadata_len: u32,
    /// Length of the data buffer in bytes.
    data_len: u32,
    cdw10: u32,
    cdw11: u32,
    cdw12: u32,
    cdw13: u32,
    cdw14: u32,
    cdw15: u32,
    /// 0: the kernel's default admin timeout.
    timeout_ms: u32,
    result: u32,
}

/// `NVME_IOCTL_ADMIN_CMD`: `_IOWR('N', 0x41, struct nvme_admin_cmd)`.
const NVME_IOCTL_ADMIN_CMD: Opcode = opcode::read_write::<NvmeAdminCmd>(b'N', 0x41);

/// The admin command Get Log Page (NVMe base specification).
const NVME_ADMIN_GET_LOG_PAGE: u8 = 0x02;
/// Log page identifier of SMART / Health Information.
const NVME_LOG_SMART: u32 = 0x02;
/// Namespace identifier meaning the controller as a whole.
const NVME_NSID_ALL: u32 = 0xFFFF_FFFF;
/// Get Log Page's "retain asynchronous event" bit (command dword 10): the
/// read leaves pending SMART events for whoever else waits on them.
const NVME_LOG_RAE: u32 = 1 << 15;

/// Length of the SMART / Health Information log page.
pub const NVME_SMART_LOG_LEN: usize = 512;

/// Why an NVMe admin command gave no data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NvmeError {
    /// The kernel did not pass the command on (not an NVMe device, no
    /// permission, ...).
    Os(io::Errno),
    /// The controller failed the command with this NVMe status.
    Status(i32),
}

impl std::fmt::Display for NvmeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NvmeError::Os(errno) => f.write_str(&strerror(*errno)),
            NvmeError::Status(status) => write!(f, "NVMe status {status:#x}"),
        }
    }
}

/// `NVME_IOCTL_ADMIN_CMD` on one command. Unlike rustix's `Updater` it
/// hands back the ioctl's return value, which is the NVMe status of the
/// completion when positive.
struct AdminCommand<'a>(&'a mut NvmeAdminCmd);

// SAFETY: the opcode is NVME_IOCTL_ADMIN_CMD, whose argument is exactly one
// `struct nvme_passthru_cmd`, read and written by the kernel (hence
// IS_MUTATING); `as_ptr` points at such a `#[repr(C)]` struct, exclusively
// borrowed for the life of this value; `output_from_ptr` reads no memory.
unsafe impl rustix::ioctl::Ioctl for AdminCommand<'_> {
    type Output = rustix::ioctl::IoctlOutput;

    const IS_MUTATING: bool = true;

    fn opcode(&self) -> Opcode {
        NVME_IOCTL_ADMIN_CMD
    }

    fn as_ptr(&mut self) -> *mut core::ffi::c_void {
        (self.0 as *mut NvmeAdminCmd).cast()
    }

    unsafe fn output_from_ptr(
        out: rustix::ioctl::IoctlOutput,
        _: *mut core::ffi::c_void,
    ) -> io::Result<rustix::ioctl::IoctlOutput> {
        Ok(out)
    }
}

/// Reads the SMART / Health Information log page of the NVMe controller
/// that `dev` (an open NVMe controller or namespace node) belongs to, for
/// the controller as a whole, through the kernel's admin passthrough.
pub fn nvme_smart_log(dev: impl AsFd) -> Result<[u8; NVME_SMART_LOG_LEN], NvmeError> {
    let mut log = [0u8; NVME_SMART_LOG_LEN];
    // Dword count less one in bits 16..; the whole page.
    let dwords = (NVME_SMART_LOG_LEN / 4 - 1) as u32;
    let mut cmd = NvmeAdminCmd {
        opcode: NVME_ADMIN_GET_LOG_PAGE,
        nsid: NVME_NSID_ALL,
        addr: log.as_mut_ptr() as u64,
        data_len: NVME_SMART_LOG_LEN as u32,
        cdw10: NVME_LOG_SMART | NVME_LOG_RAE | (dwords << 16),
        ..NvmeAdminCmd::default()
    };
    // SAFETY: besides `cmd` (see `AdminCommand`), the kernel writes at most
    // `data_len` bytes at `addr`, here all of `log`: a local array of
    // exactly that length, alive until this function returns and touched
    // by nothing else until the call has returned. The command is a read
    // (controller to host) and carries no metadata buffer.
    let status = unsafe { rustix::ioctl::ioctl(dev, AdminCommand(&mut cmd)) }.map_err(NvmeError::Os)?;
    if status != 0 {
        return Err(NvmeError::Status(status));
    }
    Ok(log)
}

/// The fields of a SMART / Health Information log page (NVMe base
/// specification, log identifier 02h) that the agent reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SmartLog {
    /// Critical warning bits (byte 0).
    pub critical_warning: u8,
    /// Composite temperature in kelvin (bytes 1..3).
    pub temperature: u16,
    /// Available spare, percent (byte 3).
    pub available_spare: u8,
    /// Available spare threshold, percent (byte 4).
    pub available_spare_threshold: u8,
    /// Percentage used, an estimate that may exceed 100 (byte 5).
    pub percentage_used: u8,
    /// Data units (1000 512-byte units) read (bytes 32..48).
    pub data_units_read: u128,
    /// Data units written (bytes 48..64).
    pub data_units_written: u128,
    /// Host read commands (bytes 64..80).
    pub host_read_commands: u128,
    /// Host write commands (bytes 80..96).
    pub host_write_commands: u128,
    /// Controller busy time, minutes (bytes 96..112).
    pub controller_busy_time: u128,
    /// Power cycles (bytes 112..128).
    pub power_cycles: u128,
    /// Power-on hours (bytes 128..144).
    pub power_on_hours: u128,
    /// Unsafe shutdowns (bytes 144..160).
    pub unsafe_shutdowns: u128,
    /// Media and data integrity errors (bytes 160..176).
    pub media_errors: u128,
    /// Number of error information log entries (bytes 176..192).
    pub number_of_error_log_entries: u128,
}

/// The `N` bytes at `at` of `log`; `None` where `log` is too short to
/// hold them.
fn le<const N: usize>(log: &[u8], at: usize) -> Option<[u8; N]> {
    log.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// The little-endian 128-bit counter at `at`, each 64-bit half 0 where
/// `log` is too short to hold it.
fn le128(log: &[u8], at: usize) -> u128 {
    let half = |at: usize| le::<8>(log, at).map_or(0, u64::from_le_bytes);
    u128::from(half(at)) | (u128::from(half(at + 8)) << 64)
}

/// Decodes a SMART / Health Information log page ([`NVME_SMART_LOG_LEN`]
/// bytes as [`nvme_smart_log`] reads it; a field past the end of a shorter
/// `log` reads as 0).
pub fn decode_smart_log(log: &[u8]) -> SmartLog {
    let byte = |at: usize| log.get(at).copied().unwrap_or(0);
    SmartLog {
        // Bytes 0..6; 6..32 are the endurance group summary and reserved.
        critical_warning: byte(0),
        temperature: le::<2>(log, 1).map_or(0, u16::from_le_bytes),
        available_spare: byte(3),
        available_spare_threshold: byte(4),
        percentage_used: byte(5),
        // Then ten 16-byte counters from byte 32 on.
        data_units_read: le128(log, 32),
        data_units_written: le128(log, 48),
        host_read_commands: le128(log, 64),
        host_write_commands: le128(log, 80),
        controller_busy_time: le128(log, 96),
        power_cycles: le128(log, 112),
        power_on_hours: le128(log, 128),
        unsafe_shutdowns: le128(log, 144),
        media_errors: le128(log, 160),
        number_of_error_log_entries: le128(log, 176),
    }
}

#[cfg(test)]
mod nvme_tests {
    use super::*;

    #[test]
    fn admin_command_opcode_and_layout_match_linux() {
        assert_eq!(NVME_IOCTL_ADMIN_CMD as u64, 0xC048_4E41);
        assert_eq!(std::mem::size_of::<NvmeAdminCmd>(), 72);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, nsid), 4);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, metadata), 16);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, addr), 24);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, data_len), 36);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, cdw10), 40);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, timeout_ms), 64);
        assert_eq!(std::mem::offset_of!(NvmeAdminCmd, result), 68);
    }

    #[test]
    fn smart_log_fields_come_from_their_offsets() {
        let mut log = [0xEEu8; NVME_SMART_LOG_LEN];
        log[..6].copy_from_slice(&[5, 0x43, 0x01, 97, 10, 255]);
        for i in 0..10u8 {
            let at = 32 + 16 * usize::from(i);
            log[at..at + 16].copy_from_slice(&[i + 1; 16]);
        }
        let smart = decode_smart_log(&log);
        assert_eq!(
            (smart.critical_warning, smart.temperature, smart.available_spare),
            (5, 323, 97)
        );
        assert_eq!(
            (smart.available_spare_threshold, smart.percentage_used),
            (10, 255)
        );
        assert_eq!(smart.data_units_read, u128::from_le_bytes([1; 16]));
        assert_eq!(smart.number_of_error_log_entries, u128::from_le_bytes([10; 16]));
        // A short page: what is missing reads as 0, never out of bounds.
        let short = decode_smart_log(&log[..36]);
        assert_eq!(short.data_units_read, 0);
        assert_eq!(short.temperature, 323);
        assert_eq!(
            decode_smart_log(&log[..44]).data_units_read,
            0x0101_0101_0101_0101
        );
        assert_eq!(decode_smart_log(&[]), SmartLog::default());
    }

    #[test]
    fn smart_log_of_a_non_nvme_file_is_refused() {
        let file = tempfile::tempfile().unwrap();
        assert_eq!(nvme_smart_log(&file), Err(NvmeError::Os(io::Errno::NOTTY)));
        let null = std::fs::File::open("/dev/null").unwrap();
        assert!(matches!(nvme_smart_log(&null), Err(NvmeError::Os(_))));
    }
}
