//! GLib key files, read as `g_key_file_load_from_data` reads them: the
//! agent's configuration file, its state file (`qga.state`) and, filed
//! under an `[os-release]` group as QEMU's agent files it, `os-release`.
//!
//! The text must be UTF-8. Lines end at `\n` (a `\r` before it is dropped);
//! leading white space (GLib's `g_ascii_isspace`, without vertical tab) is
//! skipped; empty lines and `#` lines are comments. `[name]` starts a group
//! (only spaces and tabs may follow the `]`; the name is not empty and has
//! no `[`, `]` or control character); a group named twice is one group.
//! Any other line is `key=value`: the key loses its trailing white space
//! and must be `name` or `name[locale]` (the name neither empty nor
//! starting or ending with a space, the locale of letters, digits, `-`,
//! `_`, `.` and `@`); the value loses its leading white space; a later key
//! of the same name wins. A key before any group, and an `Encoding` key
//! other than `UTF-8` in the first group, are errors.

use std::collections::HashMap;

/// Why a key file was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyFileError {
    /// The text is not UTF-8.
    #[error("the file is not UTF-8")]
    NotUtf8,
    /// A line GLib refuses.
    #[error("line {line}: {kind}")]
    Line {
        /// Its number, from 1.
        line: usize,
        /// What is wrong with it.
        kind: LineError,
    },
}

/// What is wrong with a line of a key file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Not a group, a key-value pair or a comment.
    #[error("not a key-value pair, group or comment")]
    Syntax,
    /// A group name GLib refuses.
    #[error("invalid group name")]
    GroupName,
    /// A key name GLib refuses.
    #[error("invalid key name")]
    KeyName,
    /// A key before the first group.
    #[error("a key before the first group")]
    NoGroup,
    /// An `Encoding` other than UTF-8.
    #[error("unsupported encoding")]
    Encoding,
}

/// A value with an escape GLib's `g_key_file_get_string` refuses (a
/// backslash followed by anything but `s`, `n`, `t`, `r` or `\`, or ending
/// the value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the value contains an invalid escape sequence")]
pub struct InvalidEscape;

/// A parsed key file: each group's keys and raw values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    groups: HashMap<String, HashMap<String, String>>,
}

/// White space as GLib's key-file parser sees it (`g_ascii_isspace`, no
/// vertical tab).
pub fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\x0c')
}

/// Whether `line` (leading space removed) is a `[group]` line: a `]`
/// followed only by spaces and tabs. Its name, if so.
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

impl KeyFile {
    /// Parses key-file text.
    pub fn parse(content: &[u8]) -> Result<KeyFile, KeyFileError> {
        let text = std::str::from_utf8(content).map_err(|_| KeyFileError::NotUtf8)?;
        let mut file = KeyFile::default();
        let mut current: Option<String> = None;
        let mut first_group: Option<String> = None;
        let mut pieces = text.split('\n').enumerate().peekable();
        while let Some((number, piece)) = pieces.next() {
            let error = |kind| KeyFileError::Line {
                line: number + 1,
                kind,
            };
            // A line ended by a newline loses one carriage return.
            let line = match pieces.peek() {
                Some(_) => piece.strip_suffix('\r').unwrap_or(piece),
                None => piece,
            };
            let line = line.trim_start_matches(is_space);
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(name) = group_line(line) {
                if !valid_group_name(name) {
                    return Err(error(LineError::GroupName));
                }
                file.groups.entry(name.to_string()).or_default();
                first_group.get_or_insert_with(|| name.to_string());
                current = Some(name.to_string());
                continue;
            }
            let (key, value) = line.split_once('=').ok_or(error(LineError::Syntax))?;
            let key = key.trim_end_matches(is_space);
            if !valid_key(key) {
                return Err(error(LineError::KeyName));
            }
            let value = value.trim_start_matches(is_space);
            let Some(group) = &current else {
                return Err(error(LineError::NoGroup));
            };
            if key == "Encoding"
                && first_group.as_ref() == Some(group)
                && !value.eq_ignore_ascii_case("UTF-8")
            {
                return Err(error(LineError::Encoding));
            }
            if let Some(keys) = file.groups.get_mut(group) {
                keys.insert(key.to_string(), value.to_string());
            }
        }
        Ok(file)
    }

    /// Whether the file has the group.
    pub fn has_group(&self, group: &str) -> bool {
        self.groups.contains_key(group)
    }

    /// The keys of `group` and their raw values, in no particular order.
    pub fn entries(&self, group: &str) -> impl Iterator<Item = (&str, &str)> {
        self.groups
            .get(group)
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The raw value of `key` in `group` (`g_key_file_get_value`).
    pub fn value(&self, group: &str, key: &str) -> Option<&str> {
        self.groups.get(group)?.get(key).map(String::as_str)
    }

    /// The value of `key` in `group` with GLib's escapes undone
    /// (`g_key_file_get_string`).
    pub fn string(&self, group: &str, key: &str) -> Result<Option<String>, InvalidEscape> {
        self.value(group, key).map(unescape).transpose()
    }
}

/// Undoes GLib's key-file escapes (`\s`, `\n`, `\t`, `\r`, `\\`).
pub fn unescape(value: &str) -> Result<String, InvalidEscape> {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('s') => ' ',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('\\') => '\\',
            _ => return Err(InvalidEscape),
        });
    }
    Ok(out)
}

/// `value` written as GLib's `g_key_file_set_string` writes it: backslashes
/// and line ends escaped, and the spaces and tabs it starts with (which a
/// reader would drop) written `\s` and `\t`. Spaces and tabs at its end
/// are written as they are, as GLib writes them.
pub fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut leading = true;
    for c in value.chars() {
        match c {
            ' ' if leading => out.push_str("\\s"),
            '\t' if leading => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            c => {
                leading = false;
                out.push(c);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_keys_and_values() {
        let file = KeyFile::parse(
            b"# c\n[general]\n  daemon = true \nmethod=unix-listen\n[other]\nx=1\n[general]\npath=/a\\sb\n",
        )
        .unwrap();
        assert_eq!(file.value("general", "daemon"), Some("true "));
        assert_eq!(file.value("general", "method"), Some("unix-listen"));
        assert_eq!(file.value("other", "x"), Some("1"));
        assert_eq!(file.string("general", "path"), Ok(Some("/a b".into())));
        assert_eq!(file.value("general", "x"), None);
        assert!(file.has_group("other") && !file.has_group("none"));
        let mut keys: Vec<&str> = file.entries("general").map(|(k, _)| k).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["daemon", "method", "path"]);
    }

    #[test]
    fn refusals_name_the_line() {
        let line = |text: &[u8]| match KeyFile::parse(text) {
            Err(KeyFileError::Line { line, kind }) => Some((line, kind)),
            _ => None,
        };
        assert_eq!(line(b"[general\n"), Some((1, LineError::Syntax)));
        assert_eq!(line(b"[general]\njunk\n"), Some((2, LineError::Syntax)));
        assert_eq!(line(b"key=1\n"), Some((1, LineError::NoGroup)));
        assert_eq!(line(b"[g]\n=1\n"), Some((2, LineError::KeyName)));
        assert_eq!(line(b"[]\n"), Some((1, LineError::GroupName)));
        assert_eq!(line(b"[g]\nEncoding=latin1\n"), Some((2, LineError::Encoding)));
        assert_eq!(KeyFile::parse(b"[g]\nx=\xff\n"), Err(KeyFileError::NotUtf8));
        assert!(KeyFile::parse(b"[a]\n[b]\nEncoding=latin1\n").is_ok());
    }

    #[test]
    fn escapes_round_trip() {
        assert_eq!(unescape("a\\sb\\n\\t\\r\\\\"), Ok("a b\n\t\r\\".into()));
        assert_eq!(unescape("bad\\x"), Err(InvalidEscape));
        assert_eq!(unescape("trailing\\"), Err(InvalidEscape));
        for text in [
            "",
            "plain",
            "back\\slash",
            "two\nlines\r\tend\\",
            " \tends ",
            " ",
            "a b",
        ] {
            assert_eq!(unescape(&escape(text)).as_deref(), Ok(text));
        }
        // As GLib: leading blanks escaped, trailing ones and inner tabs not.
        assert_eq!(escape(" \ta\tb "), "\\s\\ta\tb ");
    }
}
