//! The local time zone, as glib's `g_time_zone_new_local()` finds it, for
//! `guest-get-timezone` and the date check of `guest-set-time`.
//!
//! Without `TZ` the zone is `/etc/localtime`. A `TZ` value is tried, in
//! this order, as a constant offset (`UTC`, `Z`, `+05:30`, `-0330`), as a
//! POSIX rule (`CET-1CEST,M3.5.0,M10.5.0/3`), and as a zone file: an
//! absolute path, or a name (a leading `:` dropped) under `$TZDIR`
//! (`/usr/share/zoneinfo`). Anything unusable means UTC.
//!
//! Zone files are TZif (RFC 8536), versions 1 to 4, read here with bounds
//! checks on every count and index: the 64-bit data of version 2 and
//! later, and the POSIX rule in their footer for times after the last
//! transition.

use std::ffi::OsStr;
use std::path::Path;

use crate::fs::read_capped;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// Largest zone file read.
const MAX_TZIF: u64 = 1 << 20;

/// The local time type in force at some instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalType {
    /// Offset from UTC in seconds, positive east.
    pub offset: i64,
    /// The abbreviation, e.g. `CEST`.
    pub abbrev: String,
    /// Whether it is daylight-saving time.
    pub is_dst: bool,
}

/// A time zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Zone {
    /// One offset at all times.
    Fixed(LocalType),
    /// A POSIX `TZ` rule.
    Rule(PosixTz),
    /// A TZif zone file.
    File(Tzif),
}

impl Zone {
    /// UTC, the zone used when no other can be found.
    pub fn utc() -> Zone {
        Zone::Fixed(LocalType {
            offset: 0,
            abbrev: "UTC".into(),
            is_dst: false,
        })
    }

    /// The local zone for the `TZ` setting `tz` (the variable's value, or
    /// `None` when unset), looking zone names up under `tzdir` and using
    /// `localtime` when `TZ` is unset; UTC when none of these gives a zone.
    pub fn local(tz: Option<&OsStr>, tzdir: &Path, localtime: &Path) -> Zone {
        Zone::from_setting(tz, tzdir, localtime).unwrap_or_else(Zone::utc)
    }

    /// The zone a `TZ` value (`None` when unset) names, looking zone names
    /// up under `tzdir` and using `localtime` when `TZ` is unset.
    pub fn from_setting(tz: Option<&OsStr>, tzdir: &Path, localtime: &Path) -> Option<Zone> {
        let Some(tz) = tz else {
            return Tzif::load(localtime).map(Zone::File);
        };
        if let Some(text) = tz.to_str() {
            if let Some(offset) = constant_offset(text) {
                return Some(Zone::Fixed(LocalType {
                    offset,
                    abbrev: text.to_string(),
                    is_dst: false,
                }));
            }
            if let Some(rule) = PosixTz::parse(text) {
                return Some(Zone::Rule(rule));
            }
        }
        let bytes = tz.as_encoded_bytes();
        let name = Path::new(OsStr::new(
            std::str::from_utf8(bytes.strip_prefix(b":").unwrap_or(bytes)).ok()?,
        ));
        if name.as_os_str().is_empty() {
            return None;
        }
        let path = if name.is_absolute() {
            name.to_path_buf()
        } else {
            tzdir.join(name)
        };
        Tzif::load(&path).map(Zone::File)
    }

    /// The local time type at `t` (seconds since the epoch).
    pub fn at(&self, t: i64) -> LocalType {
        match self {
            Zone::Fixed(lt) => lt.clone(),
            Zone::Rule(rule) => rule.at(t),
            Zone::File(file) => file.at(t),
        }
    }
}

/// A constant-offset zone name as glib accepts it: `UTC`, `Z`, or
/// `[+-]hh[[:]mm[[:]ss]]` (east positive, at most 24 hours).
fn constant_offset(name: &str) -> Option<i64> {
    match name {
        "UTC" | "Z" => return Some(0),
        _ => {}
    }
    let (sign, digits) = match name.as_bytes().first()? {
        b'+' => (1, &name[1..]),
        b'-' => (-1, &name[1..]),
        b'0'..=b'9' => (1, name),
        _ => return None,
    };
    let mut p = Cursor::new(digits.as_bytes());
    let hours = p.number(1, 2)?;
    if hours > 24 {
        return None;
    }
    let mut offset = hours * 3600;
    if !p.at_end() {
        p.eat(b':');
        offset += p.sexagesimal()? * 60;
        if !p.at_end() {
            p.eat(b':');
            offset += p.sexagesimal()?;
        }
    }
    p.at_end().then_some(sign * offset)
}

/// A bounds-checked cursor over bytes: the POSIX `TZ` text grammars and
/// the big-endian TZif data alike.
#[derive(Clone)]
struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Cursor { bytes, at: 0 }
    }

    /// The next `n` bytes, if there are that many.
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let bytes = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(bytes)
    }

    /// A big-endian 32-bit number.
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn at_end(&self) -> bool {
        self.at >= self.bytes.len()
    }

    fn eat(&mut self, byte: u8) -> bool {
        let hit = self.peek() == Some(byte);
        if hit {
            self.at += 1;
        }
        hit
    }

    /// A decimal number of `min` to `max` digits.
    fn number(&mut self, min: usize, max: usize) -> Option<i64> {
        let start = self.at;
        let mut value = 0i64;
        while self.at - start < max {
            match self.peek() {
                Some(d @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(d - b'0');
                    self.at += 1;
                }
                _ => break,
            }
        }
        (self.at - start >= min).then_some(value)
    }

    /// Two digits, 00 to 59.
    fn sexagesimal(&mut self) -> Option<i64> {
        let value = self.number(2, 2)?;
        (value < 60).then_some(value)
    }

    /// `[+-]hh[:mm[:ss]]` in seconds, hours at most `max_hours`.
    fn hms(&mut self, max_hours: i64) -> Option<i64> {
        let sign = if self.eat(b'-') {
            -1
        } else {
            self.eat(b'+');
            1
        };
        let hours = self.number(1, 3)?;
        if hours > max_hours {
            return None;
        }
        let mut seconds = hours * 3600;
        if self.eat(b':') {
            seconds += self.sexagesimal()? * 60;
            if self.eat(b':') {
                seconds += self.sexagesimal()?;
            }
        }
        Some(sign * seconds)
    }

    /// A zone abbreviation: three or more letters, or `<...>` of letters,
    /// digits, `+` and `-`.
    fn abbrev(&mut self) -> Option<String> {
        let start = self.at;
        if self.eat(b'<') {
            while matches!(self.peek(), Some(c) if c.is_ascii_alphanumeric() || c == b'+' || c == b'-') {
                self.at += 1;
            }
            let name = &self.bytes[start + 1..self.at];
            if !self.eat(b'>') || name.len() < 3 {
                return None;
            }
            return Some(String::from_utf8_lossy(name).into_owned());
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_alphabetic()) {
            self.at += 1;
        }
        let name = &self.bytes[start..self.at];
        (name.len() >= 3).then(|| String::from_utf8_lossy(name).into_owned())
    }
}

/// The day a daylight-saving change happens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleDate {
    /// `Jn`: day 1 to 365, February 29 never counted.
    Julian(i64),
    /// `n`: day 0 to 365, February 29 counted.
    Zero(i64),
    /// `Mm.w.d`: weekday `d` (0 Sunday) of week `w` (5 the last) of month `m`.
    Month(i64, i64, i64),
}

impl RuleDate {
    fn parse(p: &mut Cursor) -> Option<RuleDate> {
        if p.eat(b'J') {
            let n = p.number(1, 3)?;
            return (1..=365).contains(&n).then_some(RuleDate::Julian(n));
        }
        if p.eat(b'M') {
            let m = p.number(1, 2)?;
            let w = if p.eat(b'.') { p.number(1, 1)? } else { return None };
            let d = if p.eat(b'.') { p.number(1, 1)? } else { return None };
            return ((1..=12).contains(&m) && (1..=5).contains(&w) && d <= 6)
                .then_some(RuleDate::Month(m, w, d));
        }
        let n = p.number(1, 3)?;
        (n <= 365).then_some(RuleDate::Zero(n))
    }

    /// Days since the epoch of this date in `year`.
    fn day(self, year: i64) -> i64 {
        let jan1 = days_from_civil(year, 1, 1);
        match self {
            RuleDate::Julian(n) => jan1 + n - 1 + i64::from(is_leap(year) && n >= 60),
            RuleDate::Zero(n) => jan1 + n,
            RuleDate::Month(m, w, d) => {
                let first = days_from_civil(year, m, 1);
                // 1970-01-01 was a Thursday (4).
                let weekday = (first + 4).rem_euclid(7);
                let mut day = first + (d - weekday).rem_euclid(7) + 7 * (w - 1);
                let next_month = if m == 12 {
                    days_from_civil(year + 1, 1, 1)
                } else {
                    days_from_civil(year, m + 1, 1)
                };
                while day >= next_month {
                    day -= 7;
                }
                day
            }
        }
    }
}

/// A POSIX `TZ` rule: standard time, and daylight-saving time with the
/// dates it starts and ends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PosixTz {
    std: LocalType,
    dst: Option<(LocalType, Change, Change)>,
}

/// When daylight-saving time starts or ends: a date and the local time of
/// day, in seconds.
type Change = (RuleDate, i64);

impl PosixTz {
    /// Parses a whole rule string; `None` unless all of it is valid.
    pub fn parse(text: &str) -> Option<PosixTz> {
        let mut p = Cursor::new(text.as_bytes());
        let std_name = p.abbrev()?;
        // POSIX offsets count west of Greenwich.
        let std_offset = -p.hms(24)?;
        let std = LocalType {
            offset: std_offset,
            abbrev: std_name,
            is_dst: false,
        };
        if p.at_end() {
            return Some(PosixTz { std, dst: None });
        }
        let dst_name = p.abbrev()?;
        let dst_offset = if matches!(p.peek(), Some(b',') | None) {
            std_offset + 3600
        } else {
            -p.hms(24)?
        };
        // glib takes no default rule: daylight time needs its dates.
        let mut rule = || -> Option<Change> {
            if !p.eat(b',') {
                return None;
            }
            let date = RuleDate::parse(&mut p)?;
            let time = if p.eat(b'/') { p.hms(167)? } else { 7200 };
            Some((date, time))
        };
        let start = rule()?;
        let end = rule()?;
        if !p.at_end() {
            return None;
        }
        let dst = LocalType {
            offset: dst_offset,
            abbrev: dst_name,
            is_dst: true,
        };
        Some(PosixTz {
            std,
            dst: Some((dst, start, end)),
        })
    }

    /// The local time type at `t`.
    pub fn at(&self, t: i64) -> LocalType {
        let Some((dst, (start_date, start_time), (end_date, end_time))) = &self.dst else {
            return self.std.clone();
        };
        let year = civil_year(t.saturating_add(self.std.offset));
        // Saturating: at the ends of the i64 range (some 292 billion years
        // away) a change date may lie beyond it.
        let instant = |date: &RuleDate, time: i64, offset: i64| {
            date.day(year)
                .saturating_mul(DAY)
                .saturating_add(time)
                .saturating_sub(offset)
        };
        let start = instant(start_date, *start_time, self.std.offset);
        let end = instant(end_date, *end_time, dst.offset);
        let in_dst = if start < end {
            (start..end).contains(&t)
        } else {
            !(end..start).contains(&t)
        };
        if in_dst {
            dst.clone()
        } else {
            self.std.clone()
        }
    }
}

/// A TZif zone file's transitions and local time types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tzif {
    /// Transition times, ascending.
    transitions: Vec<i64>,
    /// The type index in force from each transition.
    indices: Vec<usize>,
    /// The local time types.
    types: Vec<LocalType>,
    /// The footer's rule for times after the last transition.
    footer: Option<PosixTz>,
}

/// The counts of a TZif header.
struct Counts {
    isut: usize,
    isstd: usize,
    leap: usize,
    time: usize,
    types: usize,
    chars: usize,
}

fn header(r: &mut Cursor) -> Option<(u8, Counts)> {
    if r.take(4)? != b"TZif" {
        return None;
    }
    let version = r.take(16)?[0];
    let mut count = || -> Option<usize> { usize::try_from(r.u32()?).ok() };
    Some((
        version,
        Counts {
            isut: count()?,
            isstd: count()?,
            leap: count()?,
            time: count()?,
            types: count()?,
            chars: count()?,
        },
    ))
}

impl Tzif {
    /// Reads and parses the zone file at `path`.
    pub fn load(path: &Path) -> Option<Tzif> {
        Tzif::parse(&read_capped(path, MAX_TZIF).ok()?)
    }

    /// Parses TZif data.
    pub fn parse(data: &[u8]) -> Option<Tzif> {
        let mut r = Cursor::new(data);
        let (version, counts) = header(&mut r)?;
        if version == 0 {
            return Tzif::body(&mut r, &counts, 4, None);
        }
        // Skip the 32-bit data; the 64-bit data and the footer follow.
        let v1_len = counts
            .time
            .checked_mul(5)?
            .checked_add(counts.types.checked_mul(6)?)?
            .checked_add(counts.chars)?
            .checked_add(counts.leap.checked_mul(8)?)?
            .checked_add(counts.isstd)?
            .checked_add(counts.isut)?;
        r.take(v1_len)?;
        let (_, counts) = header(&mut r)?;
        let footer_at = {
            let mut probe = r.clone();
            Tzif::body(&mut probe, &counts, 8, None)?;
            probe.at
        };
        let footer = data
            .get(footer_at..)
            .and_then(|rest| rest.strip_prefix(b"\n"))
            .and_then(|rest| rest.iter().position(|&b| b == b'\n').map(|end| &rest[..end]))
            .and_then(|text| std::str::from_utf8(text).ok())
            .and_then(PosixTz::parse);
        Tzif::body(&mut r, &counts, 8, footer)
    }

    fn body(r: &mut Cursor, counts: &Counts, time_size: usize, footer: Option<PosixTz>) -> Option<Tzif> {
        if counts.types == 0 {
            return None;
        }
        let times = r.take(counts.time.checked_mul(time_size)?)?;
        let transitions: Vec<i64> = times
            .chunks_exact(time_size)
            .map(|c| match c.try_into() {
                Ok(eight) => i64::from_be_bytes(eight),
                Err(_) => i64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])),
            })
            .collect();
        let indices: Vec<usize> = r.take(counts.time)?.iter().map(|&i| usize::from(i)).collect();
        if indices.iter().any(|&i| i >= counts.types) {
            return None;
        }
        let infos = r.take(counts.types.checked_mul(6)?)?;
        let chars = r.take(counts.chars)?;
        let mut types = Vec::with_capacity(counts.types);
        for info in infos.chunks_exact(6) {
            let offset = i64::from(i32::from_be_bytes([info[0], info[1], info[2], info[3]]));
            let name = chars.get(usize::from(info[5])..)?;
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            types.push(LocalType {
                offset,
                abbrev: String::from_utf8_lossy(name).into_owned(),
                is_dst: info[4] != 0,
            });
        }
        r.take(counts.leap.checked_mul(time_size + 4)?)?;
        r.take(counts.isstd)?;
        r.take(counts.isut)?;
        Some(Tzif {
            transitions,
            indices,
            types,
            footer,
        })
    }

    /// The local time type at `t`.
    pub fn at(&self, t: i64) -> LocalType {
        let passed = self.transitions.partition_point(|&at| at <= t);
        if passed == self.transitions.len() {
            if let Some(rule) = &self.footer {
                return rule.at(t);
            }
        }
        let index = match passed.checked_sub(1) {
            Some(last) => self.indices.get(last).copied().unwrap_or(0),
            None => 0,
        };
        self.types.get(index).cloned().unwrap_or_else(|| LocalType {
            offset: 0,
            abbrev: "UTC".into(),
            is_dst: false,
        })
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The Gregorian year of `t` seconds since the epoch (in whatever zone
/// `t` was shifted to).
pub fn civil_year(t: i64) -> i64 {
    let z = t.div_euclid(DAY) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    yoe + era * 400 + i64::from(month <= 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(zone: &Zone, t: i64) -> (i64, String, bool) {
        let lt = zone.at(t);
        (lt.offset, lt.abbrev, lt.is_dst)
    }

    /// 2026-01-15 and 2026-07-15, 12:00 UTC.
    const WINTER: i64 = 1_768_478_400;
    const SUMMER: i64 = 1_784_116_800;

    #[test]
    fn calendar() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(civil_year(0), 1970);
        assert_eq!(civil_year(-1), 1969);
        assert_eq!(civil_year(3_155_760_000 - 1), 2069);
        assert_eq!(civil_year(3_155_760_000), 2070);
        assert_eq!(civil_year(WINTER), 2026);
    }

    #[test]
    fn constant_offsets_like_glib() {
        assert_eq!(constant_offset("UTC"), Some(0));
        assert_eq!(constant_offset("Z"), Some(0));
        assert_eq!(constant_offset("+05:30"), Some(19_800));
        assert_eq!(constant_offset("-0330"), Some(-12_600));
        assert_eq!(constant_offset("+05"), Some(18_000));
        assert_eq!(constant_offset("5"), Some(18_000));
        assert_eq!(constant_offset("+25"), None);
        assert_eq!(constant_offset("+05:60"), None);
        assert_eq!(constant_offset("UTC+3"), None);
        assert_eq!(constant_offset(""), None);
        assert_eq!(constant_offset("-"), None);
    }

    #[test]
    fn posix_rules() {
        let cet = Zone::Rule(PosixTz::parse("CET-1CEST,M3.5.0,M10.5.0/3").unwrap());
        assert_eq!(at(&cet, WINTER), (3600, "CET".into(), false));
        assert_eq!(at(&cet, SUMMER), (7200, "CEST".into(), true));
        // 2026-03-29 01:00 UTC is the change; 2026-10-25 01:00 UTC back.
        assert!(!cet.at(1_774_745_999).is_dst);
        assert!(cet.at(1_774_746_000).is_dst);
        assert!(cet.at(1_792_889_999).is_dst);
        assert!(!cet.at(1_792_890_000).is_dst);
        let nz = Zone::Rule(PosixTz::parse("NZST-12NZDT,M9.5.0,M4.1.0/3").unwrap());
        assert_eq!(at(&nz, WINTER), (46_800, "NZDT".into(), true));
        assert_eq!(at(&nz, SUMMER), (43_200, "NZST".into(), false));
        let quoted = Zone::Rule(PosixTz::parse("<+0530>-5:30").unwrap());
        assert_eq!(at(&quoted, SUMMER), (19_800, "+0530".into(), false));
        let utc3 = Zone::Rule(PosixTz::parse("UTC+3").unwrap());
        assert_eq!(at(&utc3, SUMMER), (-10_800, "UTC".into(), false));
        let julian = Zone::Rule(PosixTz::parse("AAA3BBB2,J60/1:30,300").unwrap());
        assert_eq!(at(&julian, SUMMER), (-7200, "BBB".into(), true));
        for bad in [
            "AAA3BBB",
            "garbage",
            "AA3",
            "CET-1CEST,M13.1.0,M10.5.0",
            "CET-1CEST,M3.5.0",
            "X",
        ] {
            assert_eq!(PosixTz::parse(bad), None, "{bad}");
        }
    }

    /// A version 2 TZif file: one transition into DST at `at`, and a footer.
    fn tzif(footer: &str, at: i64) -> Vec<u8> {
        let block = |time_size: usize| {
            let mut b = Vec::new();
            b.extend_from_slice(b"TZif2");
            b.extend_from_slice(&[0; 15]);
            for count in [0u32, 0, 0, 1, 2, 8] {
                b.extend_from_slice(&count.to_be_bytes());
            }
            if time_size == 4 {
                b.extend_from_slice(&(at as i32).to_be_bytes());
            } else {
                b.extend_from_slice(&at.to_be_bytes());
            }
            b.push(1);
            b.extend_from_slice(&(-18_000i32).to_be_bytes());
            b.extend_from_slice(&[0, 0]);
            b.extend_from_slice(&(-14_400i32).to_be_bytes());
            b.extend_from_slice(&[1, 4]);
            b.extend_from_slice(b"EST\0EDT\0");
            b
        };
        let mut data = block(4);
        data.extend(block(8));
        data.extend_from_slice(format!("\n{footer}\n").as_bytes());
        data
    }

    #[test]
    fn tzif_files() {
        let file = Tzif::parse(&tzif("EST5EDT,M3.2.0,M11.1.0", 1000)).unwrap();
        assert_eq!(
            file.at(999),
            LocalType {
                offset: -18_000,
                abbrev: "EST".into(),
                is_dst: false
            }
        );
        // After the last transition the footer rule decides.
        assert_eq!(file.at(WINTER).abbrev, "EST");
        assert_eq!(file.at(SUMMER).abbrev, "EDT");
        // Without a usable footer the last transition's type stays.
        let file = Tzif::parse(&tzif("", 1000)).unwrap();
        assert_eq!(file.at(WINTER).abbrev, "EDT");
        // Truncated or corrupt files are refused, never read out of bounds.
        let good = tzif("EST5EDT,M3.2.0,M11.1.0", 1000);
        for len in 0..good.len() - 30 {
            let _ = Tzif::parse(&good[..len]);
        }
        let mut bad_index = good.clone();
        // The 64-bit block follows the 69 bytes of the 32-bit one.
        bad_index[69 + 44 + 8] = 7;
        assert_eq!(Tzif::parse(&bad_index), None);
        assert_eq!(Tzif::parse(b"TZif2\0\0\0"), None);
        assert_eq!(Tzif::parse(b"not a zone file at all, definitely not one"), None);
    }

    #[test]
    fn settings() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("Test")).unwrap();
        std::fs::write(dir.path().join("Test/Zone"), tzif("EST5EDT,M3.2.0,M11.1.0", 1000)).unwrap();
        let local = dir.path().join("localtime");
        std::fs::write(&local, tzif("CET-1CEST,M3.5.0,M10.5.0/3", 1000)).unwrap();
        let zone = |tz: Option<&str>| Zone::from_setting(tz.map(OsStr::new), dir.path(), &local);
        assert_eq!(zone(None).unwrap().at(WINTER).abbrev, "CET");
        assert_eq!(zone(Some("Test/Zone")).unwrap().at(WINTER).abbrev, "EST");
        assert_eq!(zone(Some(":Test/Zone")).unwrap().at(WINTER).abbrev, "EST");
        let absolute = dir.path().join("Test/Zone");
        assert_eq!(zone(absolute.to_str()).unwrap().at(WINTER).abbrev, "EST");
        assert_eq!(zone(Some("+05:30")).unwrap().at(WINTER).abbrev, "+05:30");
        assert_eq!(zone(Some("XYZ5")).unwrap().at(WINTER).offset, -18_000);
        assert_eq!(zone(Some("Test/Missing")), None);
        assert_eq!(zone(Some("")), None);
        assert_eq!(zone(Some("Test")), None);
        let missing = Zone::from_setting(None, dir.path(), &dir.path().join("none"));
        assert_eq!(missing, None);
    }
}
