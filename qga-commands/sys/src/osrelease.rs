//! `os-release(5)` files as QEMU's agent reads them for `guest-get-osinfo`:
//! as a GLib key file whose contents are under an `[os-release]` group
//! (a file that is not UTF-8 or has a line GLib refuses gives no values at
//! all), ending at a NUL byte as a C string does, each value unquoted as
//! QEMU's agent unquotes it ([`unquote`]).

use crate::keyfile::{KeyFile, KeyFileError};

/// The group QEMU's agent files the contents under.
const GROUP: &str = "os-release";

/// The keys of an os-release file.
#[derive(Debug, Clone)]
pub struct OsRelease {
    keys: KeyFile,
}

impl OsRelease {
    /// The os-release keys of `content` as GLib's key file parser reads
    /// `[os-release]\n` followed by `content` up to its first NUL byte;
    /// the key file error where GLib refuses it.
    pub fn parse(content: &[u8]) -> Result<OsRelease, KeyFileError> {
        let end = content.iter().position(|&b| b == 0).unwrap_or(content.len());
        let mut text = format!("[{GROUP}]\n").into_bytes();
        text.extend_from_slice(content.get(..end).unwrap_or_default());
        KeyFile::parse(&text).map(|keys| OsRelease { keys })
    }

    /// The value of `key` (`ID`, `PRETTY_NAME`, ...), unquoted; `None` if
    /// the file does not set it.
    pub fn value(&self, key: &str) -> Option<String> {
        self.keys.value(GROUP, key).map(unquote)
    }
}

/// An os-release value as QEMU's agent unquotes it: a value in double
/// quotes loses them and the backslashes before `$ ' " \ \``, the rest of
/// the buffer left as it was when the closing quote is missing; any other
/// value is cut at its first space and at its first `;`.
pub fn unquote(value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.first() != Some(&b'"') {
        for stop in [b' ', b';'] {
            if let Some(at) = bytes.iter().position(|&b| b == stop) {
                bytes.truncate(at);
            }
        }
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    // Unescape in place; without a closing quote the rest of the buffer
    // stays as it was (what QEMU's agent reports).
    let mut write = 0;
    let mut read = 1;
    while read < bytes.len() {
        let mut b = bytes[read];
        if b == b'\\' {
            if let Some(&next @ (b'$' | b'\'' | b'"' | b'\\' | b'`')) = bytes.get(read + 1) {
                read += 1;
                b = next;
            }
        } else if b == b'"' {
            bytes.truncate(write);
            break;
        }
        bytes[write] = b;
        write += 1;
        read += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The os-release fields QEMU's agent reports for `content`, as
    /// `key=value` lines in a fixed order (observed with Debian's agent).
    fn fields(content: &[u8]) -> String {
        let Ok(release) = OsRelease::parse(content) else {
            return "refused".into();
        };
        [
            ("id", "ID"),
            ("name", "NAME"),
            ("version", "VERSION"),
            ("variant", "VARIANT"),
        ]
        .into_iter()
        .filter_map(|(name, key)| Some(format!("{name}={}", release.value(key)?)))
        .collect::<Vec<_>>()
        .join("|")
    }

    #[test]
    fn qemu_upstream_fixture() {
        let fixture = b"ID=qemu-ga-test\nNAME=QEMU-GA\nPRETTY_NAME=\"QEMU Guest Agent test\"\n\
VERSION=\"Test 1\"\nVERSION_ID=1\nVARIANT=\"Unit test \\\"\\'\\$\\`\\\\ and \\\\\\\\ etc.\"\nVARIANT_ID=unit-test\n";
        let release = OsRelease::parse(fixture).unwrap();
        let value = |key: &str| release.value(key);
        assert_eq!(value("ID").as_deref(), Some("qemu-ga-test"));
        assert_eq!(value("NAME").as_deref(), Some("QEMU-GA"));
        assert_eq!(value("PRETTY_NAME").as_deref(), Some("QEMU Guest Agent test"));
        assert_eq!(value("VERSION").as_deref(), Some("Test 1"));
        assert_eq!(value("VERSION_ID").as_deref(), Some("1"));
        assert_eq!(
            value("VARIANT").as_deref(),
            Some("Unit test \"'$`\\ and \\\\ etc.")
        );
        assert_eq!(value("VARIANT_ID").as_deref(), Some("unit-test"));
    }

    /// Each case was run through Debian's qemu-ga 7.2 (QGA_OS_RELEASE).
    #[test]
    fn key_file_corner_cases_match_qemu() {
        let cases: &[(&[u8], &str)] = &[
            (b"ID=a\nnoequals\n", "refused"),
            (b"# comment\n\n  # indented\nID=a\n", "id=a"),
            (b"ID = spaced  \nNAME=  lead\t\n", "id=spaced|name=lead\t"),
            (b"ID=\nNAME=\"\"\n", "id=|name="),
            (b"FOO BAR=x\nID=ok\n", "id=ok"),
            (b"ID=first\nID=second\n", "id=second"),
            (b"ID=a\n[section]\nNAME=b\n", "id=a"),
            (b"NAME[de]=x\nNAME=y\n", "name=y"),
            (b"ID=\xff\xfe\n", "refused"),
            (b"NAME=foo bar\nID=a;b\nVERSION=x ;y\n", "id=a|name=foo|version=x"),
            (b"NAME='foo bar'\nID='x'\n", "id='x'|name='foo"),
            (b"NAME=\"abc\nID=\"a\\nb\\tc\"\n", "id=a\\nb\\tc|name=abcc"),
            (b"NAME=\"a\"trailing\nID=\"\\\"\n", "id=\"\\\"|name=a"),
            (b"", ""),
            (b"ID=a\x00NAME=b\n", "id=a"),
            (b"[foo\nID=x\n", "refused"),
            (b"=value\nID=x\n", "refused"),
            (b"ID=a\r\nNAME=b\r\n", "id=a|name=b"),
            (b"\xef\xbb\xbfID=bom\n", ""),
            (b"ID=x\n[os-release]\nNAME=y\n", "id=x|name=y"),
            (b"VERSION=\"1 \\\\\" and\"\n", "version=1 \\"),
            (b"NAME=\"it's \\x\"\n", "name=it's \\x"),
            (b"  ID=leading\n", "id=leading"),
            (b"ID\t=tab\n", "id=tab"),
            (b"ID==x\n", "id==x"),
            (b"ID=\" x\n", "id= xx"),
            (b"ID=\"\\\\\"\n", "id=\\"),
            (b"NAME=a b\"c\n", "name=a"),
            (b"ID=\"\"x\n", "id="),
            (b"ID=a\r", "id=a\r"),
            (b"ID=\"a\"\r", "id=a"),
            (b"ID=a\r\r\nNAME=b", "id=a\r|name=b"),
            (b"Encoding=latin1\nID=a\n", "refused"),
            (b"Encoding=utf-8\nID=a\n", "id=a"),
            (b"ID=a\n[x]\nEncoding=latin1\n", "id=a"),
            (b"NAME[]=x\nID=a\n", "id=a"),
            (b"NAME[de=x\nID=a\n", "refused"),
            (b"NAME[d e]=x\nID=a\n", "refused"),
            (b"NAME[de]x=y\nID=a\n", "refused"),
            (b"A]B=x\nID=a\n", "refused"),
            (b"NAME[de][fr]=x\nID=a\n", "refused"),
            (b"NAME [de]=x\nID=a\n", "refused"),
            (b"A[B=x\nID=a\n", "refused"),
            (b"NAME[de@euro.UTF-8]=x\nID=a\n", "id=a"),
            (b"NAME[d/e]=x\nID=a\n", "refused"),
            (b"ID=\"\xc3\xa9\n", "id=\u{e9}\u{fffd}"),
            (b"ID=\"a\\\"b\n", "id=a\"b\"b"),
            (b"ID=a\n[]\nNAME=b\n", "refused"),
            (b"ID=a\n[a[b]\nNAME=b\n", "refused"),
            (b"ID=a\n[a]  \t\nNAME=b\n", "id=a"),
            (b"ID=a\n[a] x\nNAME=b\n", "refused"),
            (b"ID=a\n[a\tb]\nNAME=b\n", "refused"),
            (b"ID=a\n[a]\x0c\nNAME=b\n", "refused"),
            (b"ID=a\n[a]]\nNAME=b\n", "refused"),
            (b"ID=a\n[\xc3\xa9]\nNAME=b\n", "id=a"),
            (b"ID=a\n[a\x7fb]\nNAME=b\n", "refused"),
            (b"ID=a\n[ a ]\nNAME=b\n", "id=a"),
            (b"ID=a\n[a]=b\nNAME=b\n", "refused"),
            (b"ID=a\n\x0bID=b\n", "id=a"),
            (b"ID=a\nNAME=\x0bb\n", "id=a|name=\x0bb"),
            (b"ID=a\nNAME[\xc3\xa9]=b\n", "id=a"),
            (b"ID=a\nN\x01ME=b\n", "id=a"),
            (b"ID=a\nNAME =\n", "id=a|name="),
            (b"ID=a\nNAME= \t\n", "id=a|name="),
            (b"ID=a\n \r\nNAME=b\n", "id=a|name=b"),
            (b"ID=a\nNAME=b\\\n", "id=a|name=b\\"),
            (b"ID=a\n\x0b\n", "refused"),
            (b"\x0cID=ff\n", "id=ff"),
        ];
        let mut wrong = Vec::new();
        for (content, expected) in cases {
            let got = fields(content);
            if got != *expected {
                wrong.push(format!(
                    "{}: expected {expected:?}, got {got:?}",
                    content.escape_ascii()
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}
