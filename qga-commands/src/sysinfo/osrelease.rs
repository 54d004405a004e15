//! `guest-get-osinfo`: the kernel from `uname(2)`, the distribution from
//! the `os-release` file.
//!
//! The file is `$QGA_OS_RELEASE` when set, else `/etc/os-release`, else
//! `/usr/lib/os-release`. As QEMU's agent, it is read as a glib key file
//! (its contents under a `[os-release]` group): a file that is not UTF-8
//! or has a line glib refuses gives no distribution members at all. A
//! value in double quotes loses them and the backslashes before `$ ' " \
//! \``; any other value is cut at its first space and at its first `;`.
//! A value whose closing quote is missing reads as QEMU's agent leaves it.

use std::collections::HashMap;
use std::path::Path;

use qga_protocol::schema::GuestOSInfo;

/// Largest os-release file read.
const MAX_FILE: u64 = 1 << 20;

/// The group QEMU's agent files the contents under.
const GROUP: &str = "os-release";

/// Whitespace as glib's `g_ascii_isspace` sees it (no vertical tab).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0c)
}

fn chug(line: &str) -> &str {
    line.trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// Whether `line` (leading space removed) is a `[group]` line: a `]`
/// followed only by spaces and tabs.
fn group_line(line: &str) -> Option<&str> {
    let rest = line.strip_prefix('[')?;
    let close = rest.find(']')?;
    rest[close + 1..]
        .bytes()
        .all(|b| b == b' ' || b == b'\t')
        .then(|| &rest[..close])
}

fn valid_group_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c == '[' || c == ']' || c.is_ascii_control())
}

/// glib's rule for key names: `name` or `name[locale]`, the name neither
/// empty nor starting or ending with a space, the locale of letters,
/// digits, `-`, `_`, `.` and `@`.
fn valid_key(key: &str) -> bool {
    let base_end = key.find(['[', ']']).unwrap_or(key.len());
    let base = &key[..base_end];
    if base.is_empty() || base.starts_with(' ') || base.ends_with(' ') {
        return false;
    }
    let rest = &key[base_end..];
    if rest.is_empty() {
        return true;
    }
    let Some(locale) = rest.strip_prefix('[').and_then(|r| r.strip_suffix(']')) else {
        return false;
    };
    locale
        .chars()
        .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'))
}

/// The keys of the `[os-release]` group, as glib's key file parser reads
/// `[os-release]\n` followed by `content`; `None` where glib refuses it.
pub fn parse_key_file(content: &[u8]) -> Option<HashMap<String, String>> {
    // QEMU's agent handles the contents as a C string.
    let content = &content[..content.iter().position(|&b| b == 0).unwrap_or(content.len())];
    let content = std::str::from_utf8(content).ok()?;
    let text = format!("[{GROUP}]\n{content}");
    let mut keys = HashMap::new();
    let mut in_group = false;
    let mut pieces = text.split('\n').peekable();
    while let Some(piece) = pieces.next() {
        // A line ended by a newline loses one carriage return.
        let line = match pieces.peek() {
            Some(_) => piece.strip_suffix('\r').unwrap_or(piece),
            None => piece,
        };
        let line = chug(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(name) = group_line(line) {
            if !valid_group_name(name) {
                return None;
            }
            in_group = name == GROUP;
            continue;
        }
        let (key, value) = line.split_once('=')?;
        let key = key.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8));
        if !valid_key(key) {
            return None;
        }
        let value = chug(value);
        if in_group {
            if key == "Encoding" && !value.eq_ignore_ascii_case("UTF-8") {
                return None;
            }
            keys.insert(key.to_string(), value.to_string());
        }
    }
    Some(keys)
}

/// A value as QEMU's agent unquotes it.
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

fn read_limited(path: &Path) -> Option<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut data = Vec::new();
    file.take(MAX_FILE).read_to_end(&mut data).ok()?;
    Some(data)
}

fn load(path: &Path) -> Option<HashMap<String, String>> {
    let keys = read_limited(path).and_then(|data| parse_key_file(&data));
    if keys.is_none() {
        log::debug!("guest-get-osinfo: cannot use '{}'", path.display());
    }
    keys
}

/// The os-release keys: `override_path` when given, else the first usable
/// of `paths`.
pub fn os_release(override_path: Option<&Path>, paths: &[&Path]) -> Option<HashMap<String, String>> {
    match override_path {
        Some(path) => load(path),
        None => paths.iter().find_map(|path| load(path)),
    }
}

/// Fills the distribution members of `info` from os-release `keys`.
pub fn fill(info: &mut GuestOSInfo, keys: &HashMap<String, String>) {
    let get = |key: &str| keys.get(key).map(|v| unquote(v));
    info.id = get("ID");
    info.name = get("NAME");
    info.pretty_name = get("PRETTY_NAME");
    info.version = get("VERSION");
    info.version_id = get("VERSION_ID");
    info.variant = get("VARIANT");
    info.variant_id = get("VARIANT_ID");
}

/// `guest-get-osinfo`.
pub fn get_osinfo() -> GuestOSInfo {
    let uname = rustix::system::uname();
    let text = |s: &std::ffi::CStr| Some(s.to_string_lossy().into_owned());
    let mut info = GuestOSInfo {
        kernel_release: text(uname.release()),
        kernel_version: text(uname.version()),
        machine: text(uname.machine()),
        ..GuestOSInfo::default()
    };
    let override_path = std::env::var_os("QGA_OS_RELEASE");
    let keys = os_release(
        override_path.as_deref().map(Path::new),
        &[Path::new("/etc/os-release"), Path::new("/usr/lib/os-release")],
    );
    if let Some(keys) = keys {
        fill(&mut info, &keys);
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The os-release fields QEMU's agent reports for `content`, as
    /// `key=value` lines in a fixed order (observed with Debian's agent).
    fn fields(content: &[u8]) -> String {
        let Some(keys) = parse_key_file(content) else {
            return "refused".into();
        };
        let mut info = GuestOSInfo::default();
        fill(&mut info, &keys);
        [
            ("id", info.id),
            ("name", info.name),
            ("version", info.version),
            ("variant", info.variant),
        ]
        .into_iter()
        .filter_map(|(k, v)| Some(format!("{k}={}", v?)))
        .collect::<Vec<_>>()
        .join("|")
    }

    #[test]
    fn qemu_upstream_fixture() {
        let fixture = b"ID=qemu-ga-test\nNAME=QEMU-GA\nPRETTY_NAME=\"QEMU Guest Agent test\"\n\
VERSION=\"Test 1\"\nVERSION_ID=1\nVARIANT=\"Unit test \\\"\\'\\$\\`\\\\ and \\\\\\\\ etc.\"\nVARIANT_ID=unit-test\n";
        let keys = parse_key_file(fixture).unwrap();
        let mut info = GuestOSInfo::default();
        fill(&mut info, &keys);
        assert_eq!(info.id.as_deref(), Some("qemu-ga-test"));
        assert_eq!(info.name.as_deref(), Some("QEMU-GA"));
        assert_eq!(info.pretty_name.as_deref(), Some("QEMU Guest Agent test"));
        assert_eq!(info.version.as_deref(), Some("Test 1"));
        assert_eq!(info.version_id.as_deref(), Some("1"));
        assert_eq!(info.variant.as_deref(), Some("Unit test \"'$`\\ and \\\\ etc."));
        assert_eq!(info.variant_id.as_deref(), Some("unit-test"));
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

    #[test]
    fn files_and_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc-os-release");
        let lib = dir.path().join("lib-os-release");
        std::fs::write(&lib, "ID=lib\n").unwrap();
        let paths = [etc.as_path(), lib.as_path()];
        // Missing, then unusable: the second file is used.
        assert_eq!(os_release(None, &paths).unwrap()["ID"], "lib");
        std::fs::write(&etc, "broken\n").unwrap();
        assert_eq!(os_release(None, &paths).unwrap()["ID"], "lib");
        std::fs::write(&etc, "ID=etc\n").unwrap();
        assert_eq!(os_release(None, &paths).unwrap()["ID"], "etc");
        // An override is used alone.
        assert_eq!(os_release(Some(&dir.path().join("none")), &paths), None);
        assert_eq!(os_release(Some(&lib), &paths).unwrap()["ID"], "lib");
        assert_eq!(os_release(Some(dir.path()), &paths), None);
    }
}
