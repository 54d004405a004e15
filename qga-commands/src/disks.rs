//! Disks and filesystems: `guest-get-disks`, `guest-get-fsinfo`.
//!
//! Both walk sysfs the way QEMU's agent does. A block device whose real
//! path lies under `/devices/virtual/block/` (device mapper, RAID, loop,
//! zram) is "virtual": what it is built on is found through its `slaves/`
//! links, followed down to real devices. A real device's address comes
//! from its sysfs path: the PCI function of the first storage controller
//! along the path (bridges are stepped over until a device bound to a known
//! driver is found), and, depending on that driver, the SCSI
//! `target<h>:<c>:<t>/<h>:<c>:<t>:<l>` numbers and the position of its
//! `host<N>`/`ata<N>` among its siblings. Non-PCI virtio (virtio-mmio) and
//! s390x channel I/O paths are understood as well. The path elements are
//! read by `qga_sys::sysfs`.
//!
//! QEMU asks libudev for a device's node, serial (`ID_SERIAL`) and device
//! mapper name (`DM_NAME`). This agent reads what libudev reads: the
//! device's `uevent` file (`DEVNAME`) and the udev database record
//! `/run/udev/data/b<major>:<minor>` (`E:KEY=value` lines), both parsed by
//! `qga_sys::udev`. Where udev
//! has no record of the device (no udev running, as in a small initramfs)
//! the sysfs `serial` attribute of the device, its `device/`, or for a
//! partition its disk's, is used instead: the value udev's own rules would
//! have recorded for virtio disks. With a record, only its `ID_SERIAL`
//! counts, as in QEMU.
//!
//! `guest-get-fsinfo` lists the device-backed mounts of the mount table
//! (newest first, as QEMU does) with their statvfs sizes;
//! `guest-get-disks` lists every non-empty `/sys/block` entry and its
//! partitions (again in QEMU's reversed order). A disk whose address has
//! bus type NVMe also gets `smart`, its controller's SMART / health log
//! (see the `smart` submodule), or none if that cannot be read.

use std::collections::HashMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use qga_protocol::schema::{
    GuestCCWAddress, GuestDiskAddress, GuestDiskBusType, GuestDiskInfo, GuestFilesystemInfo, GuestPCIAddress,
    NoArgs,
};
use qga_sys::mountinfo::{self, device_mounts, parse_mounts, Source};
use qga_sys::scan::Scanner;
use qga_sys::sysfs::{scan_ccw, scan_host_number, scan_pci_function, scan_pci_root, scan_target, CcwAddress};
use qga_sys::udev;

use crate::agent::Agent;
use crate::config::SystemRoots;
use crate::error::{Call, CommandError};

mod smart;

/// `guest-get-disks`.
pub(crate) fn disks(agent: &Agent, _: NoArgs) -> Result<Vec<GuestDiskInfo>, CommandError> {
    get_disks(agent.roots())
}

/// `guest-get-fsinfo`.
pub(crate) fn fsinfo(agent: &Agent, _: NoArgs) -> Result<Vec<GuestFilesystemInfo>, CommandError> {
    let roots = agent.roots();
    get_fsinfo(roots, &roots.mountinfo(), &roots.mounts())
}

/// The udev database (`run/udev/data`).
fn udev_data(roots: &SystemRoots) -> PathBuf {
    roots.run.join("udev/data")
}

/// Where the node a disk is named by (`/dev/NAME`) is under the device root.
fn device_node(roots: &SystemRoots, name: &str) -> PathBuf {
    match name.strip_prefix("/dev/") {
        Some(rest) => roots.dev.join(rest),
        None => PathBuf::from(name),
    }
}

/// The PCI drivers of storage controllers whose disks get an address.
const KNOWN_DRIVERS: &[&str] = &[
    "ata_piix",
    "sym53c8xx",
    "virtio-pci",
    "ahci",
    "nvme",
    "xhci_hcd",
    "ehci-pci",
];

/// The last path element.
fn basename(path: &str) -> String {
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return if path.is_empty() { ".".into() } else { "/".into() };
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_string()
}

/// What udev knows of a device: its node and properties.
#[derive(Debug, Default)]
struct UdevDevice {
    devnode: Option<String>,
    properties: HashMap<String, String>,
    /// Whether udev has a database record of the device.
    recorded: bool,
}

impl UdevDevice {
    /// A property, if set and not empty.
    fn property(&self, key: &str) -> Option<&str> {
        self.properties
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// A resolved sysfs path: the full text, and where the part below the
/// sysfs root (`/devices/...`) starts, which is what patterns are matched
/// against.
struct SysPath {
    full: String,
    root_len: usize,
}

impl SysPath {
    fn rel(&self) -> &str {
        self.full.get(self.root_len..).unwrap_or("")
    }

    /// The full path of the first `len` bytes of [`SysPath::rel`].
    fn prefix(&self, len: usize) -> &str {
        self.full.get(..self.root_len + len).unwrap_or(&self.full)
    }
}

/// Where the filesystem's physical disks are collected.
#[derive(Debug, Default)]
struct FsDevices {
    name: Option<String>,
    /// Newest first, as QEMU prepends.
    disks: Vec<GuestDiskAddress>,
}

/// The sysfs and udev database walks.
struct Sysfs<'a> {
    roots: &'a SystemRoots,
    /// The sysfs root as `realpath` gives it.
    root: String,
}

impl<'a> Sysfs<'a> {
    fn new(roots: &'a SystemRoots) -> Self {
        let root = std::fs::canonicalize(&roots.sys).unwrap_or_else(|_| roots.sys.clone());
        let root = root.to_string_lossy().trim_end_matches('/').to_string();
        Sysfs { roots, root }
    }

    fn sys_path(&self, real: &Path) -> SysPath {
        let full = real.to_string_lossy().into_owned();
        let root_len = if full.starts_with(&self.root) && full[self.root.len()..].starts_with('/') {
            self.root.len()
        } else {
            0
        };
        SysPath { full, root_len }
    }

    /// What libudev would report for the device at `syspath`: the node
    /// from its `uevent`, the properties from `uevent` and the database.
    fn udev(&self, syspath: &Path) -> Option<UdevDevice> {
        let uevent = std::fs::read_to_string(syspath.join("uevent")).ok()?;
        let owned = |(key, value): (&str, &str)| (key.to_string(), value.to_string());
        let mut device = UdevDevice::default();
        device
            .properties
            .extend(udev::uevent_properties(&uevent).map(owned));
        device.devnode = device.properties.get("DEVNAME").map(|name| udev::devnode(name));
        let number = device.properties.get("MAJOR").zip(device.properties.get("MINOR"));
        if let Some((major, minor)) = number {
            let block = std::fs::read_link(syspath.join("subsystem"))
                .is_ok_and(|link| link.file_name().is_some_and(|n| n == "block"));
            let record = udev::db_record_name(block, major, minor);
            if let Ok(db) = std::fs::read_to_string(udev_data(self.roots).join(record)) {
                device.recorded = true;
                device.properties.extend(udev::db_properties(&db).map(owned));
            }
        }
        Some(device)
    }

    /// The device node of the device at `syspath`.
    fn devnode(&self, syspath: &Path) -> Option<String> {
        self.udev(syspath)?.devnode
    }

    /// The sysfs serial attribute of a device (or its disk).
    fn sysfs_serial(syspath: &Path) -> Option<String> {
        let mut dirs = vec![syspath.to_path_buf(), syspath.join("device")];
        if syspath.join("partition").exists() {
            if let Some(disk) = syspath.parent() {
                dirs.push(disk.to_path_buf());
                dirs.push(disk.join("device"));
            }
        }
        dirs.iter().find_map(|dir| {
            let text = std::fs::read_to_string(dir.join("serial")).ok()?;
            let serial = text.trim();
            (!serial.is_empty()).then(|| serial.to_string())
        })
    }

    /// Whether the device at `path` is a virtual one.
    fn is_virtual(&self, path: &Path) -> Result<bool, CommandError> {
        let real =
            std::fs::canonicalize(path).map_err(|e| CommandError::call(Call::Realpath, path.display(), e))?;
        Ok(self.sys_path(&real).rel().contains("/devices/virtual/block/"))
    }

    /// Adds the physical disks under the device at `devpath` to `fs`.
    fn device(&self, devpath: &Path, fs: &mut FsDevices) -> Result<(), CommandError> {
        let real = match std::fs::canonicalize(devpath) {
            Ok(real) => real,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Device nodes a container does not show.
                if fs.name.is_none() {
                    fs.name = Some(basename(&devpath.to_string_lossy()));
                }
                return Ok(());
            }
            Err(e) => return Err(CommandError::call(Call::Realpath, devpath.display(), e)),
        };
        if fs.name.is_none() {
            fs.name = Some(basename(&real.to_string_lossy()));
        }
        if self.is_virtual(&real)? {
            self.virtual_device(&real, fs)
        } else {
            self.real_device(&real, fs)
        }
    }

    /// Follows the `slaves/` links of a virtual device.
    fn virtual_device(&self, syspath: &Path, fs: &mut FsDevices) -> Result<(), CommandError> {
        let dir = syspath.join("slaves");
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CommandError::call(Call::Opendir, dir.display(), e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| CommandError::call(Call::Readdir, dir.display(), e))?;
            if entry.file_type().is_ok_and(|t| t.is_symlink()) {
                self.device(&dir.join(entry.file_name()), fs)?;
            }
        }
        Ok(())
    }

    /// Adds the address of a real device.
    fn real_device(&self, syspath: &Path, fs: &mut FsDevices) -> Result<(), CommandError> {
        let mut disk = GuestDiskAddress {
            ccw_address: None,
            serial: None,
            bus_type: GuestDiskBusType::Unknown,
            bus: 0,
            unit: 0,
            pci_controller: GuestPCIAddress::NONE,
            dev: None,
            target: 0,
        };
        let udev = self.udev(syspath);
        if let Some(udev) = &udev {
            disk.serial = udev.property("ID_SERIAL").map(str::to_string);
            disk.dev = udev.devnode.clone();
        }
        if !udev.is_some_and(|u| u.recorded) {
            disk.serial = Self::sysfs_serial(syspath);
        }
        let path = self.sys_path(syspath);
        let mut error = None;
        let found = if path.rel().contains("/devices/pci") {
            self.pci_device(&path, &mut disk).unwrap_or_else(|e| {
                error = Some(e);
                false
            })
        } else if path.rel().contains("/devices/css") {
            ccw_device(path.rel(), &mut disk)
        } else if path.rel().contains("/virtio") {
            nonpci_virtio(path.rel(), &mut disk)
        } else {
            false
        };
        if found || disk.dev.is_some() || disk.serial.is_some() {
            fs.disks.insert(0, disk);
        }
        error.map_or(Ok(()), Err)
    }

    /// The address of a disk behind a PCI storage controller; `Ok(false)`
    /// when the path or driver is not understood.
    fn pci_device(&self, path: &SysPath, disk: &mut GuestDiskAddress) -> Result<bool, CommandError> {
        let rel = path.rel();
        let Some(start) = rel.find("/devices/pci") else {
            return Ok(false);
        };
        // `/devices/pci<domain>:<bus>/` then the first PCI function.
        let after = start + "/devices/pci".len();
        let first = rel.as_bytes().get(after..).and_then(|text| {
            let root = scan_pci_root(text)?;
            let (pci, len) = scan_pci_function(text.get(root..)?)?;
            Some((pci, after + root + len))
        });
        let Some((mut pci, mut end)) = first else {
            return Ok(false);
        };
        let driver = loop {
            let driver = std::fs::read_link(format!("{}/driver", path.prefix(end)))
                .ok()
                .map(|target| basename(&target.to_string_lossy()));
            if let Some(driver) = driver.filter(|d| KNOWN_DRIVERS.contains(&d.as_str())) {
                break driver;
            }
            // A bridge: step to the next PCI function along the path.
            match rel
                .as_bytes()
                .get(end..)
                .and_then(|text| text.strip_prefix(b"/"))
                .and_then(scan_pci_function)
            {
                Some((next, len)) => {
                    pci = next;
                    end += 1 + len;
                }
                None => return Ok(false),
            }
        };

        let target = scsi_target(rel);
        let (host_at, ata) = match rel.find("/ata") {
            Some(at) => (Some((at, at + 4)), true),
            None => (rel.find("/host").map(|at| (at, at + 5)), false),
        };
        let mut host = None;
        if let Some((at, number_at)) = host_at {
            if let Some(number) = rel
                .as_bytes()
                .get(number_at..)
                .and_then(|text| Scanner::new(text).u32_clamped(10))
            {
                host = Some((number, host_numbers(path.prefix(at), ata)?));
            }
        }
        // The position of this disk's host among its controller's hosts.
        let host_index = host.and_then(|(number, hosts)| hosts.iter().position(|h| *h == number));

        disk.pci_controller = GuestPCIAddress {
            domain: pci.domain.into(),
            bus: pci.bus.into(),
            slot: pci.slot.into(),
            function: pci.function.into(),
        };
        match driver.as_str() {
            "ata_piix" => {
                // One host per IDE bus; target<h>:0:<unit>:0.
                let (Some(target), Some(index)) = (target, host_index) else {
                    return Ok(false);
                };
                disk.bus_type = GuestDiskBusType::Ide;
                disk.bus = index as i64;
                disk.unit = target.target.into();
            }
            "sym53c8xx" => {
                let Some(target) = target else { return Ok(false) };
                disk.bus_type = GuestDiskBusType::Scsi;
                disk.unit = target.target.into();
            }
            "virtio-pci" => match target {
                // virtio-scsi: target<h>:0:0:<unit>.
                Some(target) => {
                    disk.bus_type = GuestDiskBusType::Scsi;
                    disk.unit = target.lun.into();
                }
                // virtio-blk: one disk per PCI function.
                None => disk.bus_type = GuestDiskBusType::Virtio,
            },
            "ahci" => {
                // One host (port) per unit.
                let (Some(_), Some(index)) = (target, host_index) else {
                    return Ok(false);
                };
                disk.bus_type = GuestDiskBusType::Sata;
                disk.unit = index as i64;
            }
            "nvme" => disk.bus_type = GuestDiskBusType::Nvme,
            _ => disk.bus_type = GuestDiskBusType::Usb,
        }
        Ok(true)
    }
}

/// The SCSI address in the `target<h>:<c>:<t>/<h>:<c>:<t>:<l>` elements of
/// a sysfs path, if it has them.
fn scsi_target(rel: &str) -> Option<qga_sys::sysfs::ScsiAddress> {
    let at = rel.find("/target")?;
    rel.as_bytes().get(at + "/target".len()..).and_then(scan_target)
}

/// The numbers of the `host<N>` (or `ata<N>`) entries of `dir`, the first
/// eight found, sorted.
fn host_numbers(dir: &str, ata: bool) -> Result<Vec<u32>, CommandError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CommandError::call(Call::Opendir, dir, e))?;
    let prefix = if ata { "ata" } else { "host" };
    let mut hosts: Vec<u32> = entries
        .map_while(Result::ok)
        .filter_map(|entry| scan_host_number(entry.file_name().to_str()?, prefix))
        .take(8)
        .collect();
    hosts.sort_unstable();
    Ok(hosts)
}

/// A virtio disk not on PCI (virtio-mmio, s390x): `false` if the path is
/// not one.
fn nonpci_virtio(rel: &str, disk: &mut GuestDiskAddress) -> bool {
    if !rel.contains("/virtio") || !rel.contains("/block") {
        return false;
    }
    match scsi_target(rel) {
        Some(address) => {
            disk.bus_type = GuestDiskBusType::Scsi;
            disk.bus = address.channel.into();
            disk.target = address.target.into();
            disk.unit = address.lun.into();
        }
        None => disk.bus_type = GuestDiskBusType::Virtio,
    }
    true
}

/// An s390x channel I/O device:
/// `/devices/css<n>/<cssid>.<ssid>.<subchno>/<x>.<y>.<devno>/`.
fn ccw_device(rel: &str, disk: &mut GuestDiskAddress) -> bool {
    let Some(at) = rel.find("/devices/css") else {
        return false;
    };
    let tail = rel.get(at..).unwrap_or_default();
    let Some(CcwAddress {
        cssid,
        ssid,
        subchno,
        devno,
    }) = tail.as_bytes().get("/devices/css".len()..).and_then(scan_ccw)
    else {
        return false;
    };
    disk.ccw_address = Some(GuestCCWAddress {
        cssid: cssid.into(),
        ssid: ssid.into(),
        subchno: subchno.into(),
        devno: devno.into(),
    });
    if tail.contains("/virtio") {
        nonpci_virtio(rel, disk);
    }
    true
}

/// Whether `entry` names a partition of `disk`: `<disk><digit>...` or
/// `<disk>p<digit>...`.
fn is_partition_name(disk: &str, entry: &str) -> bool {
    let Some(rest) = entry.strip_prefix(disk) else {
        return false;
    };
    let rest = rest
        .strip_prefix('p')
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(rest);
    rest.starts_with(|c: char| c.is_ascii_digit())
}

/// `guest-get-disks`: every block device with a size, its partitions,
/// what it is built on and where it is attached.
fn get_disks(roots: &SystemRoots) -> Result<Vec<GuestDiskInfo>, CommandError> {
    let sys = Sysfs::new(roots);
    let block = roots.sys.join("block");
    let entries =
        std::fs::read_dir(&block).map_err(|e| CommandError::BlockDirectory(block.clone(), e.into()))?;
    // Built oldest first, returned newest first as QEMU prepends.
    let mut list = Vec::new();
    for entry in entries.map_while(Result::ok) {
        if !entry.file_type().is_ok_and(|t| t.is_symlink()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let disk_dir = block.join(&name);
        match std::fs::read_to_string(disk_dir.join("size")) {
            Ok(size) if size != "0\n" => {}
            _ => continue,
        }
        let Some(udev) = sys.udev(&disk_dir) else { continue };
        let Some(dev_name) = udev.devnode.clone() else {
            continue;
        };
        let is_virtual = sys.is_virtual(&disk_dir).unwrap_or(true);
        let address = if is_virtual {
            None
        } else {
            let mut fs = FsDevices::default();
            // As QEMU, an error leaves whatever was found.
            let _ = sys.device(&disk_dir, &mut fs);
            fs.disks.into_iter().next()
        };
        let dependencies = std::fs::read_dir(disk_dir.join("slaves")).ok().map(|deps| {
            let mut names: Vec<String> = deps
                .map_while(Result::ok)
                .filter_map(|dep| sys.devnode(&dep.path()))
                .collect();
            names.reverse();
            names
        });
        // As QEMU, only a disk found on an NVMe controller is asked.
        let smart = address
            .as_ref()
            .filter(|a| a.bus_type == GuestDiskBusType::Nvme)
            .and_then(|_| smart::nvme_smart(&device_node(roots, &dev_name)));
        list.push(GuestDiskInfo {
            name: dev_name.clone(),
            smart,
            dependencies,
            partition: false,
            address,
            alias: udev.property("DM_NAME").map(str::to_string),
        });
        let Ok(parts) = std::fs::read_dir(&disk_dir) else {
            continue;
        };
        for part in parts.map_while(Result::ok) {
            if !part.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if !is_partition_name(&name, &part.file_name().to_string_lossy()) {
                continue;
            }
            let Some(part_name) = sys.devnode(&part.path()) else {
                continue;
            };
            list.push(GuestDiskInfo {
                name: part_name,
                smart: None,
                dependencies: Some(vec![dev_name.clone()]),
                partition: true,
                address: None,
                alias: None,
            });
        }
    }
    list.reverse();
    Ok(list)
}

/// A mounted filesystem worth reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FsMount {
    dir: String,
    fstype: String,
    major: u32,
    minor: u32,
}

/// The device-backed mounts, in mount order: from `mountinfo`, or, when it
/// cannot be read, from `mtab` (`/proc/self/mounts`).
fn fs_mounts(mountinfo: &Path, mtab: &Path) -> Result<Vec<FsMount>, CommandError> {
    if let Ok(text) = std::fs::read_to_string(mountinfo) {
        return Ok(device_mounts(&text)
            .into_iter()
            .map(|(m, (major, minor))| FsMount {
                dir: m.dir,
                fstype: m.fstype,
                major,
                minor,
            })
            .collect());
    }
    let text = std::fs::read_to_string(mtab).map_err(|_| CommandError::Mtab(mtab.to_path_buf()))?;
    Ok(parse_mounts(&text)
        .into_iter()
        .filter_map(|entry| {
            if !entry.source.starts_with('/') || entry.fstype == "smbfs" || entry.fstype == "cifs" {
                return None;
            }
            let (major, minor) = match mountinfo::source(&entry.source) {
                Source::Block(major, minor) => (major, minor),
                Source::Directory => return None,
                Source::Other => (0, 0),
            };
            Some(FsMount {
                dir: entry.dir,
                fstype: entry.fstype,
                major,
                minor,
            })
        })
        .collect())
}

/// `guest-get-fsinfo`: each device-backed mounted filesystem with its sizes
/// and the physical disks under it, most recent mount first.
fn get_fsinfo(
    roots: &SystemRoots,
    mountinfo: &Path,
    mtab: &Path,
) -> Result<Vec<GuestFilesystemInfo>, CommandError> {
    let sys = Sysfs::new(roots);
    let mut list = Vec::new();
    for mount in fs_mounts(mountinfo, mtab)? {
        let devpath = roots
            .sys
            .join(format!("dev/block/{}:{}", mount.major, mount.minor));
        let mut devices = FsDevices::default();
        sys.device(&devpath, &mut devices)?;
        let mut fs = GuestFilesystemInfo {
            name: devices.name.unwrap_or_default(),
            total_bytes: None,
            total_bytes_privileged: None,
            mountpoint: mount.dir,
            disk: devices.disks,
            used_bytes: None,
            r#type: mount.fstype,
        };
        if let Ok(st) = rustix::fs::statvfs(fs.mountpoint.as_str()) {
            let used = st.f_blocks.wrapping_sub(st.f_bfree);
            fs.used_bytes = Some(used.wrapping_mul(st.f_frsize));
            fs.total_bytes = Some(used.wrapping_add(st.f_bavail).wrapping_mul(st.f_frsize));
            fs.total_bytes_privileged = Some(st.f_blocks.wrapping_mul(st.f_frsize));
        }
        list.push(fs);
    }
    list.reverse();
    Ok(list)
}

#[cfg(test)]
mod tests;
