//! `guest-get-diskstats`, `guest-get-cpustats` and `guest-get-load`:
//! `/proc/diskstats`, `/proc/stat` and `/proc/loadavg`, read as QEMU's
//! agent reads them.

use std::path::Path;

use qga_protocol::schema::{
    GuestCpuStats, GuestCpuStatsType, GuestDiskStats, GuestDiskStatsInfo, GuestLoadAverage,
};

use crate::error::CommandError;

/// The kernel's block device statistics.
pub const DISKSTATS: &str = "/proc/diskstats";
/// The kernel's CPU statistics.
pub const STAT: &str = "/proc/stat";
/// The kernel's load averages.
pub const LOADAVG: &str = "/proc/loadavg";

/// Largest statistics file read.
const MAX_FILE: u64 = 16 << 20;

fn read(path: &Path) -> Result<String, CommandError> {
    use std::io::Read;
    let open_error = |e: std::io::Error| CommandError::io(format!("open(\"{}\")", path.display()), &e);
    let file = std::fs::File::open(path).map_err(open_error)?;
    let mut data = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut data).map_err(open_error)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Leading unsigned numbers of `fields`, as far as they parse.
fn numbers<'a>(fields: impl Iterator<Item = &'a str>, max: usize) -> Vec<u64> {
    fields.take(max).map_while(|f| f.parse::<u64>().ok()).collect()
}

/// One `/proc/diskstats` line, or `None` for a line with fewer than four
/// counters. The kernel writes 4 (old partitions), 11, 15 (discards) or
/// 17 (flushes) counters; members are present as QEMU's agent reports
/// them for each count.
pub fn parse_diskstats_line(line: &str) -> Option<GuestDiskStatsInfo> {
    let mut fields = line.split_whitespace();
    let major: u32 = fields.next()?.parse().ok()?;
    let minor: u32 = fields.next()?.parse().ok()?;
    let name = fields.next()?.to_string();
    let v = numbers(fields, 17);
    // Counters the kernel prints as unsigned int, read as QEMU's %u does.
    let uint = |x: u64| Some(u64::from(x as u32));
    let mut s = GuestDiskStats::default();
    match v.len() {
        0..=3 => return None,
        4 => {
            s.read_ios = Some(v[0]);
            s.read_sectors = Some(v[1]);
            s.write_ios = Some(v[2]);
            s.write_sectors = Some(v[3]);
        }
        5..=10 => {}
        n => {
            s.read_ios = Some(v[0]);
            s.read_merges = Some(v[1]);
            s.read_sectors = Some(v[2]);
            s.read_ticks = Some(v[3]);
            s.write_ios = Some(v[4]);
            s.write_merges = Some(v[5]);
            s.write_sectors = Some(v[6]);
            s.write_ticks = uint(v[7]);
            s.ios_pgr = uint(v[8]);
            s.total_ticks = uint(v[9]);
            s.weight_ticks = uint(v[10]);
            if n >= 15 {
                s.discard_ios = Some(v[11]);
                s.discard_merges = Some(v[12]);
                s.discard_sectors = Some(v[13]);
                s.discard_ticks = uint(v[14]);
            }
            if n >= 17 {
                s.flush_ios = Some(v[15]);
                s.flush_ticks = uint(v[16]);
            }
        }
    }
    Some(GuestDiskStatsInfo {
        name,
        stats: s,
        minor: u64::from(minor),
        major: u64::from(major),
    })
}

/// `guest-get-diskstats` from the file at `path`.
pub fn diskstats(path: &Path) -> Result<Vec<GuestDiskStatsInfo>, CommandError> {
    Ok(read(path)?.lines().filter_map(parse_diskstats_line).collect())
}

/// The kernel's clock ticks per second (`AT_CLKTCK`), which `/proc/stat`
/// counts in; 100 if the auxiliary vector does not say.
pub fn clock_ticks() -> u64 {
    const AT_CLKTCK: u64 = 17;
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 100;
    };
    auxv.chunks_exact(16)
        .find_map(|pair| {
            let key = u64::from_ne_bytes(pair[..8].try_into().ok()?);
            let value = u64::from_ne_bytes(pair[8..].try_into().ok()?);
            (key == AT_CLKTCK && value > 0).then_some(value)
        })
        .unwrap_or(100)
}

/// `guest-get-cpustats` from `/proc/stat` text, ticks converted to
/// milliseconds with `ticks_per_second`. Only the per-CPU `cpuN` lines
/// count; a `cpuN` line with fewer than four counters ends the list.
pub fn parse_cpustats(text: &str, ticks_per_second: u64) -> Vec<GuestCpuStats> {
    let hz = ticks_per_second.max(1);
    let ms = |ticks: u64| ticks.wrapping_mul(1000) / hz;
    let mut stats = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(name) = fields.next() else { continue };
        let Some(number) = name.strip_prefix("cpu").filter(|n| !n.is_empty()) else {
            continue;
        };
        let v = numbers(fields, 10);
        if v.len() < 4 {
            log::warn!("Parsing cpu stat from {STAT} failed, see \"man proc\"");
            break;
        }
        let at = |i: usize| v.get(i).map(|&t| ms(t));
        stats.push(GuestCpuStats {
            cpu: atoi(number),
            guestnice: at(9),
            idle: ms(v[3]),
            steal: at(7),
            iowait: at(4),
            system: ms(v[2]),
            guest: at(8),
            nice: ms(v[1]),
            irq: at(5),
            kind: GuestCpuStatsType::Linux,
            user: ms(v[0]),
            softirq: if v.len() >= 6 { at(6) } else { None },
        });
    }
    stats
}

/// C's `atoi` of a CPU number: leading digits, 0 if none.
fn atoi(text: &str) -> i64 {
    let digits = &text[..text
        .bytes()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(text.len())];
    digits.parse::<i64>().unwrap_or(0)
}

/// `guest-get-cpustats` from the file at `path`.
pub fn cpustats(path: &Path) -> Result<Vec<GuestCpuStats>, CommandError> {
    Ok(parse_cpustats(&read(path)?, clock_ticks()))
}

/// The three load averages at the start of `/proc/loadavg` text.
pub fn parse_loadavg(text: &str) -> Option<GuestLoadAverage> {
    let mut fields = text.split_ascii_whitespace().map(str::parse::<f64>);
    let mut next = || fields.next()?.ok();
    let (load1m, load5m, load15m) = (next()?, next()?, next()?);
    Some(GuestLoadAverage {
        load15m,
        load5m,
        load1m,
    })
}

/// `guest-get-load` from the file at `path`, as glibc's `getloadavg`
/// reads it.
pub fn load(path: &Path) -> Result<GuestLoadAverage, CommandError> {
    let text = std::fs::read(path).map_err(|e| CommandError::io("cannot query load average", &e))?;
    parse_loadavg(&String::from_utf8_lossy(&text))
        .ok_or_else(|| CommandError::msg("cannot query load average"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diskstats_field_counts() {
        let full =
            parse_diskstats_line(" 254       0 vda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17").unwrap();
        assert_eq!((full.name.as_str(), full.major, full.minor), ("vda", 254, 0));
        let json = serde_json::to_string(&full).unwrap();
        assert_eq!(
            json,
            "{\"name\":\"vda\",\"stats\":{\"discard-sectors\":14,\"write-ios\":5,\"discard-ios\":12,\
\"discard-ticks\":15,\"weight-ticks\":11,\"read-ios\":1,\"flush-ios\":16,\"write-sectors\":7,\
\"write-merges\":6,\"write-ticks\":8,\"ios-pgr\":9,\"read-sectors\":3,\"read-merges\":2,\
\"total-ticks\":10,\"discard-merges\":13,\"flush-ticks\":17,\"read-ticks\":4},\"minor\":0,\"major\":254}"
        );
        let eleven = parse_diskstats_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11")
            .unwrap()
            .stats;
        assert_eq!(
            (eleven.weight_ticks, eleven.discard_ios, eleven.flush_ios),
            (Some(11), None, None)
        );
        let fifteen = parse_diskstats_line("8 0 sda 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15")
            .unwrap()
            .stats;
        assert_eq!((fifteen.discard_ticks, fifteen.flush_ios), (Some(15), None));
        let old = parse_diskstats_line("8 1 sda1 1 2 3 4").unwrap().stats;
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
            parse_diskstats_line("8 1 sda1 1 2 3 4 5").unwrap().stats,
            GuestDiskStats::default()
        );
        assert_eq!(parse_diskstats_line("8 1 sda1 1 2 3"), None);
        assert_eq!(parse_diskstats_line("x 1 sda1 1 2 3 4"), None);
        assert_eq!(parse_diskstats_line(""), None);
        // Unsigned-int counters wrap as C's %u stores them.
        let wrapped = parse_diskstats_line("8 0 sda 1 2 3 4 5 6 7 4294967297 9 10 11")
            .unwrap()
            .stats;
        assert_eq!(wrapped.write_ticks, Some(1));
    }

    #[test]
    fn diskstats_of_this_machine() {
        let ours = diskstats(Path::new(DISKSTATS)).unwrap();
        let text = std::fs::read_to_string(DISKSTATS).unwrap();
        assert_eq!(ours.len(), text.lines().count());
        assert_eq!(
            diskstats(Path::new("/nonexistent")).unwrap_err().0,
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
        let stats = cpustats(Path::new(STAT)).unwrap();
        let cpus = std::fs::read_to_string(STAT)
            .unwrap()
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count();
        assert_eq!(stats.len(), cpus);
        assert_eq!(clock_ticks(), 100);
    }

    #[test]
    fn load_averages() {
        let avg = parse_loadavg("0.52 1.25 10.00 2/345 6789\n").unwrap();
        assert_eq!((avg.load1m, avg.load5m, avg.load15m), (0.52, 1.25, 10.0));
        assert_eq!(parse_loadavg("0.5 1\n"), None);
        assert_eq!(parse_loadavg(""), None);
        assert!(load_now().is_ok());
        assert_eq!(
            load(Path::new("/nonexistent")).unwrap_err().0,
            "cannot query load average: No such file or directory"
        );
    }

    fn load_now() -> Result<GuestLoadAverage, CommandError> {
        load(Path::new(LOADAVG))
    }
}
