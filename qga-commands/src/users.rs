//! `guest-get-users`: the logged-in users of the utmp file
//! (`var_run/utmp`, read by `qga_sys::utmp`); each user appears once, with
//! the earliest login, in the order of their first record.

use qga_protocol::schema::{GuestUser, NoArgs};
use qga_sys::utmp::{self, Login};

use crate::agent::Agent;
use crate::error::CommandError;

/// `guest-get-users`.
pub(crate) fn users(agent: &Agent, _: NoArgs) -> Result<Vec<GuestUser>, CommandError> {
    Ok(earliest_logins(utmp::read(&agent.roots().var_run.join("utmp"))))
}

/// One entry per user, with the earliest login time.
fn earliest_logins(logins: Vec<Login>) -> Vec<GuestUser> {
    let mut users: Vec<(Vec<u8>, f64)> = Vec::new();
    for Login { user, time } in logins {
        match users.iter_mut().find(|(name, _)| *name == user) {
            Some((_, earliest)) => *earliest = earliest.min(time),
            None => users.push((user, time)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use qga_sys::utmp::{parse, record, Layout};

    #[test]
    fn user_records_deduplicated_earliest_first() {
        let r = |kind, user: &[u8], sec, usec| record(Layout::NATIVE, kind, user, sec, usec);
        let data = [
            r(2, b"reboot", 100, 0),
            r(7, b"alice", 1_700_000_100, 250_000),
            r(7, b"bob", 1_700_000_050, 0),
            r(8, b"carol", 5, 0),
            r(7, b"alice", 1_700_000_000, 500_000),
            r(7, b"alice", 1_700_000_200, 0),
            r(7, &[b'x'; 32], 1, 0),
            r(6, b"LOGIN", 1, 0),
        ]
        .concat();
        let users = earliest_logins(parse(&data, Layout::NATIVE));
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
}
