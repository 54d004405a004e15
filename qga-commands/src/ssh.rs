//! `guest-ssh-get-authorized-keys`, `guest-ssh-add-authorized-keys`,
//! `guest-ssh-remove-authorized-keys`: a user's `~/.ssh/authorized_keys`.
//!
//! The user's uid, gid and home come from the user database (the `users`
//! submodule: `etc/passwd`, then `getent passwd NAME`). Keys from the host
//! must not start with `#` nor hold a newline; an empty key is accepted
//! (libvirt ends its lists with one), as in QEMU, which checks the keys
//! before the user. Host text quoted in an error (a key, a user name) is
//! cut to 1 KiB ([`qapi_core::echo`]).
//!
//! The file is a list of lines joined by `\n`: reading keeps a trailing
//! empty line, so a file ending in a newline is written back ending in one.
//! Adding appends the keys not already there (with `reset`, to an empty
//! list, without reading the old file), creating `~/.ssh` (0700, owned by
//! the user) when it cannot be opened; removing drops the lines equal to a
//! key, and does nothing when there is no file. Getting lists the
//! non-empty lines that are not comments, trimmed, last line first
//! (QEMU's order). These cases fail with QEMU's texts.
//!
//! # Against the user
//!
//! The agent runs as root, and the user owns `~/.ssh`: they may have put a
//! link, a FIFO, a hard link or a stray file there, or swap one in while a
//! command runs. So the files are reached by descriptor (the `keys_file`
//! submodule): the home is opened by its path (links in it are followed:
//! the path is the administrator's), then `.ssh` and `authorized_keys` with
//! `openat(O_NOFOLLOW)` in the directory above, each checked with `fstat`
//! once open. A command refuses, with `cannot use 'PATH': WHY`, reading or
//! writing nothing:
//!
//! - a symbolic link as `.ssh` or `authorized_keys` (wherever it points);
//! - a home, `.ssh` or `authorized_keys` owned by neither the user nor
//!   root;
//! - an `authorized_keys` that is not a regular file (a FIFO or device is
//!   opened with `O_NONBLOCK` and never read), has more than one hard link
//!   (a root-owned one could be any root file), or is over 1 MiB
//!   ([`MAX_KEYS_FILE`]).
//!
//! (`add` with `reset` does not open the old `authorized_keys`, as QEMU
//! does not read it: whatever has that name, a link included, is replaced
//! by the new file, and what a link pointed to is left alone.)
//!
//! The only file written is a new one, made with `O_CREAT|O_EXCL` under a
//! random name in the open `.ssh`, written, synced, given to the user with
//! mode 0600 and renamed over `authorized_keys` in that same directory
//! (`renameat`), or removed (`unlinkat`) on failure: a reader sees the old
//! keys or the new, never a part. A `.ssh` made by `add` (`mkdirat` in the
//! open home) is opened and checked as an existing one before its owner
//! and mode are set through the descriptor. No other system call touches
//! the user's files.
//!
//! Not guarded against: a root-owned file the user can move into `~/.ssh`
//! (one left in their home) is taken as their keys, as QEMU takes it.

mod keys_file;
mod users;

use qga_protocol::schema::{
    Empty, GuestAuthorizedKeys, GuestSshAddAuthorizedKeysArgs, GuestSshGetAuthorizedKeysArgs,
    GuestSshRemoveAuthorizedKeysArgs,
};
use qga_sys::authorized_keys;
use qga_sys::mutf8::{from_system_bytes, system_bytes};

use crate::agent::Agent;
use crate::error::CommandError;
use crate::run::locate;

use self::keys_file::{keys_path, ssh_dir, ssh_dir_or_make, Failure};
pub(crate) use self::keys_file::{Refusal, MAX_KEYS_FILE};
pub(crate) use self::users::{lookup_user, User, Users};

/// Where the agent looks users up: the password file of the etc root, then
/// `getent`.
fn users(agent: &Agent) -> Users {
    Users {
        passwd: agent.roots().etc.join("passwd"),
        getent: Some(locate(users::GETENT)),
    }
}

/// `guest-ssh-get-authorized-keys`.
pub(crate) fn get(
    agent: &Agent,
    args: GuestSshGetAuthorizedKeysArgs,
) -> Result<GuestAuthorizedKeys, CommandError> {
    get_authorized_keys(&users(agent), &args.username)
}

/// `guest-ssh-add-authorized-keys`.
pub(crate) fn add(agent: &Agent, args: GuestSshAddAuthorizedKeysArgs) -> Result<Empty, CommandError> {
    let reset = args.reset.unwrap_or(false);
    add_authorized_keys(&users(agent), &args.username, &args.keys, reset).map(|()| Empty {})
}

/// `guest-ssh-remove-authorized-keys`.
pub(crate) fn remove(agent: &Agent, args: GuestSshRemoveAuthorizedKeysArgs) -> Result<Empty, CommandError> {
    remove_authorized_keys(&users(agent), &args.username, &args.keys).map(|()| Empty {})
}

/// Whether a key from the host may be written as a line of the file.
fn check_keys(keys: &[String]) -> Result<(), CommandError> {
    match keys.iter().find(|k| k.starts_with('#') || k.contains('\n')) {
        Some(bad) => Err(CommandError::InvalidKey(bad.clone())),
        None => Ok(()),
    }
}

/// `guest-ssh-get-authorized-keys`, the user looked up in `users`.
fn get_authorized_keys(users: &Users, username: &str) -> Result<GuestAuthorizedKeys, CommandError> {
    let user = lookup_user(users, username)?;
    let lines = ssh_dir(&user)
        .and_then(|dir| dir.read_lines())
        .map_err(|failure| failure.reading(&keys_path(&user)))?;
    let keys = authorized_keys::keys(&lines)
        .rev()
        .map(from_system_bytes)
        .collect();
    Ok(GuestAuthorizedKeys { keys })
}

/// `guest-ssh-add-authorized-keys`, the user looked up in `users`.
fn add_authorized_keys(
    users: &Users,
    username: &str,
    keys: &[String],
    reset: bool,
) -> Result<(), CommandError> {
    check_keys(keys)?;
    let user = lookup_user(users, username)?;
    log::info!(
        "guest-ssh-add-authorized-keys called, username: {}",
        qapi_core::echo(username)
    );
    let dir = ssh_dir_or_make(&user)?;
    // As QEMU, a file that cannot be read is replaced; one refused is not.
    let mut lines = if reset {
        Vec::new()
    } else {
        match dir.read_lines() {
            Ok(lines) => lines,
            Err(Failure::Refused(e)) => return Err(e),
            Err(Failure::Open(_) | Failure::Read(_)) => Vec::new(),
        }
    };
    for key in keys {
        let key = system_bytes(key);
        if !lines.iter().any(|line| *line == *key) {
            lines.push(key.into_owned());
        }
    }
    dir.write_lines(&lines)
}

/// `guest-ssh-remove-authorized-keys`, the user looked up in `users`.
fn remove_authorized_keys(users: &Users, username: &str, keys: &[String]) -> Result<(), CommandError> {
    check_keys(keys)?;
    let user = lookup_user(users, username)?;
    log::info!(
        "guest-ssh-remove-authorized-keys called, username: {}",
        qapi_core::echo(username)
    );
    let read = ssh_dir(&user).and_then(|dir| Ok((dir.read_lines()?, dir)));
    let (mut lines, dir) = match read {
        Ok(read) => read,
        Err(failure) if failure.is_absent() => return Ok(()),
        Err(failure) => return Err(failure.reading(&keys_path(&user))),
    };
    lines.retain(|line| !keys.iter().any(|key| *system_bytes(key) == *line.as_slice()));
    dir.write_lines(&lines)
}

#[cfg(test)]
mod tests;
