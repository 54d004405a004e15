//! utmp files (`/var/run/utmp`) in glibc's record layout, which depends on
//! the target: where glibc keeps 32-bit times in `struct utmp` for
//! compatibility with 32-bit programs (`__WORDSIZE_TIME64_COMPAT32`: x86-64,
//! POWER, s390x, RISC-V, and every 32-bit target) a record is 384 bytes
//! with a 32-bit `ut_session` and `ut_tv`; on aarch64 and 64-bit LoongArch
//! those are `long`s and a record is 400 bytes.

use std::path::Path;

use crate::fs::read_capped;

/// Where the fields this agent reads sit in a utmp record: one of glibc's
/// two layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Size of one record.
    record: usize,
    /// Offset of `ut_user` (32 bytes, NUL-padded).
    user_at: usize,
    /// Offset of `ut_tv.tv_sec`; `tv_usec` follows it.
    tv_at: usize,
    /// Width of each of `tv_sec` and `tv_usec`: 4 or 8 bytes.
    tv_width: usize,
}

impl Layout {
    /// glibc's layout with 32-bit times (`__WORDSIZE_TIME64_COMPAT32`).
    pub const TIME32: Layout = Layout {
        record: 384,
        user_at: 44,
        tv_at: 340,
        tv_width: 4,
    };

    /// glibc's layout with `long` times (aarch64).
    pub const TIME64: Layout = Layout {
        record: 400,
        user_at: 44,
        tv_at: 344,
        tv_width: 8,
    };

    /// The layout of the system this agent is built for.
    #[cfg(all(
        any(target_arch = "aarch64", target_arch = "loongarch64"),
        target_pointer_width = "64"
    ))]
    pub const NATIVE: Layout = Layout::TIME64;

    /// The layout of the system this agent is built for.
    #[cfg(not(all(
        any(target_arch = "aarch64", target_arch = "loongarch64"),
        target_pointer_width = "64"
    )))]
    pub const NATIVE: Layout = Layout::TIME32;

    /// Size of one record.
    pub fn record_len(self) -> usize {
        self.record
    }
}

/// `ut_type` of a logged-in user.
const USER_PROCESS: i16 = 7;
/// Length of `ut_user`.
const USER_LEN: usize = 32;
/// Most records read (a utmp file is a few KiB; this bounds a corrupt one).
pub const MAX_RECORDS: usize = 1 << 16;

/// A `USER_PROCESS` record: who logged in, and when.
#[derive(Debug, Clone, PartialEq)]
pub struct Login {
    /// `ut_user`, up to its first NUL byte.
    pub user: Vec<u8>,
    /// `ut_tv` in seconds since the epoch.
    pub time: f64,
}

fn int_at(record: &[u8], at: usize, width: usize) -> i64 {
    match record.get(at..at + width) {
        Some(&[a, b, c, d]) => i64::from(i32::from_ne_bytes([a, b, c, d])),
        Some(bytes) if width == 8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(bytes);
            i64::from_ne_bytes(b)
        }
        _ => 0,
    }
}

/// The `USER_PROCESS` records of utmp data `data` in `layout`, in file
/// order; a trailing partial record is ignored.
pub fn parse(data: &[u8], layout: Layout) -> Vec<Login> {
    data.chunks_exact(layout.record)
        .take(MAX_RECORDS)
        .filter(|record| i16::from_ne_bytes([record[0], record[1]]) == USER_PROCESS)
        .map(|record| {
            let field = &record[layout.user_at..layout.user_at + USER_LEN];
            let user = &field[..field.iter().position(|&b| b == 0).unwrap_or(USER_LEN)];
            let secs = int_at(record, layout.tv_at, layout.tv_width);
            let micros = int_at(record, layout.tv_at + layout.tv_width, layout.tv_width);
            Login {
                user: user.to_vec(),
                time: secs as f64 + micros as f64 / 1e6,
            }
        })
        .collect()
}

/// The logins recorded in the utmp file at `path`, in this system's layout;
/// none when it cannot be read (as glibc's `getutxent` then finds none).
pub fn read(path: &Path) -> Vec<Login> {
    match read_capped(path, (Layout::NATIVE.record * MAX_RECORDS) as u64) {
        Ok(data) => parse(&data, Layout::NATIVE),
        Err(e) => {
            log::debug!("reading {}: {e}", path.display());
            Vec::new()
        }
    }
}

/// A utmp record in `layout`, for tests of code that reads them.
#[cfg(any(test, feature = "test-utils"))]
pub fn record(layout: Layout, kind: i16, user: &[u8], sec: i64, usec: i64) -> Vec<u8> {
    let mut r = vec![0u8; layout.record];
    r[0..2].copy_from_slice(&kind.to_ne_bytes());
    r[8..13].copy_from_slice(b"pts/0");
    let user = &user[..user.len().min(USER_LEN)];
    r[layout.user_at..layout.user_at + user.len()].copy_from_slice(user);
    r[76..85].copy_from_slice(b"somewhere");
    let (sec_at, usec_at, w) = (layout.tv_at, layout.tv_at + layout.tv_width, layout.tv_width);
    if w == 4 {
        r[sec_at..sec_at + 4].copy_from_slice(&(sec as i32).to_ne_bytes());
        r[usec_at..usec_at + 4].copy_from_slice(&(usec as i32).to_ne_bytes());
    } else {
        r[sec_at..sec_at + 8].copy_from_slice(&sec.to_ne_bytes());
        r[usec_at..usec_at + 8].copy_from_slice(&usec.to_ne_bytes());
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_read_user_records_only() {
        for layout in [Layout::TIME32, Layout::TIME64] {
            let data = [
                record(layout, 2, b"reboot", 100, 0),
                record(layout, 7, b"alice", 1_700_000_100, 250_000),
                record(layout, 8, b"carol", 5, 0),
                record(layout, 7, &[b'x'; 32], 1, 0),
            ]
            .concat();
            let logins = parse(&[&data[..], &[7, 0, 0]].concat(), layout);
            assert_eq!(
                logins,
                [
                    Login {
                        user: b"alice".to_vec(),
                        time: 1_700_000_100.25
                    },
                    Login {
                        user: vec![b'x'; 32],
                        time: 1.0
                    }
                ],
                "{layout:?}"
            );
        }
        // Read in the other layout, the records are misread, not a crash.
        let data = record(Layout::TIME64, 7, b"alice", 1, 0).repeat(3);
        let _ = parse(&data, Layout::TIME32);
    }

    #[test]
    fn this_systems_glibc_layout() {
        // glibc's struct utmp: 384 bytes with 32-bit times, 400 on aarch64.
        #[cfg(target_arch = "x86_64")]
        assert_eq!(Layout::NATIVE, Layout::TIME32);
        #[cfg(target_arch = "aarch64")]
        assert_eq!(Layout::NATIVE, Layout::TIME64);
        assert_eq!(Layout::TIME64.tv_at % 8, 0);
    }

    #[test]
    fn missing_or_short_files_have_no_logins() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read(&dir.path().join("utmp")).is_empty());
        let path = dir.path().join("short");
        let one = record(Layout::NATIVE, 7, b"alice", 1, 0);
        std::fs::write(&path, &one[..one.len() - 1]).unwrap();
        assert!(read(&path).is_empty());
        std::fs::write(&path, &one).unwrap();
        assert_eq!(read(&path).len(), 1);
    }
}
