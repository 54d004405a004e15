//! Time, identity and statistics: `guest-get-time`, `guest-set-time`,
//! `guest-get-host-name`, `guest-get-users`, `guest-get-timezone`,
//! `guest-get-osinfo`, `guest-get-diskstats`, `guest-get-cpustats`,
//! `guest-get-load`.
//!
//! | command | source |
//! | --- | --- |
//! | `guest-get-time` | `clock_gettime(CLOCK_REALTIME)` |
//! | `guest-set-time` | `clock_settime(CLOCK_REALTIME)`, then `/sbin/hwclock -w`; or `/sbin/hwclock -s` alone |
//! | `guest-get-host-name` | `uname(2)` node name |
//! | `guest-get-users` | `/var/run/utmp` ([`identity`]) |
//! | `guest-get-timezone` | `TZ`, `/etc/localtime`, zone files ([`tz`]) |
//! | `guest-get-osinfo` | `uname(2)`, `os-release` ([`osrelease`]) |
//! | `guest-get-diskstats` | `/proc/diskstats` ([`stats`]) |
//! | `guest-get-cpustats` | `/proc/stat` |
//! | `guest-get-load` | `/proc/loadavg` |

pub mod clock;
pub mod identity;
pub mod osrelease;
pub mod stats;
pub mod tz;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use qapi_core::Registry;
use qga_protocol::schema::{GuestSetTimeArgs, GuestTimezone, NoArgs};

use crate::error::CommandError;
use crate::Agent;

/// `guest-get-timezone`: the local zone's abbreviation and offset now.
pub fn timezone() -> GuestTimezone {
    let now = clock::get_time() / 1_000_000_000;
    let local = tz::Zone::local().at(now);
    GuestTimezone {
        zone: Some(local.abbrev),
        offset: local.offset,
    }
}

/// Registers `guest-get-time` and `guest-set-time`.
pub fn register_time(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-get-time", |_: NoArgs| {
            Ok::<_, CommandError>(clock::get_time())
        })
        .instant();
    registry.register("guest-set-time", |args: GuestSetTimeArgs| {
        clock::set_time(args.time, Path::new(clock::HWCLOCK)).map(|()| qga_protocol::schema::Empty {})
    });
}

/// Registers `guest-get-host-name`, `guest-get-users`,
/// `guest-get-timezone` and `guest-get-osinfo`.
pub fn register_identity(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-get-host-name", |_: NoArgs| identity::host_name())
        .instant();
    let utmp = PathBuf::from(identity::UTMP);
    registry.register("guest-get-users", move |_: NoArgs| {
        Ok::<_, CommandError>(identity::users(&utmp))
    });
    registry.register(
        "guest-get-timezone",
        |_: NoArgs| Ok::<_, CommandError>(timezone()),
    );
    registry.register("guest-get-osinfo", |_: NoArgs| {
        Ok::<_, CommandError>(osrelease::get_osinfo())
    });
}

/// Registers `guest-get-diskstats` and `guest-get-cpustats`.
pub fn register_stats(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry.register("guest-get-diskstats", |_: NoArgs| {
        stats::diskstats(Path::new(stats::DISKSTATS))
    });
    registry.register("guest-get-cpustats", |_: NoArgs| {
        stats::cpustats(Path::new(stats::STAT))
    });
}

/// Registers `guest-get-load`.
pub fn register_load(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry.register("guest-get-load", |_: NoArgs| {
        stats::load(Path::new(stats::LOADAVG))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timezone_matches_the_system() {
        // This machine's zone, through date(1) when TZ is unset.
        if std::env::var_os("TZ").is_some() {
            return;
        }
        let out = std::process::Command::new("date").arg("+%Z %z").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (zone, offset) = text.trim().split_once(' ').unwrap();
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let hours: i64 = offset[1..3].parse().unwrap();
        let minutes: i64 = offset[3..5].parse().unwrap();
        let ours = timezone();
        assert_eq!(ours.zone.as_deref(), Some(zone));
        assert_eq!(ours.offset, sign * (hours * 3600 + minutes * 60));
    }
}
