//! Types of disks and filesystems: guest-get-disks, guest-get-fsinfo.
//!
//! Members are declared in the order QEMU's agent writes them (the order
//! of its dictionary's hash buckets), so replies match it byte for byte.

use serde::{Deserialize, Serialize};

/// How a disk is attached (QAPI `GuestDiskBusType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestDiskBusType {
    /// IDE.
    Ide,
    /// Floppy disk controller.
    Fdc,
    /// SCSI (including virtio-scsi).
    Scsi,
    /// virtio-blk.
    Virtio,
    /// Xen.
    Xen,
    /// USB.
    Usb,
    /// User-mode Linux.
    Uml,
    /// SATA (AHCI).
    Sata,
    /// SD card.
    Sd,
    /// Not known.
    Unknown,
    /// FireWire.
    Ieee1394,
    /// Serial storage architecture.
    Ssa,
    /// Fibre channel.
    Fibre,
    /// RAID.
    Raid,
    /// iSCSI.
    Iscsi,
    /// Serial attached SCSI.
    Sas,
    /// MMC.
    Mmc,
    /// A virtual disk.
    Virtual,
    /// A file-backed virtual disk.
    FileBackedVirtual,
    /// NVMe.
    Nvme,
}

/// A PCI address (QAPI `GuestPCIAddress`); every member is -1 when the
/// disk is not behind a PCI controller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestPCIAddress {
    /// Bus number.
    pub bus: i64,
    /// Slot (device) number.
    pub slot: i64,
    /// PCI domain.
    pub domain: i64,
    /// Function number.
    pub function: i64,
}

impl GuestPCIAddress {
    /// The address of a disk that is not behind a PCI controller.
    pub const NONE: GuestPCIAddress = GuestPCIAddress {
        bus: -1,
        slot: -1,
        domain: -1,
        function: -1,
    };
}

/// An s390x channel I/O address (QAPI `GuestCCWAddress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestCCWAddress {
    /// Channel subsystem image id.
    pub cssid: i64,
    /// Subchannel set id.
    pub ssid: i64,
    /// Subchannel number.
    pub subchno: i64,
    /// Device number.
    pub devno: i64,
}

/// Where a disk is attached (QAPI `GuestDiskAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDiskAddress {
    /// The channel I/O address (s390x only).
    #[serde(rename = "ccw-address", default, skip_serializing_if = "Option::is_none")]
    pub ccw_address: Option<GuestCCWAddress>,
    /// The disk's serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    /// The kind of bus.
    #[serde(rename = "bus-type")]
    pub bus_type: GuestDiskBusType,
    /// Bus number.
    pub bus: i64,
    /// Unit number.
    pub unit: i64,
    /// The PCI controller the disk is behind.
    #[serde(rename = "pci-controller")]
    pub pci_controller: GuestPCIAddress,
    /// The device node (`/dev/vda1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dev: Option<String>,
    /// Target number.
    pub target: i64,
}

/// NVMe SMART / health information (QAPI `GuestNVMeSmart`), as the flat
/// `GuestDiskSmart` union with its only variant (`type` is `nvme`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDiskSmart {
    /// SMART log field `available-spare`.
    #[serde(rename = "available-spare")]
    pub available_spare: i64,
    /// SMART log field `host-write-commands-hi`.
    #[serde(rename = "host-write-commands-hi")]
    pub host_write_commands_hi: u64,
    /// SMART log field `temperature` (kelvin).
    pub temperature: i64,
    /// SMART log field `power-on-hours-lo`.
    #[serde(rename = "power-on-hours-lo")]
    pub power_on_hours_lo: u64,
    /// SMART log field `host-read-commands-hi`.
    #[serde(rename = "host-read-commands-hi")]
    pub host_read_commands_hi: u64,
    /// SMART log field `host-read-commands-lo`.
    #[serde(rename = "host-read-commands-lo")]
    pub host_read_commands_lo: u64,
    /// SMART log field `number-of-error-log-entries-hi`.
    #[serde(rename = "number-of-error-log-entries-hi")]
    pub number_of_error_log_entries_hi: u64,
    /// SMART log field `unsafe-shutdowns-hi`.
    #[serde(rename = "unsafe-shutdowns-hi")]
    pub unsafe_shutdowns_hi: u64,
    /// SMART log field `unsafe-shutdowns-lo`.
    #[serde(rename = "unsafe-shutdowns-lo")]
    pub unsafe_shutdowns_lo: u64,
    /// SMART log field `host-write-commands-lo`.
    #[serde(rename = "host-write-commands-lo")]
    pub host_write_commands_lo: u64,
    /// SMART log field `available-spare-threshold`.
    #[serde(rename = "available-spare-threshold")]
    pub available_spare_threshold: i64,
    /// SMART log field `power-on-hours-hi`.
    #[serde(rename = "power-on-hours-hi")]
    pub power_on_hours_hi: u64,
    /// SMART log field `controller-busy-time-hi`.
    #[serde(rename = "controller-busy-time-hi")]
    pub controller_busy_time_hi: u64,
    /// SMART log field `controller-busy-time-lo`.
    #[serde(rename = "controller-busy-time-lo")]
    pub controller_busy_time_lo: u64,
    /// SMART log field `data-units-read-hi`.
    #[serde(rename = "data-units-read-hi")]
    pub data_units_read_hi: u64,
    /// SMART log field `data-units-read-lo`.
    #[serde(rename = "data-units-read-lo")]
    pub data_units_read_lo: u64,
    /// SMART log field `power-cycles-hi`.
    #[serde(rename = "power-cycles-hi")]
    pub power_cycles_hi: u64,
    /// SMART log field `power-cycles-lo`.
    #[serde(rename = "power-cycles-lo")]
    pub power_cycles_lo: u64,
    /// SMART log field `media-errors-hi`.
    #[serde(rename = "media-errors-hi")]
    pub media_errors_hi: u64,
    /// SMART log field `media-errors-lo`.
    #[serde(rename = "media-errors-lo")]
    pub media_errors_lo: u64,
    /// SMART log field `data-units-written-hi`.
    #[serde(rename = "data-units-written-hi")]
    pub data_units_written_hi: u64,
    /// SMART log field `data-units-written-lo`.
    #[serde(rename = "data-units-written-lo")]
    pub data_units_written_lo: u64,
    /// The union's discriminator: always [`GuestDiskBusType::Nvme`].
    #[serde(rename = "type")]
    pub r#type: GuestDiskBusType,
    /// SMART log field `critical-warning`.
    #[serde(rename = "critical-warning")]
    pub critical_warning: i64,
    /// SMART log field `percentage-used`.
    #[serde(rename = "percentage-used")]
    pub percentage_used: i64,
    /// SMART log field `number-of-error-log-entries-lo`.
    #[serde(rename = "number-of-error-log-entries-lo")]
    pub number_of_error_log_entries_lo: u64,
}

/// One block device or partition (QAPI `GuestDiskInfo`), an element of
/// `guest-get-disks`' result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDiskInfo {
    /// The device node (`/dev/vda`).
    pub name: String,
    /// SMART information (NVMe only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smart: Option<GuestDiskSmart>,
    /// Device nodes this one is built on (a partition's disk, a device
    /// mapper volume's disks).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dependencies: Option<Vec<String>>,
    /// Whether this is a partition.
    pub partition: bool,
    /// Where the disk is attached (not for virtual devices).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<GuestDiskAddress>,
    /// The device mapper name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<String>,
}

/// One mounted filesystem (QAPI `GuestFilesystemInfo`), an element of
/// `guest-get-fsinfo`'s result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestFilesystemInfo {
    /// The kernel's name of the device (`vda1`, `dm-0`).
    pub name: String,
    /// Size in bytes as an unprivileged user sees it (used + available).
    #[serde(rename = "total-bytes", default, skip_serializing_if = "Option::is_none")]
    pub total_bytes: Option<u64>,
    /// Size in bytes including the space reserved for root.
    #[serde(
        rename = "total-bytes-privileged",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub total_bytes_privileged: Option<u64>,
    /// Where it is mounted.
    pub mountpoint: String,
    /// The physical disks under it.
    pub disk: Vec<GuestDiskAddress>,
    /// Bytes in use.
    #[serde(rename = "used-bytes", default, skip_serializing_if = "Option::is_none")]
    pub used_bytes: Option<u64>,
    /// Filesystem type (`ext4`).
    #[serde(rename = "type")]
    pub r#type: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bus_type_names() {
        let names: Vec<String> = [
            GuestDiskBusType::Ieee1394,
            GuestDiskBusType::FileBackedVirtual,
            GuestDiskBusType::Nvme,
            GuestDiskBusType::Virtio,
        ]
        .iter()
        .map(|t| serde_json::to_string(t).unwrap_or_default())
        .collect();
        assert_eq!(
            names,
            [
                "\"ieee1394\"",
                "\"file-backed-virtual\"",
                "\"nvme\"",
                "\"virtio\""
            ]
        );
    }

    #[test]
    fn members_in_qemu_order() {
        let fs = GuestFilesystemInfo {
            name: "vda".into(),
            total_bytes: Some(2),
            total_bytes_privileged: Some(3),
            mountpoint: "/".into(),
            disk: vec![GuestDiskAddress {
                ccw_address: None,
                serial: Some("s".into()),
                bus_type: GuestDiskBusType::Virtio,
                bus: 0,
                unit: 0,
                pci_controller: GuestPCIAddress {
                    bus: 0,
                    slot: 2,
                    domain: 0,
                    function: 0,
                },
                dev: Some("/dev/vda".into()),
                target: 0,
            }],
            used_bytes: Some(1),
            r#type: "ext4".into(),
        };
        assert_eq!(
            serde_json::to_string(&fs).unwrap_or_default(),
            r#"{"name":"vda","total-bytes":2,"total-bytes-privileged":3,"mountpoint":"/","disk":[{"serial":"s","bus-type":"virtio","bus":0,"unit":0,"pci-controller":{"bus":0,"slot":2,"domain":0,"function":0},"dev":"/dev/vda","target":0}],"used-bytes":1,"type":"ext4"}"#
        );
    }
}
