//! The password file, `passwd(5)`: `name:password:uid:gid:gecos:home[:shell]`
//! lines, as the agent's SSH key commands look an account up.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// The account fields of a password file line that the agent needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passwd {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: PathBuf,
}

/// The entry of `line` if it names the account `name` (not empty) and has
/// decimal uid and gid fields and a home field; `None` otherwise.
pub fn parse_passwd_line(line: &[u8], name: &[u8]) -> Option<Passwd> {
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
    Some(Passwd { uid, gid, home })
}

/// The entry of the first line of password file text `text` that names
/// `name` (see [`parse_passwd_line`]).
pub fn find_user(text: &[u8], name: &[u8]) -> Option<Passwd> {
    text.split(|&b| b == b'\n')
        .find_map(|line| parse_passwd_line(line, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_naming_the_user() {
        let text = b"root:x:0:0:root:/root:/bin/bash\nbad:x:1:\nalice:x:1000:100::/home/alice\nalice:x:1:1::/other:/bin/sh\n";
        assert_eq!(
            find_user(text, b"alice"),
            Some(Passwd {
                uid: 1000,
                gid: 100,
                home: PathBuf::from("/home/alice")
            })
        );
        assert_eq!(find_user(text, b"root").map(|p| p.uid), Some(0));
        assert_eq!(find_user(text, b"bad"), None);
        assert_eq!(find_user(text, b"ali"), None);
        assert_eq!(find_user(b":x:0:0::/\n", b""), None);
        assert_eq!(parse_passwd_line(b"u:x:-1:0::/", b"u"), None);
        assert_eq!(parse_passwd_line(b"u:x:4294967296:0::/", b"u"), None);
        assert_eq!(parse_passwd_line(b"u:x:1:2:gecos", b"u"), None);
    }
}
