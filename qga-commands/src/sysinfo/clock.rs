//! `guest-get-time` and `guest-set-time`: the system clock
//! (`CLOCK_REALTIME`) and the hardware clock, through `/sbin/hwclock`.

use std::ffi::OsStr;
use std::path::Path;

use rustix::time::{ClockId, Timespec};

use super::tz::{civil_year, Zone};
use crate::error::CommandError;
use crate::run::run_command;

/// Where QEMU's agent finds `hwclock`.
pub const HWCLOCK: &str = "/sbin/hwclock";

const NANOS: i64 = 1_000_000_000;

/// `guest-get-time`: nanoseconds since the epoch, at the microsecond
/// resolution QEMU's agent reports (glib's `g_get_real_time()`).
pub fn get_time() -> i64 {
    let now = rustix::time::clock_gettime(ClockId::Realtime);
    now.tv_sec
        .saturating_mul(1_000_000)
        .saturating_add(now.tv_nsec / 1000)
        .saturating_mul(1000)
}

/// What `guest-set-time` will set the clock to: the time cut to whole
/// microseconds (as QEMU's `settimeofday` does), after QEMU's checks.
/// `zone` decides the year of the time, which must be 1970 to 2069.
pub fn checked_time(time_ns: i64, zone: &Zone) -> Result<Timespec, CommandError> {
    // time_t is 64 bits here, so QEMU's "Time %ld is too large" (for a
    // 32-bit time_t) never applies.
    let secs = time_ns / NANOS;
    let micros = (time_ns % NANOS) / 1000;
    let local = secs.saturating_add(zone.at(secs).offset);
    if !(1970..2070).contains(&civil_year(local)) {
        return Err(CommandError::msg("Invalid time"));
    }
    Ok(Timespec {
        tv_sec: secs,
        tv_nsec: micros * 1000,
    })
}

/// `guest-set-time`: with `time` (ns), sets the system clock and then the
/// hardware clock from it (`hwclock -w`); without, sets the system clock
/// from the hardware clock (`hwclock -s`).
pub fn set_time(time_ns: Option<i64>, hwclock: &Path) -> Result<(), CommandError> {
    if let Some(time_ns) = time_ns {
        let when = checked_time(time_ns, &Zone::local())?;
        log::info!("guest-set-time: setting the clock to {time_ns} ns");
        rustix::time::clock_settime(ClockId::Realtime, when)
            .map_err(|e| CommandError::errno("Failed to set time to guest", e))?;
    }
    let flag = if time_ns.is_some() { "-w" } else { "-s" };
    run_command(
        hwclock.as_os_str(),
        &[OsStr::new(flag)],
        None,
        "set hardware clock to system time",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn time_is_now_in_microseconds() {
        let ours = get_time();
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
        let ok = checked_time(1_700_000_000_123_456_789, &utc).unwrap();
        assert_eq!((ok.tv_sec, ok.tv_nsec), (1_700_000_000, 123_456_000));
        // 2070-01-01T00:00:00Z and one second before.
        assert_eq!(
            checked_time(3_155_760_000 * NANOS, &utc).unwrap_err().0,
            "Invalid time"
        );
        assert!(checked_time(3_155_759_999 * NANOS, &utc).is_ok());
        assert_eq!(checked_time(-NANOS, &utc).unwrap_err().0, "Invalid time");
        assert_eq!(checked_time(i64::MAX, &utc).unwrap_err().0, "Invalid time");
        assert_eq!(checked_time(i64::MIN, &utc).unwrap_err().0, "Invalid time");
        // Just under a second before the epoch truncates to 0 s, with a
        // negative fraction the kernel refuses.
        let odd = checked_time(-1000, &utc).unwrap();
        assert_eq!((odd.tv_sec, odd.tv_nsec), (0, -1000));
        // The year is the local one.
        let east = Zone::from_setting(Some(OsStr::new("+01")), Path::new("/"), Path::new("/")).unwrap();
        assert_eq!(
            checked_time((3_155_760_000 - 1800) * NANOS, &east).unwrap_err().0,
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
        set_time(None, &hwclock).unwrap();
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "-s\n");
        // An invalid time is refused before anything runs.
        assert_eq!(set_time(Some(i64::MAX), &hwclock).unwrap_err().0, "Invalid time");
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "-s\n");
        assert_eq!(
            set_time(None, &dir.path().join("missing")).unwrap_err().0,
            format!(
                "child process has failed to set hardware clock to system time: \
                 failed to exec '{}/missing': No such file or directory\n",
                dir.path().display()
            )
        );
    }
}
