//! `guest-get-time`, `guest-set-time`, `guest-get-timezone`: the system
//! clock (`CLOCK_REALTIME`), the hardware clock (through `sbin/hwclock`)
//! and the local time zone (`TZ`, the zone files under the zoneinfo root,
//! `etc/localtime`; see `qga_sys::tz`).

use std::ffi::OsStr;
use std::path::Path;

use qga_protocol::schema::{Empty, GuestSetTimeArgs, GuestTimezone, NoArgs};
use qga_sys::tz::{civil_year, Zone};
use rustix::time::{ClockId, Timespec};

use crate::agent::Agent;
use crate::config::SystemRoots;
use crate::error::CommandError;
use crate::run::run_command;

const NANOS: i64 = 1_000_000_000;

/// `guest-get-time`.
pub(crate) fn get_time(_: &Agent, _: NoArgs) -> Result<i64, CommandError> {
    Ok(now())
}

/// Nanoseconds since the epoch, at the microsecond resolution QEMU's agent
/// reports (glib's `g_get_real_time()`).
fn now() -> i64 {
    let now = rustix::time::clock_gettime(ClockId::Realtime);
    now.tv_sec
        .saturating_mul(1_000_000)
        .saturating_add(now.tv_nsec / 1000)
        .saturating_mul(1000)
}

/// The local time zone, as glib's `g_time_zone_new_local()` finds it.
fn local_zone(roots: &SystemRoots) -> Zone {
    let tz = std::env::var_os("TZ");
    Zone::local(tz.as_deref(), &roots.zoneinfo, &roots.etc.join("localtime"))
}

/// What `guest-set-time` will set the clock to: the time cut to whole
/// microseconds (as QEMU's `settimeofday` does), after QEMU's checks.
/// `zone` decides the year of the time, which must be 1970 to 2069.
fn checked_time(time_ns: i64, zone: &Zone) -> Result<Timespec, CommandError> {
    // time_t is 64 bits here, so QEMU's "Time %ld is too large" (for a
    // 32-bit time_t) never applies.
    let secs = time_ns / NANOS;
    let micros = (time_ns % NANOS) / 1000;
    let local = secs.saturating_add(zone.at(secs).offset);
    if !(1970..2070).contains(&civil_year(local)) {
        return Err(CommandError::InvalidTime);
    }
    Ok(Timespec {
        tv_sec: secs,
        tv_nsec: micros * 1000,
    })
}

/// `guest-set-time`: with `time` (ns), sets the system clock and then the
/// hardware clock from it (`hwclock -w`); without, sets the system clock
/// from the hardware clock (`hwclock -s`).
pub(crate) fn set_time(agent: &Agent, args: GuestSetTimeArgs) -> Result<Empty, CommandError> {
    let roots = agent.roots();
    set_clocks(args.time, &local_zone(roots), &roots.sbin.join("hwclock")).map(|()| Empty {})
}

fn set_clocks(time_ns: Option<i64>, zone: &Zone, hwclock: &Path) -> Result<(), CommandError> {
    if let Some(time_ns) = time_ns {
        let when = checked_time(time_ns, zone)?;
        log::info!("guest-set-time: setting the clock to {time_ns} ns");
        rustix::time::clock_settime(ClockId::Realtime, when).map_err(CommandError::SetTime)?;
    }
    let flag = if time_ns.is_some() { "-w" } else { "-s" };
    run_command(
        hwclock.as_os_str(),
        &[OsStr::new(flag)],
        None,
        "set hardware clock to system time",
    )
}

/// `guest-get-timezone`: the local zone's abbreviation and offset now.
pub(crate) fn timezone(agent: &Agent, _: NoArgs) -> Result<GuestTimezone, CommandError> {
    let local = local_zone(agent.roots()).at(now() / NANOS);
    Ok(GuestTimezone {
        zone: Some(local.abbrev),
        offset: local.offset,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn time_is_now_in_microseconds() {
        let ours = now();
        let std = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos() as i64;
        assert_eq!(ours % 1000, 0);
        assert!((std - ours).abs() < 5 * NANOS, "{ours} vs {std}");
    }

    #[test]
    fn times_are_checked_like_qemu() {
        let utc = Zone::utc();
        let invalid = |t| checked_time(t, &utc).unwrap_err().to_string();
        let ok = checked_time(1_700_000_000_123_456_789, &utc).unwrap();
        assert_eq!((ok.tv_sec, ok.tv_nsec), (1_700_000_000, 123_456_000));
        // 2070-01-01T00:00:00Z and one second before.
        assert_eq!(invalid(3_155_760_000 * NANOS), "Invalid time");
        assert!(checked_time(3_155_759_999 * NANOS, &utc).is_ok());
        assert_eq!(invalid(-NANOS), "Invalid time");
        assert_eq!(invalid(i64::MAX), "Invalid time");
        assert_eq!(invalid(i64::MIN), "Invalid time");
        // Just under a second before the epoch truncates to 0 s, with a
        // negative fraction the kernel refuses.
        let odd = checked_time(-1000, &utc).unwrap();
        assert_eq!((odd.tv_sec, odd.tv_nsec), (0, -1000));
        // The year is the local one.
        let east = Zone::from_setting(Some(OsStr::new("+01")), Path::new("/"), Path::new("/")).unwrap();
        assert_eq!(
            checked_time((3_155_760_000 - 1800) * NANOS, &east)
                .unwrap_err()
                .to_string(),
            "Invalid time"
        );
    }

    #[test]
    fn without_time_only_hwclock_runs() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log");
        let hwclock = dir.path().join("hwclock");
        std::fs::write(
            &hwclock,
            format!("#!/bin/sh\necho \"$@\" >> {}\n[ \"$1\" = -s ]\n", log.display()),
        )
        .unwrap();
        std::fs::set_permissions(&hwclock, std::fs::Permissions::from_mode(0o755)).unwrap();
        let utc = Zone::utc();
        set_clocks(None, &utc, &hwclock).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "-s\n");
        // An invalid time is refused before anything runs.
        assert_eq!(
            set_clocks(Some(i64::MAX), &utc, &hwclock)
                .unwrap_err()
                .to_string(),
            "Invalid time"
        );
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "-s\n");
        assert_eq!(
            set_clocks(None, &utc, &dir.path().join("missing"))
                .unwrap_err()
                .to_string(),
            format!(
                "child process has failed to set hardware clock to system time: \
                 failed to exec '{}/missing': No such file or directory\n",
                dir.path().display()
            )
        );
    }

    #[test]
    fn timezone_matches_the_system() {
        // This machine's zone, through date(1) when TZ is unset.
        if std::env::var_os("TZ").is_some() || std::env::var_os("TZDIR").is_some() {
            return;
        }
        let out = std::process::Command::new("date").arg("+%Z %z").output().unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        let (zone, offset) = text.trim().split_once(' ').unwrap();
        let sign = if offset.starts_with('-') { -1 } else { 1 };
        let hours: i64 = offset[1..3].parse().unwrap();
        let minutes: i64 = offset[3..5].parse().unwrap();
        let ours = local_zone(&SystemRoots::default()).at(now() / NANOS);
        assert_eq!(ours.abbrev, zone);
        assert_eq!(ours.offset, sign * (hours * 3600 + minutes * 60));
    }
}
