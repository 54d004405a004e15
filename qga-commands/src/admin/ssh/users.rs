//! The account an SSH key command acts for: uid, gid and home directory
//! from the system's user database.
//!
//! The password file (`/etc/passwd`) is read first; a user it does not
//! name is asked of `getent passwd NAME`, which goes through the name
//! service switch (LDAP, SSSD, systemd-homed...) as QEMU's `getpwnam`
//! does. An unknown user reads as QEMU reports it,
//! `failed to lookup user 'NAME': Success`.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::c_string::{system_bytes, system_os_str};
use crate::error::CommandError;
use crate::sys::io_strerror;

/// The password file the agent reads users from.
pub const PASSWD: &str = "/etc/passwd";

/// The program that looks a user up through the name service switch.
pub const GETENT: &str = "getent";

/// Most output of `getent` read: one passwd line is far shorter.
const MAX_GETENT_OUTPUT: u64 = 64 * 1024;

/// The account fields these commands need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

/// Where users are looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Users {
    /// The password file, read first.
    pub passwd: PathBuf,
    /// `getent` (a path, or a name looked up in `PATH`), asked for users
    /// the password file does not name; `None` to read the file only.
    pub getent: Option<OsString>,
}

impl Users {
    /// Only the password file at `passwd`.
    pub fn file(passwd: impl Into<PathBuf>) -> Users {
        Users {
            passwd: passwd.into(),
            getent: None,
        }
    }
}

/// Looks `name` up: the first line `name:password:uid:gid:gecos:home[:shell]`
/// of the password file naming it, else the line `getent` prints for it.
pub fn lookup_user(users: &Users, name: &str) -> Result<User, CommandError> {
    let failed = |why: &str| {
        CommandError::msg(format!(
            "failed to lookup user '{}': {why}",
            qapi_core::echo(name)
        ))
    };
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
        Err(e) => Err(failed(&io_strerror(&e))),
        Ok(_) => Err(failed("Success")),
    }
}

/// The first line of passwd-format `text` naming `name`.
fn find_user(text: &[u8], name: &str) -> Option<User> {
    let name = system_bytes(name);
    text.split(|&b| b == b'\n')
        .find_map(|line| parse_passwd_line(line, &name))
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

fn parse_passwd_line(line: &[u8], name: &[u8]) -> Option<User> {
    let mut fields = line.split(|&b| b == b':');
    if fields.next()? != name || name.is_empty() {
        return None;
    }
    let _password = fields.next()?;
    let number = |field: &[u8]| std::str::from_utf8(field).ok()?.parse::<u32>().ok();
    let uid = number(fields.next()?)?;
    let gid = number(fields.next()?)?;
    let _gecos = fields.next()?;
    let home = PathBuf::from(OsStr::from_bytes(fields.next()?));
    Some(User { uid, gid, home })
}
