//! `guest-ssh-get-authorized-keys`, `guest-ssh-add-authorized-keys`,
//! `guest-ssh-remove-authorized-keys`: a user's `~/.ssh/authorized_keys`.
//!
//! The user's home, uid and gid come from the system's user database as
//! [`Users`] reads it: the password file (`/etc/passwd`), then, for a user
//! not in it, `getent passwd NAME`, which asks the name service switch
//! (LDAP, SSSD, systemd-homed...) as QEMU's `getpwnam` does. An unknown
//! user reads as QEMU reports it, `failed to lookup user 'NAME': Success`. Keys from the host must not start with
//! `#` nor hold a newline; an empty key is accepted (libvirt ends its lists
//! with one), as in QEMU, which checks the keys before the user.
//!
//! The file is a list of lines joined by `\n`: reading keeps a trailing
//! empty line, so a file ending in a newline is written back ending in one.
//! Adding appends the keys not already there (with `reset`, to an empty
//! list), creating `~/.ssh` (0700, owned by the user) when the file could
//! not be read; removing drops the lines equal to a key, and does nothing
//! when there is no file. Every write goes to a new file (0600, owned by
//! the user) renamed over the old one, so a reader sees the old keys or
//! the new, never a part. Getting lists the non-empty lines that are not
//! comments, trimmed, last line first (QEMU's order).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use qga_protocol::schema::GuestAuthorizedKeys;
use rustix::fs::{Gid, Mode, OFlags, Uid};
use rustix::io::Errno;

use crate::c_string::{from_system_bytes, system_bytes, system_os_str};
use crate::error::CommandError;
use crate::sys::{io_strerror, strerror};

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
    let failed = |why: &str| CommandError::msg(format!("failed to lookup user '{name}': {why}"));
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

/// Whether a key from the host may be written as a line of the file.
fn check_keys(keys: &[String]) -> Result<(), CommandError> {
    match keys.iter().find(|k| k.starts_with('#') || k.contains('\n')) {
        Some(bad) => Err(CommandError::msg(format!("invalid OpenSSH public key: '{bad}'"))),
        None => Ok(()),
    }
}

fn ssh_dir(user: &User) -> PathBuf {
    user.home.join(".ssh")
}

fn keys_file(user: &User) -> PathBuf {
    ssh_dir(user).join("authorized_keys")
}

/// The file's lines, split at `\n` (the text ends at a NUL byte, as
/// QEMU's C string does).
fn read_lines(path: &Path) -> Result<Vec<Vec<u8>>, CommandError> {
    let failed = |why: String| CommandError::msg(format!("failed to read '{}': {why}", path.display()));
    let mut file = File::open(path).map_err(|e| {
        failed(format!(
            "Failed to open file \u{201c}{}\u{201d}: {}",
            path.display(),
            io_strerror(&e)
        ))
    })?;
    let mut text = Vec::new();
    file.read_to_end(&mut text).map_err(|e| {
        failed(format!(
            "Failed to read from file \u{201c}{}\u{201d}: {}",
            path.display(),
            io_strerror(&e)
        ))
    })?;
    if let Some(nul) = text.iter().position(|&b| b == 0) {
        text.truncate(nul);
    }
    Ok(text.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect())
}

/// Replaces `path` with `lines` joined by `\n`, as a new file owned by
/// `user` with mode 0600 renamed over the old one.
fn write_lines(path: &Path, lines: &[Vec<u8>], user: &User) -> Result<(), CommandError> {
    let write_failed =
        |why: String| CommandError::msg(format!("failed to write to '{}': {why}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or(OsStr::new("authorized_keys"));
    let (temp, file) = create_temp(dir, name).map_err(|(temp, e)| {
        write_failed(format!(
            "Failed to create file \u{201c}{}\u{201d}: {}",
            temp.display(),
            strerror(e)
        ))
    })?;
    let remove_temp = || {
        let _ = std::fs::remove_file(&temp);
    };
    let result = (|| {
        let mut file = file;
        file.write_all(&lines.join(&b'\n')).map_err(|e| {
            write_failed(format!(
                "Failed to write file \u{201c}{}\u{201d}: write() failed: {}",
                temp.display(),
                io_strerror(&e)
            ))
        })?;
        file.sync_all().map_err(|e| {
            write_failed(format!(
                "Failed to write file \u{201c}{}\u{201d}: fsync() failed: {}",
                temp.display(),
                io_strerror(&e)
            ))
        })?;
        rustix::fs::fchown(
            &file,
            Some(Uid::from_raw(user.uid)),
            Some(Gid::from_raw(user.gid)),
        )
        .map_err(|e| {
            CommandError::errno(
                format!("failed to set ownership of directory '{}'", path.display()),
                e,
            )
        })?;
        rustix::fs::fchmod(&file, Mode::from_raw_mode(0o600)).map_err(|e| {
            CommandError::errno(format!("failed to set permissions of '{}'", path.display()), e)
        })?;
        std::fs::rename(&temp, path).map_err(|e| {
            write_failed(format!(
                "Failed to rename file \u{201c}{}\u{201d} to \u{201c}{}\u{201d}: g_rename() failed: {}",
                temp.display(),
                path.display(),
                io_strerror(&e)
            ))
        })
    })();
    if result.is_err() {
        remove_temp();
    }
    result
}

/// Creates `dir/NAME.XXXXXX` exclusively, mode 0600.
fn create_temp(dir: &Path, name: &OsStr) -> Result<(PathBuf, File), (PathBuf, Errno)> {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
        ^ (u64::from(std::process::id()) << 32);
    let mut last = PathBuf::new();
    for _ in 0..100 {
        let mut suffix = String::with_capacity(6);
        for _ in 0..6 {
            // A 64-bit LCG step: enough to pick a free name.
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            suffix.push(char::from(CHARS[(seed >> 58) as usize % CHARS.len()]));
        }
        let mut temp_name = name.to_os_string();
        temp_name.push(".");
        temp_name.push(&suffix);
        last = dir.join(temp_name);
        match rustix::fs::open(
            &last,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o600),
        ) {
            Ok(fd) => return Ok((last, File::from(fd))),
            Err(Errno::EXIST) => continue,
            Err(e) => return Err((last, e)),
        }
    }
    Err((last, Errno::EXIST))
}

/// Creates the user's `~/.ssh`, mode 0700, owned by the user.
fn make_ssh_dir(path: &Path, user: &User) -> Result<(), CommandError> {
    let shown = path.display();
    rustix::fs::mkdir(path, Mode::from_raw_mode(0o700))
        .map_err(|e| CommandError::errno(format!("failed to create directory '{shown}'"), e))?;
    // Change the directory just made, not whatever the name may point to
    // by now.
    let dir = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CommandError::errno(format!("failed to set ownership of directory '{shown}'"), e))?;
    rustix::fs::fchown(
        dir.as_fd(),
        Some(Uid::from_raw(user.uid)),
        Some(Gid::from_raw(user.gid)),
    )
    .map_err(|e| CommandError::errno(format!("failed to set ownership of directory '{shown}'"), e))?;
    rustix::fs::fchmod(dir.as_fd(), Mode::from_raw_mode(0o700))
        .map_err(|e| CommandError::errno(format!("failed to set permissions of directory '{shown}'"), e))
}

/// glib's `g_strstrip`: ASCII white space (vertical tab included) off
/// both ends.
fn strip(line: &[u8]) -> &[u8] {
    let space = |b: &u8| matches!(b, b' ' | b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r');
    let start = line.iter().position(|b| !space(b)).unwrap_or(line.len());
    let end = line.iter().rposition(|b| !space(b)).map_or(start, |at| at + 1);
    &line[start..end]
}

/// `guest-ssh-get-authorized-keys`, the user looked up in `users`.
pub fn get_authorized_keys(users: &Users, username: &str) -> Result<GuestAuthorizedKeys, CommandError> {
    let user = lookup_user(users, username)?;
    let lines = read_lines(&keys_file(&user))?;
    let keys = lines
        .iter()
        .rev()
        .map(|line| strip(line))
        .filter(|line| !line.is_empty() && line[0] != b'#')
        .map(from_system_bytes)
        .collect();
    Ok(GuestAuthorizedKeys { keys })
}

/// `guest-ssh-add-authorized-keys`, the user looked up in `users`.
pub fn add_authorized_keys(
    users: &Users,
    username: &str,
    keys: &[String],
    reset: bool,
) -> Result<(), CommandError> {
    check_keys(keys)?;
    let user = lookup_user(users, username)?;
    log::info!("guest-ssh-add-authorized-keys called, username: {username}");
    let path = keys_file(&user);
    let existing = if reset { None } else { read_lines(&path).ok() };
    let mut lines = match existing {
        Some(lines) => lines,
        None => {
            let dir = ssh_dir(&user);
            if !dir.is_dir() {
                make_ssh_dir(&dir, &user)?;
            }
            Vec::new()
        }
    };
    for key in keys {
        let key = system_bytes(key);
        if !lines.iter().any(|line| *line == *key) {
            lines.push(key.into_owned());
        }
    }
    write_lines(&path, &lines, &user)
}

/// `guest-ssh-remove-authorized-keys`, the user looked up in `users`.
pub fn remove_authorized_keys(users: &Users, username: &str, keys: &[String]) -> Result<(), CommandError> {
    check_keys(keys)?;
    let user = lookup_user(users, username)?;
    log::info!("guest-ssh-remove-authorized-keys called, username: {username}");
    let path = keys_file(&user);
    if !path.exists() {
        return Ok(());
    }
    let mut lines = read_lines(&path)?;
    lines.retain(|line| !keys.iter().any(|key| *system_bytes(key) == *line.as_slice()));
    write_lines(&path, &lines, &user)
}

#[cfg(test)]
mod tests;
