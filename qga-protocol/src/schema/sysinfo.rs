//! Types of time, identity and statistics: guest-get-time, guest-set-time, guest-get-host-name, guest-get-users, guest-get-timezone, guest-get-osinfo, guest-get-diskstats, guest-get-cpustats, guest-get-load.
//!
//! Result members are declared in the order QEMU's agent writes them (its
//! dictionaries' hash order), so replies match byte for byte.

use serde::{Deserialize, Serialize};

/// Arguments of `guest-set-time`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSetTimeArgs {
    /// The time to set, in nanoseconds since the Unix epoch (UTC); when
    /// left out the system clock is set from the hardware clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<i64>,
}

/// Result of `guest-get-host-name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestHostName {
    /// The guest's host name.
    #[serde(rename = "host-name")]
    pub host_name: String,
}

/// One logged-in user, an element of the `guest-get-users` result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuestUser {
    /// Time of the earliest login of this user, in seconds (with a
    /// fractional part) since the Unix epoch.
    #[serde(rename = "login-time")]
    pub login_time: f64,
    /// The logon domain (Windows guests only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The user name.
    pub user: String,
}

/// Result of `guest-get-timezone`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestTimezone {
    /// The zone's abbreviation, e.g. `CET`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Offset from UTC in seconds, positive east of Greenwich.
    pub offset: i64,
}

/// Result of `guest-get-osinfo`: the kernel (from `uname`) and the
/// distribution (from `os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestOSInfo {
    /// `NAME` of os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The kernel release (`uname -r`).
    #[serde(rename = "kernel-release", default, skip_serializing_if = "Option::is_none")]
    pub kernel_release: Option<String>,
    /// `VERSION` of os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `VARIANT` of os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// `PRETTY_NAME` of os-release.
    #[serde(rename = "pretty-name", default, skip_serializing_if = "Option::is_none")]
    pub pretty_name: Option<String>,
    /// `VERSION_ID` of os-release.
    #[serde(rename = "version-id", default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    /// `VARIANT_ID` of os-release.
    #[serde(rename = "variant-id", default, skip_serializing_if = "Option::is_none")]
    pub variant_id: Option<String>,
    /// The kernel version (`uname -v`).
    #[serde(rename = "kernel-version", default, skip_serializing_if = "Option::is_none")]
    pub kernel_version: Option<String>,
    /// The machine hardware name (`uname -m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// `ID` of os-release.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

/// The I/O statistics of one block device, as `/proc/diskstats` gives
/// them; members the kernel does not report are left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDiskStats {
    /// Sectors discarded.
    #[serde(rename = "discard-sectors", default, skip_serializing_if = "Option::is_none")]
    pub discard_sectors: Option<u64>,
    /// Writes completed.
    #[serde(rename = "write-ios", default, skip_serializing_if = "Option::is_none")]
    pub write_ios: Option<u64>,
    /// Discards completed.
    #[serde(rename = "discard-ios", default, skip_serializing_if = "Option::is_none")]
    pub discard_ios: Option<u64>,
    /// Milliseconds spent discarding.
    #[serde(rename = "discard-ticks", default, skip_serializing_if = "Option::is_none")]
    pub discard_ticks: Option<u64>,
    /// Weighted milliseconds spent doing I/O.
    #[serde(rename = "weight-ticks", default, skip_serializing_if = "Option::is_none")]
    pub weight_ticks: Option<u64>,
    /// Reads completed.
    #[serde(rename = "read-ios", default, skip_serializing_if = "Option::is_none")]
    pub read_ios: Option<u64>,
    /// Flush requests completed.
    #[serde(rename = "flush-ios", default, skip_serializing_if = "Option::is_none")]
    pub flush_ios: Option<u64>,
    /// Sectors written.
    #[serde(rename = "write-sectors", default, skip_serializing_if = "Option::is_none")]
    pub write_sectors: Option<u64>,
    /// Writes merged.
    #[serde(rename = "write-merges", default, skip_serializing_if = "Option::is_none")]
    pub write_merges: Option<u64>,
    /// Milliseconds spent writing.
    #[serde(rename = "write-ticks", default, skip_serializing_if = "Option::is_none")]
    pub write_ticks: Option<u64>,
    /// I/Os currently in progress.
    #[serde(rename = "ios-pgr", default, skip_serializing_if = "Option::is_none")]
    pub ios_pgr: Option<u64>,
    /// Sectors read.
    #[serde(rename = "read-sectors", default, skip_serializing_if = "Option::is_none")]
    pub read_sectors: Option<u64>,
    /// Reads merged.
    #[serde(rename = "read-merges", default, skip_serializing_if = "Option::is_none")]
    pub read_merges: Option<u64>,
    /// Milliseconds spent doing I/O.
    #[serde(rename = "total-ticks", default, skip_serializing_if = "Option::is_none")]
    pub total_ticks: Option<u64>,
    /// Discards merged.
    #[serde(rename = "discard-merges", default, skip_serializing_if = "Option::is_none")]
    pub discard_merges: Option<u64>,
    /// Milliseconds spent flushing.
    #[serde(rename = "flush-ticks", default, skip_serializing_if = "Option::is_none")]
    pub flush_ticks: Option<u64>,
    /// Milliseconds spent reading.
    #[serde(rename = "read-ticks", default, skip_serializing_if = "Option::is_none")]
    pub read_ticks: Option<u64>,
}

/// One block device of the `guest-get-diskstats` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestDiskStatsInfo {
    /// The device's kernel name, e.g. `vda`.
    pub name: String,
    /// Its statistics.
    pub stats: GuestDiskStats,
    /// Minor device number.
    pub minor: u64,
    /// Major device number.
    pub major: u64,
}

/// The kind of a [`GuestCpuStats`] (QAPI `GuestCpuStatsType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestCpuStatsType {
    /// Linux's `/proc/stat` counters.
    Linux,
}

/// The time one CPU spent in each state, in milliseconds: an element of the
/// `guest-get-cpustats` result. QAPI's flat union `GuestCpuStats` on
/// `type`, whose only variant is `linux` (`GuestLinuxCpuStats`): its
/// members sit beside `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestCpuStats {
    /// The CPU's number.
    pub cpu: i64,
    /// Time running a niced guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guestnice: Option<u64>,
    /// Idle time.
    pub idle: u64,
    /// Time stolen by the hypervisor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steal: Option<u64>,
    /// Time waiting for I/O.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iowait: Option<u64>,
    /// Time in the kernel.
    pub system: u64,
    /// Time running a guest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub guest: Option<u64>,
    /// Time in niced user processes.
    pub nice: u64,
    /// Time servicing interrupts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irq: Option<u64>,
    /// The union's discriminator: always `linux`.
    #[serde(rename = "type")]
    pub kind: GuestCpuStatsType,
    /// Time in user processes.
    pub user: u64,
    /// Time servicing soft interrupts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub softirq: Option<u64>,
}

/// Result of `guest-get-load`: the load averages.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GuestLoadAverage {
    /// Over the last 15 minutes.
    pub load15m: f64,
    /// Over the last 5 minutes.
    pub load5m: f64,
    /// Over the last minute.
    pub load1m: f64,
}
