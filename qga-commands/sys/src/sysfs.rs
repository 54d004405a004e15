//! sysfs device path elements, read as QEMU's agent reads them with
//! `sscanf`: the PCI root bus and functions (`pci<dddd>:<bb>/`,
//! `<dddd>:<bb>:<ss>.<f>`), SCSI targets (`target<h>:<c>:<t>/<h>:<c>:<t>:<l>`),
//! SCSI and ATA hosts (`host<N>`, `ata<N>`) and s390x channel I/O
//! addresses (`css<n>/<cssid>.<ssid>.<subchno>/<x>.<y>.<devno>`).
//!
//! Numbers are read with [`Scanner::u32_clamped`]: white space skipped, no
//! sign, past `u32::MAX` clamped.
//!
//! Also attribute files (`online`, `state`, ...) read and written as QEMU's
//! agent does, with `pread`/`pwrite` at offset 0 through a descriptor
//! opened below the device's directory: [`open_attr`], [`read_attr`],
//! [`write_attr`].

use std::os::fd::{AsFd, OwnedFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::errno::strerror;
use crate::scan::Scanner;

/// How a sysfs attribute is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Write only.
    Write,
    /// Read and write.
    ReadWrite,
}

/// Which call on a sysfs attribute failed, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AttrError {
    /// `openat` failed.
    #[error("open: {}", strerror(*.0))]
    Open(Errno),
    /// `pread` failed.
    #[error("pread: {}", strerror(*.0))]
    Read(Errno),
    /// `pread` read nothing: the attribute is empty.
    #[error("pread: unexpected EOF")]
    Eof,
    /// `pwrite` failed.
    #[error("pwrite: {}", strerror(*.0))]
    Write(Errno),
}

impl AttrError {
    /// The error number behind the failure; `None` for [`AttrError::Eof`].
    pub fn errno(self) -> Option<Errno> {
        match self {
            AttrError::Open(e) | AttrError::Read(e) | AttrError::Write(e) => Some(e),
            AttrError::Eof => None,
        }
    }
}

/// Opens attribute `name` of the sysfs directory `dir` (close-on-exec).
pub fn open_attr(dir: impl AsFd, name: &str, access: Access) -> Result<OwnedFd, AttrError> {
    let access = match access {
        Access::Read => OFlags::RDONLY,
        Access::Write => OFlags::WRONLY,
        Access::ReadWrite => OFlags::RDWR,
    };
    rustix::fs::openat(dir, name, access | OFlags::CLOEXEC, Mode::empty()).map_err(AttrError::Open)
}

/// The first bytes of an open attribute, at most `max` of them (one
/// `pread` at offset 0); never empty: an attribute that reads nothing is
/// [`AttrError::Eof`].
pub fn read_attr(attr: impl AsFd, max: usize) -> Result<Vec<u8>, AttrError> {
    let mut buf = vec![0u8; max];
    match rustix::io::pread(attr, &mut buf, 0) {
        Ok(0) => Err(AttrError::Eof),
        Ok(n) => {
            buf.truncate(n);
            Ok(buf)
        }
        Err(e) => Err(AttrError::Read(e)),
    }
}

/// Writes `data` to an open attribute (one `pwrite` at offset 0).
pub fn write_attr(attr: impl AsFd, data: &[u8]) -> Result<(), AttrError> {
    rustix::io::pwrite(attr, data, 0)
        .map(drop)
        .map_err(AttrError::Write)
}

/// A PCI function's address, as a sysfs path names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciFunction {
    /// PCI domain (segment).
    pub domain: u32,
    /// Bus number.
    pub bus: u32,
    /// Slot (device) number.
    pub slot: u32,
    /// Function number.
    pub function: u32,
}

/// The SCSI address of a device, from the `<h>:<c>:<t>:<l>` element that
/// follows its `target<h>:<c>:<t>` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScsiAddress {
    /// The channel (bus) on the host.
    pub channel: u32,
    /// The target id.
    pub target: u32,
    /// The logical unit number.
    pub lun: u32,
}

/// An s390x channel I/O device's address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CcwAddress {
    /// Channel subsystem id.
    pub cssid: u32,
    /// Subchannel set id.
    pub ssid: u32,
    /// Subchannel number.
    pub subchno: u32,
    /// Device number.
    pub devno: u32,
}

/// `<domain>:<bus>/`, the text after `/devices/pci` of a PCI device path
/// (hexadecimal numbers): how many bytes it takes, `None` if the text does
/// not start with one.
pub fn scan_pci_root(text: &[u8]) -> Option<usize> {
    let mut s = Scanner::new(text);
    s.u32_clamped(16)?;
    s.lit(b':')?;
    s.u32_clamped(16)?;
    s.lit(b'/')?;
    Some(s.position())
}

/// `<domain>:<bus>:<slot>.<function>` (hexadecimal numbers) at the start of
/// `text`: the function and how many bytes it took.
pub fn scan_pci_function(text: &[u8]) -> Option<(PciFunction, usize)> {
    let mut s = Scanner::new(text);
    let domain = s.u32_clamped(16)?;
    s.lit(b':')?;
    let bus = s.u32_clamped(16)?;
    s.lit(b':')?;
    let slot = s.u32_clamped(16)?;
    s.lit(b'.')?;
    let function = s.u32_clamped(16)?;
    Some((
        PciFunction {
            domain,
            bus,
            slot,
            function,
        },
        s.position(),
    ))
}

/// `<h>:<c>:<t>/<h>:<c>:<t>:<l>` (decimal numbers), the text after
/// `/target` of a SCSI device path: the address in its second element.
pub fn scan_target(text: &[u8]) -> Option<ScsiAddress> {
    let mut s = Scanner::new(text);
    s.u32_clamped(10)?;
    s.lit(b':')?;
    s.u32_clamped(10)?;
    s.lit(b':')?;
    s.u32_clamped(10)?;
    s.lit(b'/')?;
    s.u32_clamped(10)?;
    s.lit(b':')?;
    let channel = s.u32_clamped(10)?;
    s.lit(b':')?;
    let target = s.u32_clamped(10)?;
    s.lit(b':')?;
    let lun = s.u32_clamped(10)?;
    Some(ScsiAddress { channel, target, lun })
}

/// `<n>/<cssid>.<ssid>.<subchno>/<x>.<y>.<devno>` (hexadecimal numbers),
/// the text after `/devices/css` of a channel I/O device path.
pub fn scan_ccw(text: &[u8]) -> Option<CcwAddress> {
    let mut s = Scanner::new(text);
    s.u32_clamped(16)?;
    s.lit(b'/')?;
    let cssid = s.u32_clamped(16)?;
    s.lit(b'.')?;
    let ssid = s.u32_clamped(16)?;
    s.lit(b'.')?;
    let subchno = s.u32_clamped(16)?;
    s.lit(b'/')?;
    s.u32_clamped(16)?;
    s.lit(b'.')?;
    s.u32_clamped(16)?;
    s.lit(b'.')?;
    let devno = s.u32_clamped(16)?;
    Some(CcwAddress {
        cssid,
        ssid,
        subchno,
        devno,
    })
}

/// The number of a `<prefix><N>` directory entry (`host3`, `ata1`): white
/// space and a `+` allowed before the digits, anything after them ignored;
/// `None` for other names, no digits, or a number past `u32::MAX`.
pub fn scan_host_number(name: &str, prefix: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.trim_start();
    let digits = rest.strip_prefix('+').unwrap_or(rest);
    let len = digits.find(|c: char| !c.is_ascii_digit()).unwrap_or(digits.len());
    digits.get(..len)?.parse::<u32>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_paths() {
        assert_eq!(
            scan_pci_function(b"0000:00:1f.2/ata1"),
            Some((
                PciFunction {
                    domain: 0,
                    bus: 0,
                    slot: 0x1f,
                    function: 2
                },
                12
            ))
        );
        assert_eq!(scan_pci_function(b"0000:00:1f"), None);
        assert_eq!(scan_pci_function(b""), None);
        assert_eq!(scan_pci_root(b"0000:00/0000:00:04.0"), Some(8));
        assert_eq!(scan_pci_root(b"0000:00"), None);
        assert_eq!(
            scan_pci_function(b"1ffffffff:0:0.0").map(|(f, _)| f.domain),
            Some(u32::MAX)
        );
    }

    #[test]
    fn scsi_targets_and_hosts() {
        assert_eq!(
            scan_target(b"2:0:0/2:0:0:3/block"),
            Some(ScsiAddress {
                channel: 0,
                target: 0,
                lun: 3
            })
        );
        assert_eq!(scan_target(b"2:0:0/2:0:0"), None);
        assert_eq!(scan_target(b"2:0:-1/2:0:0:3"), None);
        assert_eq!(scan_host_number("host12", "host"), Some(12));
        assert_eq!(scan_host_number("ata +3x", "ata"), Some(3));
        assert_eq!(scan_host_number("ata", "ata"), None);
        assert_eq!(scan_host_number("host99999999999", "host"), None);
        assert_eq!(scan_host_number("power", "host"), None);
    }

    #[test]
    fn attributes() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::write(tmp.path().join("online"), "1\n").unwrap();
        std::fs::write(tmp.path().join("empty"), "").unwrap();
        let dir = rustix::fs::open(tmp.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let online = open_attr(&dir, "online", Access::ReadWrite).unwrap();
        assert_eq!(read_attr(&online, 1).unwrap(), b"1");
        assert_eq!(read_attr(&online, 10).unwrap(), b"1\n");
        write_attr(&online, b"0").unwrap();
        assert_eq!(std::fs::read(tmp.path().join("online")).unwrap(), b"0\n");
        let empty = open_attr(&dir, "empty", Access::Read).unwrap();
        assert_eq!(read_attr(&empty, 1), Err(AttrError::Eof));
        assert_eq!(write_attr(&empty, b"x"), Err(AttrError::Write(Errno::BADF)));
        let missing = open_attr(&dir, "missing", Access::Write).unwrap_err();
        assert_eq!(missing, AttrError::Open(Errno::NOENT));
        assert_eq!(missing.errno(), Some(Errno::NOENT));
        assert_eq!(missing.to_string(), "open: No such file or directory");
        assert_eq!(AttrError::Eof.errno(), None);
    }

    #[test]
    fn channel_io_paths() {
        assert_eq!(
            scan_ccw(b"0/0.0.0002/0.0.0004/virtio1"),
            Some(CcwAddress {
                cssid: 0,
                ssid: 0,
                subchno: 2,
                devno: 4
            })
        );
        assert_eq!(scan_ccw(b"0/0.0.0002"), None);
    }
}
