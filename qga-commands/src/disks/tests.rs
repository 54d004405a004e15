//! Unit tests of the sysfs walks against fake sysfs trees laid out as the
//! kernel lays them out.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use super::*;

/// A temporary directory holding `sys/`, `run/udev/data/` and mount points.
struct Fake {
    dir: TempDir,
}

impl Fake {
    fn new() -> Fake {
        let fake = Fake {
            dir: tempfile::tempdir().unwrap(),
        };
        for d in [
            "sys/block",
            "sys/dev/block",
            "sys/class/block",
            "sys/bus/pci/drivers",
            "run/udev/data",
        ] {
            std::fs::create_dir_all(fake.path(d)).unwrap();
        }
        fake
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn roots(&self) -> SystemRoots {
        SystemRoots {
            sys: self.path("sys"),
            run: self.path("run"),
            dev: self.path("dev"),
            ..SystemRoots::default()
        }
    }

    fn write(&self, rel: &str, text: &str) {
        let path = self.path(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// A symlink at `rel` pointing (relatively) at `target` (both below
    /// the temporary directory).
    fn link(&self, rel: &str, target: &str) {
        let at = self.path(rel);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        let depth = rel.matches('/').count();
        let relative = format!("{}{target}", "../".repeat(depth));
        symlink(relative, at).unwrap();
    }

    /// A PCI function bound to `driver`.
    fn pci(&self, rel: &str, driver: &str) {
        std::fs::create_dir_all(self.path(&format!("sys/bus/pci/drivers/{driver}"))).unwrap();
        std::fs::create_dir_all(self.path(rel)).unwrap();
        self.link(&format!("{rel}/driver"), &format!("sys/bus/pci/drivers/{driver}"));
    }

    /// A block device (disk or partition) at `rel` with its /sys/dev/block
    /// link, and /sys/block link for disks.
    fn block(&self, rel: &str, name: &str, major: u32, minor: u32, sectors: u64) {
        self.device(rel, name, (major, minor), sectors, false);
    }

    /// A partition at `rel`.
    fn part(&self, rel: &str, name: &str, major: u32, minor: u32, sectors: u64) {
        self.device(rel, name, (major, minor), sectors, true);
    }

    fn device(&self, rel: &str, name: &str, (major, minor): (u32, u32), sectors: u64, partition: bool) {
        let devtype = if partition { "partition" } else { "disk" };
        self.write(
            &format!("{rel}/uevent"),
            &format!("MAJOR={major}\nMINOR={minor}\nDEVNAME={name}\nDEVTYPE={devtype}\nDISKSEQ=9\n"),
        );
        self.write(&format!("{rel}/size"), &format!("{sectors}\n"));
        self.link(&format!("{rel}/subsystem"), "sys/class/block");
        self.link(&format!("sys/dev/block/{major}:{minor}"), rel);
        if partition {
            self.write(&format!("{rel}/partition"), "1\n");
        } else {
            std::fs::create_dir_all(self.path(&format!("{rel}/slaves"))).unwrap();
            std::fs::create_dir_all(self.path(&format!("{rel}/holders"))).unwrap();
            self.link(&format!("sys/block/{name}"), rel);
        }
    }
}

const VDA: &str = "sys/devices/pci0000:00/0000:00:04.0/virtio2/block/vda";
const SDA: &str = "sys/devices/pci0000:00/0000:00:05.0/virtio3/host2/target2:0:0/2:0:0:3/block/sda";
const SDB: &str = "sys/devices/pci0000:00/0000:00:1f.2/ata3/host2/target2:0:0/2:0:0:0/block/sdb";
const SR0: &str = "sys/devices/pci0000:00/0000:00:01.1/ata2/host1/target1:0:1/1:0:1:0/block/sr0";
const NVME: &str = "sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0/nvme/nvme0/nvme0n1";
const DM0: &str = "sys/devices/virtual/block/dm-0";
const MMC: &str = "sys/devices/platform/a003e00.virtio_mmio/virtio0/block/vdb";
const CCW: &str = "sys/devices/css0/0.0.0002/0.0.0004/virtio1/block/vdc";

/// A machine with a virtio-blk disk (partitioned, with a device mapper
/// volume on its first partition), a virtio-scsi disk, a SATA disk, an
/// IDE CD, an NVMe disk behind a bridge, an empty zram device and
/// virtio-mmio and channel I/O disks.
fn machine() -> Fake {
    let f = Fake::new();
    f.pci("sys/devices/pci0000:00/0000:00:04.0", "virtio-pci");
    f.block(VDA, "vda", 254, 0, 41_943_040);
    f.write(&format!("{VDA}/serial"), "disk-serial\n");
    f.part(&format!("{VDA}/vda1"), "vda1", 254, 1, 2048);
    f.part(&format!("{VDA}/vda2"), "vda2", 254, 2, 2048);
    std::fs::create_dir_all(f.path(&format!("{VDA}/queue"))).unwrap();
    std::fs::create_dir_all(f.path(&format!("{VDA}/vdaX"))).unwrap();

    f.pci("sys/devices/pci0000:00/0000:00:05.0", "virtio-pci");
    f.block(SDA, "sda", 8, 0, 100);
    f.write(
        "run/udev/data/b8:0",
        "S:disk/by-id/scsi-0QEMU\nE:ID_SERIAL=0QEMU_QEMU_HARDDISK_drive-scsi0\nG:systemd\n",
    );

    f.pci("sys/devices/pci0000:00/0000:00:1f.2", "ahci");
    for n in [1, 2, 4, 5, 6] {
        std::fs::create_dir_all(f.path(&format!("sys/devices/pci0000:00/0000:00:1f.2/ata{n}"))).unwrap();
    }
    f.block(SDB, "sdb", 8, 16, 100);

    f.pci("sys/devices/pci0000:00/0000:00:01.1", "ata_piix");
    std::fs::create_dir_all(f.path("sys/devices/pci0000:00/0000:00:01.1/ata1")).unwrap();
    f.block(SR0, "sr0", 11, 0, 100);

    f.pci("sys/devices/pci0000:00/0000:00:1c.0", "pcieport");
    f.pci("sys/devices/pci0000:00/0000:00:1c.0/0000:02:00.0", "nvme");
    f.block(NVME, "nvme0n1", 259, 0, 100);
    f.write(&format!("{NVME}/device/serial"), "S4EWNX0R123456      \n");
    f.part(&format!("{NVME}/nvme0n1p1"), "nvme0n1p1", 259, 1, 50);

    f.block(DM0, "dm-0", 252, 0, 2048);
    f.link(&format!("{DM0}/slaves/vda1"), &format!("{VDA}/vda1"));
    f.write("run/udev/data/b252:0", "E:DM_NAME=vg-root\nE:ID_SERIAL=\n");

    f.block("sys/devices/virtual/block/zram0", "zram0", 253, 0, 0);

    f.block(MMC, "vdb", 254, 16, 100);
    f.block(CCW, "vdc", 254, 32, 100);
    f
}

fn address(bus_type: GuestDiskBusType, pci: [i64; 4], dev: &str) -> GuestDiskAddress {
    GuestDiskAddress {
        ccw_address: None,
        serial: None,
        bus_type,
        bus: 0,
        unit: 0,
        pci_controller: GuestPCIAddress {
            domain: pci[0],
            bus: pci[1],
            slot: pci[2],
            function: pci[3],
        },
        dev: Some(dev.to_string()),
        target: 0,
    }
}

/// The addresses `guest-get-fsinfo` gives for the device `major:minor`.
fn fs_devices(f: &Fake, number: &str) -> (Option<String>, Vec<GuestDiskAddress>) {
    let roots = f.roots();
    let sys = Sysfs::new(&roots);
    let mut fs = FsDevices::default();
    sys.device(&f.path(&format!("sys/dev/block/{number}")), &mut fs)
        .unwrap();
    (fs.name, fs.disks)
}

#[test]
fn virtio_blk_partition() {
    let f = machine();
    let (name, disks) = fs_devices(&f, "254:1");
    assert_eq!(name.as_deref(), Some("vda1"));
    let mut expected = address(GuestDiskBusType::Virtio, [0, 0, 4, 0], "/dev/vda1");
    // No udev record: the disk's sysfs serial.
    expected.serial = Some("disk-serial".into());
    assert_eq!(disks, [expected]);
}

#[test]
fn virtio_scsi_uses_the_lun_and_udev_serial() {
    let f = machine();
    let (name, disks) = fs_devices(&f, "8:0");
    assert_eq!(name.as_deref(), Some("sda"));
    let mut expected = address(GuestDiskBusType::Scsi, [0, 0, 5, 0], "/dev/sda");
    expected.unit = 3;
    expected.serial = Some("0QEMU_QEMU_HARDDISK_drive-scsi0".into());
    assert_eq!(disks, [expected]);
}

#[test]
fn sata_unit_is_the_port_index() {
    let f = machine();
    let (_, disks) = fs_devices(&f, "8:16");
    let mut expected = address(GuestDiskBusType::Sata, [0, 0, 0x1f, 2], "/dev/sdb");
    // ata1 ata2 ata3 ata4 ...: ata3 is the third.
    expected.unit = 2;
    assert_eq!(disks, [expected]);
}

#[test]
fn udev_record_without_serial_wins_over_sysfs() {
    let f = machine();
    f.write(&format!("{SDB}/device/serial"), "sysfs-serial\n");
    assert_eq!(
        fs_devices(&f, "8:16").1[0].serial.as_deref(),
        Some("sysfs-serial")
    );
    f.write("run/udev/data/b8:16", "E:ID_TYPE=disk\n");
    assert_eq!(fs_devices(&f, "8:16").1[0].serial, None);
}

#[test]
fn ide_bus_is_the_host_index_and_unit_the_target() {
    let f = machine();
    let (_, disks) = fs_devices(&f, "11:0");
    let mut expected = address(GuestDiskBusType::Ide, [0, 0, 1, 1], "/dev/sr0");
    expected.bus = 1;
    expected.unit = 1;
    assert_eq!(disks, [expected]);
}

#[test]
fn nvme_behind_a_bridge() {
    let f = machine();
    let (_, disks) = fs_devices(&f, "259:1");
    let mut expected = address(GuestDiskBusType::Nvme, [0, 2, 0, 0], "/dev/nvme0n1p1");
    expected.serial = Some("S4EWNX0R123456".into());
    assert_eq!(disks, [expected]);
}

#[test]
fn unknown_driver_keeps_the_device_without_address() {
    let f = machine();
    std::fs::remove_file(f.path("sys/devices/pci0000:00/0000:00:05.0/driver")).unwrap();
    f.link(
        "sys/devices/pci0000:00/0000:00:05.0/driver",
        "sys/bus/pci/drivers/virtio-pci-x",
    );
    let (_, disks) = fs_devices(&f, "8:0");
    let mut expected = address(GuestDiskBusType::Unknown, [-1, -1, -1, -1], "/dev/sda");
    expected.serial = Some("0QEMU_QEMU_HARDDISK_drive-scsi0".into());
    assert_eq!(disks, [expected]);
}

#[test]
fn device_mapper_follows_slaves() {
    let f = machine();
    let (name, disks) = fs_devices(&f, "252:0");
    assert_eq!(name.as_deref(), Some("dm-0"));
    let mut expected = address(GuestDiskBusType::Virtio, [0, 0, 4, 0], "/dev/vda1");
    expected.serial = Some("disk-serial".into());
    assert_eq!(disks, [expected]);
}

#[test]
fn non_pci_virtio_and_ccw() {
    let f = machine();
    let (_, disks) = fs_devices(&f, "254:16");
    assert_eq!(disks, [address(GuestDiskBusType::Virtio, [-1; 4], "/dev/vdb")]);
    let (_, disks) = fs_devices(&f, "254:32");
    let mut expected = address(GuestDiskBusType::Virtio, [-1; 4], "/dev/vdc");
    expected.ccw_address = Some(GuestCCWAddress {
        cssid: 0,
        ssid: 0,
        subchno: 2,
        devno: 4,
    });
    assert_eq!(disks, [expected]);
}

#[test]
fn missing_device_is_named_by_its_number() {
    let f = machine();
    let (name, disks) = fs_devices(&f, "8:99");
    assert_eq!(name.as_deref(), Some("8:99"));
    assert!(disks.is_empty());
}

#[test]
fn disks_lists_disks_partitions_and_dependencies() {
    let f = machine();
    let disks = get_disks(&f.roots()).unwrap();
    let find = |name: &str| {
        disks
            .iter()
            .position(|d| d.name == name)
            .unwrap_or_else(|| panic!("{name} missing from {disks:?}"))
    };
    let vda = &disks[find("/dev/vda")];
    assert!(!vda.partition);
    assert_eq!(vda.dependencies, Some(vec![]));
    let mut expected = address(GuestDiskBusType::Virtio, [0, 0, 4, 0], "/dev/vda");
    expected.serial = Some("disk-serial".into());
    assert_eq!(vda.address, Some(expected));
    assert_eq!(vda.alias, None);
    for part in ["/dev/vda1", "/dev/vda2"] {
        let p = &disks[find(part)];
        assert!(p.partition);
        assert_eq!(p.dependencies, Some(vec!["/dev/vda".to_string()]));
        assert_eq!(p.address, None);
        // Newest first: a disk's partitions come before it.
        assert!(find(part) < find("/dev/vda"));
    }
    let dm = &disks[find("/dev/dm-0")];
    assert_eq!(dm.alias.as_deref(), Some("vg-root"));
    assert_eq!(dm.dependencies, Some(vec!["/dev/vda1".to_string()]));
    assert_eq!(dm.address, None);
    assert!(disks[find("/dev/nvme0n1p1")].partition);
    // Only the NVMe disk is asked for SMART data, at its node under the
    // fake /dev (none here: it gets none either; the VM test reads a real
    // controller's).
    assert_eq!(
        device_node(&f.roots(), "/dev/nvme0n1"),
        f.path("dev").join("nvme0n1")
    );
    for disk in &disks {
        assert_eq!(disk.smart, None, "{}", disk.name);
    }
    assert_eq!(
        disks[find("/dev/sr0")].address.as_ref().map(|a| a.bus_type),
        Some(GuestDiskBusType::Ide)
    );
    // zram0 is empty; vdaX and queue are not partitions.
    let mut names: Vec<&str> = disks.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "/dev/dm-0",
            "/dev/nvme0n1",
            "/dev/nvme0n1p1",
            "/dev/sda",
            "/dev/sdb",
            "/dev/sr0",
            "/dev/vda",
            "/dev/vda1",
            "/dev/vda2",
            "/dev/vdb",
            "/dev/vdc"
        ]
    );
}

#[test]
fn disks_without_sysfs_fails_as_qemu() {
    let f = Fake::new();
    let roots = SystemRoots {
        sys: f.path("nosys"),
        ..f.roots()
    };
    let e = get_disks(&roots).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "Can't open directory \"{}\": No such file or directory",
            f.path("nosys/block").display()
        )
    );
}

#[test]
fn fsinfo_lists_device_mounts_newest_first() {
    let f = machine();
    for d in ["mnt/root", "mnt/home", "mnt/gone"] {
        std::fs::create_dir_all(f.path(d)).unwrap();
    }
    let root = f.path("mnt/root");
    let home = f.path("mnt/home");
    let gone = f.path("mnt/gone");
    f.write(
        "mountinfo",
        &format!(
            "22 1 0:21 / /proc rw - proc proc rw\n\
             25 1 254:1 / {} rw - ext4 /dev/vda1 rw\n\
             26 25 252:0 / {} rw - xfs /dev/mapper/vg-root rw\n\
             27 25 0:50 / /srv rw - nfs4 host:/export rw\n\
             28 25 8:99 / {} rw - ext4 /dev/sdz rw\n",
            root.display(),
            home.display(),
            gone.display()
        ),
    );
    let list = get_fsinfo(&f.roots(), &f.path("mountinfo"), &f.path("none")).unwrap();
    let summary: Vec<(&str, &str, &str, usize)> = list
        .iter()
        .map(|fs| {
            (
                fs.name.as_str(),
                fs.mountpoint.as_str(),
                fs.r#type.as_str(),
                fs.disk.len(),
            )
        })
        .collect();
    let (r, h, g) = (
        root.to_str().unwrap(),
        home.to_str().unwrap(),
        gone.to_str().unwrap(),
    );
    assert_eq!(
        summary,
        [
            ("8:99", g, "ext4", 0),
            ("dm-0", h, "xfs", 1),
            ("vda1", r, "ext4", 1)
        ]
    );
    let st = rustix::fs::statvfs(&root).unwrap();
    let fs = &list[2];
    assert_eq!(fs.total_bytes_privileged, Some(st.f_blocks * st.f_frsize));
    assert_eq!(fs.disk[0].dev.as_deref(), Some("/dev/vda1"));
    // used + available never exceeds the privileged total.
    assert!(fs.total_bytes.unwrap() <= fs.total_bytes_privileged.unwrap());
    assert!(fs.used_bytes.unwrap() <= fs.total_bytes.unwrap());
}

#[test]
fn fsinfo_falls_back_to_mtab() {
    let f = machine();
    std::fs::create_dir_all(f.path("mnt/a b")).unwrap();
    let dir = f.path("mnt/a b");
    let escaped = dir.to_str().unwrap().replace(' ', "\\040");
    f.write(
        "mounts",
        &format!("proc /proc proc rw 0 0\n/dev/nosuch {escaped} ext4 rw 0 0\n//srv/share /x cifs rw 0 0\n"),
    );
    let list = get_fsinfo(&f.roots(), &f.path("none"), &f.path("mounts")).unwrap();
    assert_eq!(list.len(), 1);
    // stat of the source failed: device 0:0.
    assert_eq!(
        (list[0].name.as_str(), list[0].mountpoint.as_str()),
        ("0:0", dir.to_str().unwrap())
    );
    let e = get_fsinfo(&f.roots(), &f.path("none"), &f.path("none")).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("failed to open mtab file: '{}'", f.path("none").display())
    );
}

#[test]
fn names_and_paths() {
    assert_eq!(
        scsi_target("/devices/x/host2/target2:0:0/2:0:0:3/block/sda").map(|a| a.lun),
        Some(3)
    );
    assert_eq!(scsi_target("/devices/x/target2:0:0"), None);
    assert!(is_partition_name("nvme0n1", "nvme0n1p1"));
    assert!(is_partition_name("vda", "vda12"));
    assert!(!is_partition_name("vda", "vdaX"));
    assert!(!is_partition_name("vda", "vdap"));
    assert_eq!(basename("/a/b/"), "b");
}

#[test]
fn real_machine_root_is_found() {
    // Whatever this machine's root is backed by, the walk must not fail.
    let mountinfo = Path::new("/proc/self/mountinfo");
    get_fsinfo(&SystemRoots::default(), mountinfo, Path::new("/proc/self/mounts")).unwrap();
    get_disks(&SystemRoots::default()).unwrap();
}
