//! `guest-get-diskstats`, `guest-get-cpustats` and `guest-get-load`:
//! `proc/diskstats`, `proc/stat` (in the clock ticks `proc/self/auxv`
//! gives) and `proc/loadavg`, read as QEMU's agent reads them. The files
//! are parsed by `qga_sys::procfs`; this module picks the reply's members.

use std::path::Path;

use qga_protocol::schema::{
    GuestCpuStats, GuestCpuStatsType, GuestDiskStats, GuestDiskStatsInfo, GuestLoadAverage, NoArgs,
};

use qga_sys::procfs;

use crate::agent::Agent;
use crate::error::{Call, CommandError};

/// `guest-get-diskstats`.
pub(crate) fn diskstats(agent: &Agent, _: NoArgs) -> Result<Vec<GuestDiskStatsInfo>, CommandError> {
    read_diskstats(&agent.roots().proc.join("diskstats"))
}

/// `guest-get-cpustats`.
pub(crate) fn cpustats(agent: &Agent, _: NoArgs) -> Result<Vec<GuestCpuStats>, CommandError> {
    let proc = &agent.roots().proc;
    Ok(parse_cpustats(&read(&proc.join("stat"))?, clock_ticks(proc)))
}

/// `guest-get-load`, as glibc's `getloadavg` reads it.
pub(crate) fn load(agent: &Agent, _: NoArgs) -> Result<GuestLoadAverage, CommandError> {
    read_load(&agent.roots().proc.join("loadavg"))
}

/// Largest statistics file read.
const MAX_FILE: u64 = 16 << 20;

fn read(path: &Path) -> Result<String, CommandError> {
    let data = qga_sys::fs::read_capped(path, MAX_FILE)
        .map_err(|e| CommandError::call(Call::Open, path.display(), e))?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// The reply entry of one `/proc/diskstats` line, or `None` for a line
/// with fewer than four counters. Members are present as QEMU's agent
/// reports them for each count (4, 11, 15 or 17 counters, 5 to 10 giving
/// none).
fn diskstats_entry(line: &str) -> Option<GuestDiskStatsInfo> {
    let line = procfs::parse_diskstats_line(line)?;
    let v = &line.counters;
    // Counters the kernel prints as unsigned int, read as QEMU's %u does.
    let uint = |x: u64| Some(u64::from(x as u32));
    let mut s = GuestDiskStats::default();
    match v[..] {
        [] | [_] | [_, _] | [_, _, _] => return None,
        [read_ios, read_sectors, write_ios, write_sectors] => {
            s.read_ios = Some(read_ios);
            s.read_sectors = Some(read_sectors);
            s.write_ios = Some(write_ios);
            s.write_sectors = Some(write_sectors);
        }
        [read_ios, read_merges, read_sectors, read_ticks, write_ios, write_merges, write_sectors, write_ticks, ios_pgr, total_ticks, weight_ticks, ref rest @ ..] =>
        {
            s.read_ios = Some(read_ios);
            s.read_merges = Some(read_merges);
            s.read_sectors = Some(read_sectors);
            s.read_ticks = Some(read_ticks);
            s.write_ios = Some(write_ios);
            s.write_merges = Some(write_merges);
            s.write_sectors = Some(write_sectors);
            s.write_ticks = uint(write_ticks);
            s.ios_pgr = uint(ios_pgr);
            s.total_ticks = uint(total_ticks);
            s.weight_ticks = uint(weight_ticks);
            if let [discard_ios, discard_merges, discard_sectors, discard_ticks, ref rest @ ..] = rest[..] {
                s.discard_ios = Some(discard_ios);
                s.discard_merges = Some(discard_merges);
                s.discard_sectors = Some(discard_sectors);
                s.discard_ticks = uint(discard_ticks);
                if let [flush_ios, flush_ticks, ..] = rest[..] {
                    s.flush_ios = Some(flush_ios);
                    s.flush_ticks = uint(flush_ticks);
                }
            }
        }
        _ => {}
    }
    Some(GuestDiskStatsInfo {
        name: line.name.to_string(),
        stats: s,
        minor: u64::from(line.minor),
        major: u64::from(line.major),
    })
}

/// The disk statistics of the file at `path`.
fn read_diskstats(path: &Path) -> Result<Vec<GuestDiskStatsInfo>, CommandError> {
    Ok(read(path)?.lines().filter_map(diskstats_entry).collect())
}

/// The kernel's clock ticks per second (`AT_CLKTCK`), which `/proc/stat`
/// counts in, from the agent's auxiliary vector under `proc`; 100 if it
/// does not say.
fn clock_ticks(proc: &Path) -> u64 {
    std::fs::read(proc.join("self/auxv"))
        .ok()
        .and_then(|auxv| procfs::clock_ticks(&auxv))
        .unwrap_or(100)
}

/// `guest-get-cpustats` from `/proc/stat` text, ticks converted to
/// milliseconds with `ticks_per_second`. Only the per-CPU `cpuN` lines
/// count; a `cpuN` line with fewer than four counters ends the list.
fn parse_cpustats(text: &str, ticks_per_second: u64) -> Vec<GuestCpuStats> {
    let hz = ticks_per_second.max(1);
    let ms = |ticks: u64| ticks.wrapping_mul(1000) / hz;
    procfs::parse_cpu_lines(text)
        .into_iter()
        .filter_map(|cpu| {
            let v = &cpu.ticks;
            let at = |i: usize| v.get(i).map(|&t| ms(t));
            Some(GuestCpuStats {
                cpu: cpu.cpu,
                guestnice: at(9),
                idle: at(3)?,
                steal: at(7),
                iowait: at(4),
                system: at(2)?,
                guest: at(8),
                nice: at(1)?,
                irq: at(5),
                kind: GuestCpuStatsType::Linux,
                user: at(0)?,
                softirq: if v.len() >= 6 { at(6) } else { None },
            })
        })
        .collect()
}

/// The three load averages at the start of `/proc/loadavg` text.
fn parse_loadavg(text: &str) -> Option<GuestLoadAverage> {
    let avg = procfs::parse_loadavg(text)?;
    Some(GuestLoadAverage {
        load15m: avg.fifteen,
        load5m: avg.five,
        load1m: avg.one,
    })
}

/// The load averages of the file at `path`.
fn read_load(path: &Path) -> Result<GuestLoadAverage, CommandError> {
    let text = std::fs::read(path).map_err(|e| CommandError::LoadAverage(Some(e.into())))?;
    parse_loadavg(&String::from_utf8_lossy(&text)).ok_or(CommandError::LoadAverage(None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_field_counts() {
        let full = diskstats_entry(" 254       0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17").unwrap();
        assert_eq!((full.name.as_str(), full.major, full.minor), ("vda", 254, 0));
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(
            json,
            "{\"name\":\"vda\",\"stats\":{\"discard-sectors\":14,\"write-ios\":5,\"discard-ios\":12,\
\"discard-ticks\":15,\"weight-ticks\":11,\"read-ios\":1,\"flush-ios\":16,\"write-sectors\":7,\
\"write-merges\":6,\"write-ticks\":8,\"ios-pgr\":9,\"read-sectors\":3,\"read-merges\":2,\
\"total-ticks\":10,\"discard-merges\":13,\"flush-ticks\":17,\"read-ticks\":4},\"minor\":0,\"major\":254}"
        );
        let eleven = diskstats_entry("8 0 sda 1 2 3 4 5 6 7 8 9 10 11").unwrap().stats;
        assert_eq!(
            (eleven.weight_ticks, eleven.discard_ios, eleven.flush_ios),
            (Some(11), None, None)
        );
        let fifteen = diskstats_entry("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
            .unwrap()
            .stats;
        assert_eq!((fifteen.discard_ticks, fifteen.flush_ios), (Some(15), None));
        let old = diskstats_entry("8 1 sda1 1 2 3 4").unwrap().stats;
        assert_eq!(
            (
                old.read_ios,
                old.read_sectors,
                old.write_ios,
                old.write_sectors,
                old.read_merges
            ),
            (Some(1), Some(2), Some(3), Some(4), None)
        );
        assert_eq!(
            diskstats_entry("8 1 sda1 1 2 3 4 5").unwrap().stats,
            GuestDiskStats::default()
        );
        assert_eq!(diskstats_entry("8 1 sda1 1 2 3"), None);
        assert_eq!(diskstats_entry("x 1 sda1 1 2 3 4"), None);
        assert_eq!(diskstats_entry(""), None);
        // Unsigned-int counters wrap as C's %u stores them.
        let wrapped = diskstats_entry("8 0 sda 1 2 3 4 5 6 7 4294967297 9 10 11")
            .unwrap()
            .stats;
        assert_eq!(wrapped.write_ticks, Some(1));
    }

    #[test]
    fn diskstats_of_this_machine() {
        let ours = read_diskstats(Path::new("/proc/diskstats")).unwrap();
        let text = std::fs::read_to_string("/proc/diskstats").unwrap();
        assert_eq!(ours.len(), text.lines().count());
        assert_eq!(
            read_diskstats(Path::new("/nonexistent")).unwrap_err().to_string(),
            "open(\"/nonexistent\"): No such file or directory"
        );
    }

    #[test]
    fn cpustats_like_qemu() {
        let text = "cpu  10 20 30 40 50 60 70 80 90 100\ncpu0 100 200 300 400 500 600 700 800 900 1000\n\
cpu1 1 2 3 4\nintr 5 6\ncpu2 1 2 3 4 5 6 7 8 9\ncpu3 1 2 3 4 5\ncpufoo 1 2 3 4 5 6 7\ncpu5 1 2\ncpu6 1 2 3 4\n";
        let stats = parse_cpustats(text, 100);
        let json = serde_json::to_string(&stats).unwrap();
        assert_eq!(
            json,
            "[{\"cpu\":0,\"guestnice\":10000,\"idle\":4000,\"steal\":8000,\"iowait\":5000,\"system\":3000,\
\"guest\":9000,\"nice\":2000,\"irq\":6000,\"type\":\"linux\",\"user\":1000,\"softirq\":7000},\
{\"cpu\":1,\"idle\":40,\"system\":30,\"nice\":20,\"type\":\"linux\",\"user\":10},\
{\"cpu\":2,\"idle\":40,\"steal\":80,\"iowait\":50,\"system\":30,\"guest\":90,\"nice\":20,\"irq\":60,\
\"type\":\"linux\",\"user\":10,\"softirq\":70},\
{\"cpu\":3,\"idle\":40,\"iowait\":50,\"system\":30,\"nice\":20,\"type\":\"linux\",\"user\":10},\
{\"cpu\":0,\"idle\":40,\"iowait\":50,\"system\":30,\"nice\":20,\"irq\":60,\"type\":\"linux\",\
\"user\":10,\"softirq\":70}]"
        );
        assert_eq!(parse_cpustats("", 100), vec![]);
    }

    #[test]
    fn cpustats_of_this_machine() {
        let stats = parse_cpustats(
            &read(Path::new("/proc/stat")).unwrap(),
            clock_ticks(Path::new("/proc")),
        );
        let cpus = std::fs::read_to_string("/proc/stat")
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        assert_eq!(stats.len(), cpus);
        assert_eq!(clock_ticks(Path::new("/proc")), 100);
    }

    #[test]
    fn load_averages() {
        let avg = parse_loadavg("0.52 1.25 10.00 2/345 6789\n").unwrap();
        assert_eq!((avg.load1m, avg.load5m, avg.load15m), (0.52, 1.25, 10.0));
        assert_eq!(parse_loadavg("0.5 1\n"), None);
        assert_eq!(parse_loadavg(""), None);
        assert!(load_now().is_ok());
        assert_eq!(
            read_load(Path::new("/nonexistent")).unwrap_err().to_string(),
            "cannot query load average: No such file or directory"
        );
    }

    fn load_now() -> Result<GuestLoadAverage, CommandError> {
        read_load(Path::new("/proc/loadavg"))
    }
}
