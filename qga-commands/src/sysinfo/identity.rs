//! `guest-get-host-name` and `guest-get-users`.
//!
//! The host name is read from `uname(2)` on every call, so a renamed guest
//! reports its new name. The users are the `USER_PROCESS` records of the
//! utmp file (`/var/run/utmp`), parsed here in glibc's x86_64 layout
//! (384-byte records); each user appears once, with the earliest login.

use std::path::Path;

use qga_protocol::schema::{GuestHostName, GuestUser};

use crate::error::CommandError;

/// The utmp file glibc's `getutxent` reads.
pub const UTMP: &str = "/var/run/utmp";

/// Longest host name glibc's `gethostname` hands back in the buffer QEMU's
/// agent passes (`sysconf(_SC_HOST_NAME_MAX)` bytes, NUL included).
const HOST_NAME_MAX: usize = 64;

/// `guest-get-host-name` for the node name `nodename`. A name that fills
/// QEMU's buffer fails there with `ENAMETOOLONG`.
pub fn host_name_from(nodename: &[u8]) -> Result<GuestHostName, CommandError> {
    if nodename.len() >= HOST_NAME_MAX {
        return Err(CommandError::errno(
            "cannot get hostname",
            rustix::io::Errno::NAMETOOLONG,
        ));
    }
    Ok(GuestHostName {
        host_name: String::from_utf8_lossy(nodename).into_owned(),
    })
}

/// `guest-get-host-name`.
pub fn host_name() -> Result<GuestHostName, CommandError> {
    host_name_from(rustix::system::uname().nodename().to_bytes())
}

/// Size of one utmp record (`struct utmp` of glibc on x86_64).
pub const RECORD: usize = 384;
/// `ut_type` of a logged-in user.
const USER_PROCESS: i16 = 7;
/// Offsets and sizes within a record.
const TYPE_AT: usize = 0;
const USER_AT: usize = 44;
const USER_LEN: usize = 32;
const TV_SEC_AT: usize = 340;
const TV_USEC_AT: usize = 344;
/// Most records read (a utmp file is a few KiB; this bounds a corrupt one).
const MAX_RECORDS: usize = 1 << 16;

fn i32_at(record: &[u8], at: usize) -> i32 {
    let mut b = [0u8; 4];
    if let Some(src) = record.get(at..at + 4) {
        b.copy_from_slice(src);
    }
    i32::from_ne_bytes(b)
}

/// The users logged in according to utmp data `data`, in the order of
/// their first record; a trailing partial record is ignored.
pub fn users_from(data: &[u8]) -> Vec<GuestUser> {
    let mut users: Vec<(Vec<u8>, f64)> = Vec::new();
    for record in data.chunks_exact(RECORD).take(MAX_RECORDS) {
        let kind = i16::from_ne_bytes([record[TYPE_AT], record[TYPE_AT + 1]]);
        if kind != USER_PROCESS {
            continue;
        }
        let field = &record[USER_AT..USER_AT + USER_LEN];
        let name = &field[..field.iter().position(|&b| b == 0).unwrap_or(USER_LEN)];
        let login = f64::from(i32_at(record, TV_SEC_AT)) + f64::from(i32_at(record, TV_USEC_AT)) / 1e6;
        match users.iter_mut().find(|(n, _)| n == name) {
            Some((_, earliest)) => {
                if login < *earliest {
                    *earliest = login;
                }
            }
            None => users.push((name.to_vec(), login)),
        }
    }
    users
        .into_iter()
        .map(|(name, login_time)| GuestUser {
            login_time,
            domain: None,
            user: String::from_utf8_lossy(&name).into_owned(),
        })
        .collect()
}

/// `guest-get-users` from the utmp file at `path`; none when it cannot be
/// read (as glibc's `getutxent` then finds none).
pub fn users(path: &Path) -> Vec<GuestUser> {
    use std::io::Read;
    let mut data = Vec::new();
    match std::fs::File::open(path) {
        Ok(file) => {
            if let Err(e) = file.take((RECORD * MAX_RECORDS) as u64).read_to_end(&mut data) {
                log::debug!("guest-get-users: reading {}: {e}", path.display());
            }
        }
        Err(e) => log::debug!("guest-get-users: opening {}: {e}", path.display()),
    }
    users_from(&data)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A utmp record.
    pub(crate) fn record(kind: i16, user: &[u8], sec: i32, usec: i32) -> Vec<u8> {
        let mut r = vec![0u8; RECORD];
        r[0..2].copy_from_slice(&kind.to_ne_bytes());
        r[8..13].copy_from_slice(b"pts/0");
        r[USER_AT..USER_AT + user.len()].copy_from_slice(user);
        r[76..85].copy_from_slice(b"somewhere");
        r[TV_SEC_AT..TV_SEC_AT + 4].copy_from_slice(&sec.to_ne_bytes());
        r[TV_USEC_AT..TV_USEC_AT + 4].copy_from_slice(&usec.to_ne_bytes());
        r
    }

    #[test]
    fn user_records_deduplicated_earliest_first() {
        let data = [
            record(2, b"reboot", 100, 0),
            record(7, b"alice", 1_700_000_100, 250_000),
            record(7, b"bob", 1_700_000_050, 0),
            record(8, b"carol", 5, 0),
            record(7, b"alice", 1_700_000_000, 500_000),
            record(7, b"alice", 1_700_000_200, 0),
            record(7, &[b'x'; 32], 1, 0),
            record(6, b"LOGIN", 1, 0),
        ]
        .concat();
        let users = users_from(&[&data[..], &[7, 0, 0]].concat());
        let got: Vec<(String, f64)> = users.iter().map(|u| (u.user.clone(), u.login_time)).collect();
        assert_eq!(
            got,
            vec![
                ("alice".to_string(), 1_700_000_000.5),
                ("bob".to_string(), 1_700_000_050.0),
                ("x".repeat(32), 1.0),
            ]
        );
        assert!(users.iter().all(|u| u.domain.is_none()));
    }

    #[test]
    fn missing_or_short_files_have_no_users() {
        let dir = tempfile::tempdir().unwrap();
        assert!(users(&dir.path().join("utmp")).is_empty());
        let path = dir.path().join("short");
        std::fs::write(&path, &record(7, b"alice", 1, 0)[..RECORD - 1]).unwrap();
        assert!(users(&path).is_empty());
        std::fs::write(&path, record(7, b"alice", 1, 0)).unwrap();
        assert_eq!(users(&path).len(), 1);
    }

    #[test]
    fn host_names() {
        assert_eq!(host_name_from(b"guest").unwrap().host_name, "guest");
        assert_eq!(host_name_from(&[b'h'; 63]).unwrap().host_name.len(), 63);
        assert_eq!(
            host_name_from(&[b'h'; 64]).unwrap_err().0,
            "cannot get hostname: File name too long"
        );
        let name = host_name().unwrap().host_name;
        let expected = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(name, expected.trim_end());
    }
}
