//! Parsing one framed message into a JSON value, in QEMU's JSON dialect.
//!
//! The dialect is RFC 8259 JSON plus what QEMU's parser accepts: strings in
//! single quotes (where `\'` is also an escape), and integers beyond `i64`
//! kept as `u64` or, failing that, as a float. Duplicate keys are an error.
//! Error texts are QEMU's, so a peer sees the same `desc` from either agent.

use memchr::memchr2;
use serde_json::{Map, Number, Value};

use crate::framer::{bounded_token, FrameError};
use crate::limits::MAX_DEPTH;
use crate::message::{echo, ECHO_MAX};

/// Why a message is not a valid JSON text. The display text is QEMU's desc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// A value was needed and something else came.
    #[error("JSON parse error, expecting value")]
    ExpectingValue,
    /// Two object members without a comma between them.
    #[error("JSON parse error, expected separator in dict")]
    DictSeparator,
    /// Two array elements without a comma between them.
    #[error("JSON parse error, expected separator in list")]
    ListSeparator,
    /// An object key not followed by a colon.
    #[error("JSON parse error, missing : in object pair")]
    MissingColon,
    /// An object key that is not a string.
    #[error("JSON parse error, key is not a string in object")]
    KeyNotString,
    /// A bare word other than `true`, `false` and `null` (its first KiB).
    #[error("JSON parse error, invalid keyword '{0}'")]
    InvalidKeyword(String),
    /// The same key twice in one object.
    #[error("JSON parse error, duplicate key")]
    DuplicateKey,
    /// A backslash followed by a character that is no escape.
    #[error("JSON parse error, invalid escape sequence in string")]
    InvalidEscape,
    /// A `\u` escape that is not a valid code point (or surrogate pair).
    #[error("JSON parse error, {0} is not a valid Unicode character")]
    InvalidUnicode(String),
    /// String bytes that are not UTF-8.
    #[error("JSON parse error, invalid UTF-8 sequence in string")]
    InvalidUtf8,
    /// The text ended inside a value.
    #[error("JSON parse error, premature EOI")]
    PrematureEnd,
    /// More after a complete value.
    #[error("JSON parse error, expecting end of input")]
    TrailingInput,
    /// A number too large to represent.
    #[error("JSON parse error, number out of range")]
    NumberOutOfRange,
    /// A byte that cannot start a token (only when the text did not come
    /// through a [`Framer`](crate::Framer), which reports these itself).
    #[error(transparent)]
    Lexical(#[from] FrameError),
    /// Nested deeper than QEMU allows.
    #[error("JSON nesting depth limit exceeded")]
    TooDeep,
}

/// Parses one complete JSON text, such as a [`Frame::Message`](crate::Frame).
pub fn parse_message(text: &[u8]) -> Result<Value, ParseError> {
    let mut parser = Parser {
        text,
        pos: 0,
        depth: 0,
    };
    let value = parser.value()?;
    parser.skip_ws();
    if parser.pos < text.len() {
        return Err(ParseError::TrailingInput);
    }
    Ok(value)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\r' | b'\n') = self.text.get(self.pos) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.text.get(self.pos).copied()
    }

    fn value(&mut self) -> Result<Value, ParseError> {
        match self.peek() {
            None => Err(ParseError::PrematureEnd),
            Some(b'{') => self.nested(Self::object),
            Some(b'[') => self.nested(Self::array),
            Some(q @ (b'"' | b'\'')) => self.string(q).map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'a'..=b'z') => self.keyword(),
            Some(b',' | b':' | b'}' | b']') => Err(ParseError::ExpectingValue),
            Some(b) => Err(FrameError::Stray(vec![b]).into()),
        }
    }

    fn nested(&mut self, f: fn(&mut Self) -> Result<Value, ParseError>) -> Result<Value, ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let value = f(self);
        self.depth -= 1;
        value
    }

    fn object(&mut self) -> Result<Value, ParseError> {
        self.pos += 1; // '{'
        let mut map = Map::new();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(map));
        }
        loop {
            let key = match self.value()? {
                Value::String(key) => key,
                _ => return Err(ParseError::KeyNotString),
            };
            match self.peek() {
                Some(b':') => self.pos += 1,
                None => return Err(ParseError::PrematureEnd),
                Some(_) => return Err(ParseError::MissingColon),
            }
            let value = self.value()?;
            if map.contains_key(&key) {
                return Err(ParseError::DuplicateKey);
            }
            map.insert(key, value);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    return Ok(Value::Object(map));
                }
                None => return Err(ParseError::PrematureEnd),
                Some(_) => return Err(ParseError::DictSeparator),
            }
        }
    }

    fn array(&mut self) -> Result<Value, ParseError> {
        self.pos += 1; // '['
        let mut list = Vec::new();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(list));
        }
        loop {
            list.push(self.value()?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(list));
                }
                None => return Err(ParseError::PrematureEnd),
                Some(_) => return Err(ParseError::ListSeparator),
            }
        }
    }

    fn keyword(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        while let Some(b'a'..=b'z') = self.text.get(self.pos) {
            self.pos += 1;
        }
        match &self.text[start..self.pos] {
            b"true" => Ok(Value::Bool(true)),
            b"false" => Ok(Value::Bool(false)),
            b"null" => Ok(Value::Null),
            // Only lowercase ASCII letters get here; one more than the echo
            // keeps is enough to mark the cut.
            word => Err(ParseError::InvalidKeyword(
                echo(&String::from_utf8_lossy(&word[..word.len().min(ECHO_MAX + 1)])).into_owned(),
            )),
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let mut integral = true;
        while let Some(&b) = self.text.get(self.pos) {
            match b {
                b'0'..=b'9' | b'-' | b'+' => {}
                b'.' | b'e' | b'E' => integral = false,
                _ => break,
            }
            self.pos += 1;
        }
        let token = &self.text[start..self.pos];
        let stray = || ParseError::Lexical(FrameError::Stray(bounded_token(token, &[])));
        let text = std::str::from_utf8(token).map_err(|_| stray())?;
        if integral {
            if let Ok(n) = text.parse::<i64>() {
                return Ok(Value::Number(n.into()));
            }
            if let Ok(n) = text.parse::<u64>() {
                return Ok(Value::Number(n.into()));
            }
        }
        let float: f64 = text.parse().map_err(|_| stray())?;
        Number::from_f64(float)
            .map(Value::Number)
            .ok_or(ParseError::NumberOutOfRange)
    }

    fn string(&mut self, quote: u8) -> Result<String, ParseError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            let rest = &self.text[self.pos..];
            let stop = memchr2(quote, b'\\', rest).ok_or(ParseError::PrematureEnd)?;
            let plain = &rest[..stop];
            if let Some(&bad) = plain.iter().find(|&&b| b < 0x20) {
                return Err(FrameError::Stray(vec![bad]).into());
            }
            push_modified_utf8(&mut out, plain)?;
            self.pos += stop + 1;
            if rest[stop] == quote {
                return Ok(out);
            }
            let escape = *self.text.get(self.pos).ok_or(ParseError::PrematureEnd)?;
            self.pos += 1;
            let c = match escape {
                b'"' => '"',
                b'\'' => '\'',
                b'\\' => '\\',
                b'/' => '/',
                b'b' => '\u{8}',
                b'f' => '\u{c}',
                b'n' => '\n',
                b'r' => '\r',
                b't' => '\t',
                b'u' => self.unicode_escape(quote)?,
                _ => return Err(ParseError::InvalidEscape),
            };
            out.push(c);
        }
    }

    /// Reads the four hex digits after `\u` (and a low surrogate's escape
    /// after a high surrogate); `self.pos` is just past the `u`.
    fn unicode_escape(&mut self, quote: u8) -> Result<char, ParseError> {
        let start = self.pos - 2;
        let bad = |len: usize| ParseError::InvalidUnicode(escape_text(self.text, start, len, quote));
        let high = self.hex4().ok_or_else(|| bad(6))?;
        let code = match high {
            0xD800..=0xDBFF => {
                if self.text.get(self.pos..self.pos + 2) != Some(b"\\u") {
                    return Err(bad(6));
                }
                self.pos += 2;
                match self.hex4() {
                    Some(low @ 0xDC00..=0xDFFF) => 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00),
                    _ => return Err(bad(6)),
                }
            }
            0xDC00..=0xDFFF => return Err(bad(6)),
            code => code,
        };
        let len = if code > 0xFFFF { 12 } else { 6 };
        char::from_u32(code)
            .filter(|&c| !is_noncharacter(c))
            .ok_or_else(|| bad(len))
    }

    /// Four hex digits at `self.pos`, consumed.
    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.pos..self.pos + 4)?;
        let code = digits
            .iter()
            .try_fold(0, |v, &b| (b as char).to_digit(16).map(|d| v * 16 + d))?;
        self.pos += 4;
        Some(code)
    }
}

/// The text of a bad `\u` escape as QEMU quotes it: `len` bytes from the
/// backslash, but not past the string's closing quote.
fn escape_text(text: &[u8], start: usize, len: usize, quote: u8) -> String {
    let window = &text[start..text.len().min(start + len)];
    let end = window
        .iter()
        .skip(1)
        .position(|&b| b == quote)
        .map_or(window.len(), |p| p + 2);
    String::from_utf8_lossy(&window[..end]).into_owned()
}

/// Unicode noncharacters, which QEMU's parser rejects.
fn is_noncharacter(c: char) -> bool {
    let code = c as u32;
    (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE
}

/// Appends string bytes read as QEMU reads them: UTF-8 where the
/// two-byte `C0 80` stands for U+0000 (modified UTF-8), and noncharacters
/// are invalid.
fn push_modified_utf8(out: &mut String, mut bytes: &[u8]) -> Result<(), ParseError> {
    let mut push = |valid: &str| {
        if !valid.is_ascii() && valid.chars().any(is_noncharacter) {
            return Err(ParseError::InvalidUtf8);
        }
        out.push_str(valid);
        Ok(())
    };
    loop {
        let e = match std::str::from_utf8(bytes) {
            Ok(valid) => return push(valid),
            Err(e) => e,
        };
        let (head, rest) = bytes.split_at(e.valid_up_to());
        push(std::str::from_utf8(head).map_err(|_| ParseError::InvalidUtf8)?)?;
        match rest {
            [0xC0, 0x80, tail @ ..] => {
                push("\0")?;
                bytes = tail;
            }
            _ => return Err(ParseError::InvalidUtf8),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn err(text: &str) -> String {
        parse_message(text.as_bytes()).unwrap_err().to_string()
    }

    #[test]
    fn parses_qemu_dialect() {
        assert_eq!(
            parse_message(b"{'execute':'guest-ping', \"id\": [1, -2, 1.5, true, null]}").unwrap(),
            json!({"execute": "guest-ping", "id": [1, -2, 1.5, true, null]})
        );
        assert_eq!(
            parse_message(br#""a\'\u00e9\ud83d\ude00\u0000""#).unwrap(),
            json!("a'\u{e9}\u{1f600}\u{0}")
        );
        assert_eq!(parse_message(b"18446744073709551615").unwrap(), json!(u64::MAX));
        assert_eq!(parse_message(b"-9223372036854775808").unwrap(), json!(i64::MIN));
        assert_eq!(parse_message(b"99999999999999999999").unwrap(), json!(1e20));
    }

    #[test]
    fn error_texts_match_qemu() {
        assert_eq!(
            err(r#"{"execute":"guest-ping",}"#),
            "JSON parse error, expecting value"
        );
        assert_eq!(
            err(r#"{"execute":"guest-ping"]"#),
            "JSON parse error, expected separator in dict"
        );
        assert_eq!(err("[1 2]"), "JSON parse error, expected separator in list");
        assert_eq!(err(r#"{"a":1,"a":2}"#), "JSON parse error, duplicate key");
        assert_eq!(err("{1:2}"), "JSON parse error, key is not a string in object");
        assert_eq!(
            err(r#"{"execute" "x"}"#),
            "JSON parse error, missing : in object pair"
        );
        assert_eq!(
            err("{\"execute\":tru}"),
            "JSON parse error, invalid keyword 'tru'"
        );
        assert_eq!(
            err(r#""\q""#),
            "JSON parse error, invalid escape sequence in string"
        );
        assert_eq!(
            err(r#""\u00""#),
            r#"JSON parse error, \u00" is not a valid Unicode character"#
        );
        assert_eq!(
            parse_message(b"\"\xc3\"").unwrap_err().to_string(),
            "JSON parse error, invalid UTF-8 sequence in string"
        );
        assert_eq!(err("}"), "JSON parse error, expecting value");
        assert_eq!(err("[}"), "JSON parse error, expecting value");
        assert_eq!(err(&"[".repeat(2000)), "JSON nesting depth limit exceeded");
    }

    #[test]
    fn huge_tokens_are_quoted_short() {
        let word = "q".repeat(8 << 20);
        let text = err(&format!("{{\"execute\":{word}}}"));
        assert_eq!(
            text,
            format!("JSON parse error, invalid keyword '{}...'", "q".repeat(ECHO_MAX))
        );
        let exact = "q".repeat(ECHO_MAX);
        assert_eq!(
            err(&exact),
            format!("JSON parse error, invalid keyword '{exact}'")
        );
        // A number the framer lets through but that does not parse.
        let number = "1-".repeat(4 << 20);
        let text = err(&format!("[{number}]"));
        assert!(text.len() < 2 * ECHO_MAX, "{} bytes", text.len());
        assert!(text.starts_with("JSON parse error, stray '1-1-"), "{text}");
        assert!(text.ends_with("...-'"), "{text}");
    }
}
