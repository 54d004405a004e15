//! Strings from the host as QEMU's agent hands them to the system, and
//! back.
//!
//! QEMU's JSON parser keeps strings as C strings in "modified UTF-8": a
//! `\u0000` in a request becomes the two bytes `C0 80`, so the string goes
//! on past it, and the system sees those bytes (a file opened as
//! `a\u0000b` is named `a`, `C0 80`, `b`). Its writer reads `C0 80` back
//! as `\u0000`. This agent's parser gives U+0000 as a NUL character, so
//! whatever passes a host's string to the system, or a system string to
//! the host, goes through here to match.

use std::borrow::Cow;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Modified UTF-8 for U+0000.
const NUL: &[u8] = &[0xC0, 0x80];

/// The bytes QEMU's agent would hand the system for `s`.
pub fn system_bytes(s: &str) -> Cow<'_, [u8]> {
    if !s.contains('\0') {
        return Cow::Borrowed(s.as_bytes());
    }
    let mut bytes = Vec::with_capacity(s.len() + 4);
    for piece in s.as_bytes().split_inclusive(|&b| b == 0) {
        match piece.split_last() {
            Some((0, head)) => {
                bytes.extend_from_slice(head);
                bytes.extend_from_slice(NUL);
            }
            _ => bytes.extend_from_slice(piece),
        }
    }
    Cow::Owned(bytes)
}

/// [`system_bytes`] as an OS string (a path, an argument, an environment
/// entry).
pub fn system_os_str(s: &str) -> Cow<'_, OsStr> {
    match system_bytes(s) {
        Cow::Borrowed(bytes) => Cow::Borrowed(OsStr::from_bytes(bytes)),
        Cow::Owned(bytes) => Cow::Owned(OsStr::from_bytes(&bytes).to_os_string()),
    }
}

/// A string the system gave (a file's line), as QEMU's agent reports it:
/// `C0 80` is U+0000; other bytes that are not UTF-8 read as U+FFFD.
pub fn from_system_bytes(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len());
    let mut pieces = bytes.split(|&b| b == 0xC0).peekable();
    if let Some(first) = pieces.next() {
        text.push_str(&String::from_utf8_lossy(first));
    }
    for piece in pieces {
        match piece.strip_prefix(&[0x80]) {
            Some(rest) => {
                text.push('\0');
                text.push_str(&String::from_utf8_lossy(rest));
            }
            None => {
                text.push(char::REPLACEMENT_CHARACTER);
                text.push_str(&String::from_utf8_lossy(piece));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nul_is_c0_80_on_the_way_out() {
        assert!(matches!(system_bytes("plain é"), Cow::Borrowed(b) if b == "plain é".as_bytes()));
        assert_eq!(&*system_bytes("a\0b\0"), b"a\xC0\x80b\xC0\x80");
        assert_eq!(&*system_bytes("\0"), b"\xC0\x80");
        assert_eq!(system_os_str("x\0").as_bytes(), b"x\xC0\x80");
    }

    #[test]
    fn c0_80_is_nul_on_the_way_back() {
        assert_eq!(from_system_bytes(b"a\xC0\x80b"), "a\0b");
        assert_eq!(from_system_bytes(b"\xC0\x80\xC0\x80"), "\0\0");
        assert_eq!(from_system_bytes("é".as_bytes()), "é");
        assert_eq!(from_system_bytes(b"a\xC0b\xFF"), "a\u{FFFD}b\u{FFFD}");
        for s in ["", "a\0b", "\0\0x\0", "ключ\0"] {
            assert_eq!(from_system_bytes(&system_bytes(s)), s);
        }
    }
}
