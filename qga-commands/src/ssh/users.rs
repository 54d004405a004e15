//! The account an SSH key command acts for: uid, gid and home directory
//! from the system's user database.
//!
//! The password file (`etc/passwd`, lines parsed by `qga_sys::passwd`) is
//! read first; a user it does not name is asked of `getent passwd NAME`,
//! which goes through the name service switch (LDAP, SSSD,
//! systemd-homed...) as QEMU's `getpwnam` does. An unknown user reads as QEMU reports it,
//! `failed to lookup user 'NAME': Success`.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use qga_sys::mutf8::{system_bytes, system_os_str};
use qga_sys::passwd;

use crate::error::CommandError;

/// The program that looks a user up through the name service switch.
pub(super) const GETENT: &str = "getent";

/// Most output of `getent` read: one passwd line is far shorter.
const MAX_GETENT_OUTPUT: u64 = 64 * 1024;

/// The account fields these commands need: uid, gid and home directory.
pub(crate) use qga_sys::passwd::Passwd as User;

/// Where users are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Users {
    /// The password file, read first.
    pub(crate) passwd: PathBuf,
    /// `getent` (a path, or a name looked up in `PATH`), asked for users
    /// the password file does not name; `None` to read the file only.
    pub(crate) getent: Option<OsString>,
}

impl Users {
    /// Only the password file at `passwd`.
    #[cfg(test)]
    pub(crate) fn file(passwd: impl Into<PathBuf>) -> Users {
        Users {
            passwd: passwd.into(),
            getent: None,
        }
    }
}

/// Looks `name` up: the first line `name:password:uid:gid:gecos:home[:shell]`
/// of the password file naming it, else the line `getent` prints for it.
pub(crate) fn lookup_user(users: &Users, name: &str) -> Result<User, CommandError> {
    let failed = |cause| CommandError::UserLookup(name.to_string(), cause);
    let from_file = std::fs::read(&users.passwd).map(|text| find_user(&text, name));
    if let Ok(Some(user)) = from_file {
        return Ok(user);
    }
    if let Some(user) = users
        .getent
        .as_deref()
        .and_then(|getent| ask_getent(getent, name))
    {
        return Ok(user);
    }
    match from_file {
        Err(e) => Err(failed(Some(e.into()))),
        Ok(_) => Err(failed(None)),
    }
}

/// The first line of passwd-format `text` naming `name` (as the system
/// spells it).
fn find_user(text: &[u8], name: &str) -> Option<User> {
    passwd::find_user(text, &system_bytes(name))
}

/// `name`'s entry as `getent passwd NAME` prints it; `None` when getent
/// cannot be run, fails (exit status 2: no such user) or prints no line
/// naming `name` (a numeric key is taken as a uid).
fn ask_getent(getent: &OsStr, name: &str) -> Option<User> {
    // A name that getent could take for an option is not asked: glibc's
    // would parse it as one, musl's takes "--" as a name.
    if name.is_empty() || name.starts_with('-') {
        return None;
    }
    let mut command = Command::new(getent);
    command
        .arg("passwd")
        .arg(system_os_str(name))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = crate::run::spawn_retrying(&mut command).ok()?;
    let mut text = Vec::new();
    let read = child
        .stdout
        .take()
        .map(|out| out.take(MAX_GETENT_OUTPUT).read_to_end(&mut text));
    if !matches!(read, Some(Ok(_))) {
        let _ = child.kill();
    }
    let status = child.wait().ok()?;
    if !status.success() {
        return None;
    }
    find_user(&text, name)
}
