//! Writing JSON the way QEMU's agent writes it.
//!
//! QEMU puts `", "` between members and `": "` after keys, keeps everything on
//! one line, escapes every non-ASCII character (and DEL) as `\uXXXX` with
//! upper-case hex digits, and prints floats like C's `%.17g`. Peers compare
//! replies byte for byte in tests, so this crate writes the same bytes.

use std::io;

use serde::Serialize;
use serde_json::ser::{CharEscape, Formatter};

/// A [`serde_json`] formatter that produces QEMU's JSON layout.
#[derive(Debug, Default, Clone, Copy)]
pub struct QemuFormatter;

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn write_u_escape<W: ?Sized + io::Write>(w: &mut W, unit: u16) -> io::Result<()> {
    let buf = [
        b'\\',
        b'u',
        HEX[(unit >> 12) as usize & 0xF],
        HEX[(unit >> 8) as usize & 0xF],
        HEX[(unit >> 4) as usize & 0xF],
        HEX[unit as usize & 0xF],
    ];
    w.write_all(&buf)
}

impl Formatter for QemuFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    fn write_string_fragment<W: ?Sized + io::Write>(&mut self, w: &mut W, fragment: &str) -> io::Result<()> {
        let bytes = fragment.as_bytes();
        let mut plain_from = 0;
        for (i, c) in fragment.char_indices() {
            if c.is_ascii() && c != '\u{7f}' {
                continue;
            }
            w.write_all(&bytes[plain_from..i])?;
            // Noncharacters are written as U+FFFD, as QEMU writes them.
            let code = c as u32;
            let c = if (0xFDD0..=0xFDEF).contains(&code) || code & 0xFFFE == 0xFFFE {
                '\u{FFFD}'
            } else {
                c
            };
            let mut units = [0u16; 2];
            for &unit in c.encode_utf16(&mut units).iter() {
                write_u_escape(w, unit)?;
            }
            plain_from = i + c.len_utf8();
        }
        w.write_all(&bytes[plain_from..])
    }

    fn write_char_escape<W: ?Sized + io::Write>(&mut self, w: &mut W, escape: CharEscape) -> io::Result<()> {
        let text: &[u8] = match escape {
            CharEscape::Quote => b"\\\"",
            CharEscape::ReverseSolidus => b"\\\\",
            CharEscape::Solidus => b"/",
            CharEscape::Backspace => b"\\b",
            CharEscape::FormFeed => b"\\f",
            CharEscape::LineFeed => b"\\n",
            CharEscape::CarriageReturn => b"\\r",
            CharEscape::Tab => b"\\t",
            CharEscape::AsciiControl(byte) => return write_u_escape(w, u16::from(byte)),
        };
        w.write_all(text)
    }

    fn write_f64<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(format_g17(value).as_bytes())
    }

    fn write_f32<W: ?Sized + io::Write>(&mut self, w: &mut W, value: f32) -> io::Result<()> {
        w.write_all(format_g17(f64::from(value)).as_bytes())
    }
}

/// Formats a float as C's `printf("%.17g")` does.
pub fn format_g17(value: f64) -> String {
    const PRECISION: i32 = 17;
    if value.is_nan() {
        return "nan".into();
    }
    if value.is_infinite() {
        return if value < 0.0 { "-inf" } else { "inf" }.into();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.into();
    }
    let scientific = format!("{:.*e}", (PRECISION - 1) as usize, value);
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    if !(-4..PRECISION).contains(&exponent) {
        let mantissa = strip_fraction_zeros(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exponent.abs())
    } else {
        let decimals = (PRECISION - 1 - exponent) as usize;
        strip_fraction_zeros(&format!("{value:.decimals$}")).to_string()
    }
}

fn strip_fraction_zeros(text: &str) -> &str {
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        text
    }
}

/// Appends `value` to `out` as QEMU would write it.
pub fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) -> Result<(), serde_json::Error> {
    let mut ser = serde_json::Serializer::with_formatter(out, QemuFormatter);
    value.serialize(&mut ser)
}

/// `value` as QEMU would write it.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, serde_json::Error> {
    let mut out = Vec::with_capacity(64);
    write_json(&mut out, value)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn text(v: &serde_json::Value) -> String {
        String::from_utf8(to_json(v).unwrap()).unwrap()
    }

    #[test]
    fn layout_and_escapes_match_qemu() {
        assert_eq!(text(&json!({"return": {}})), r#"{"return": {}}"#);
        assert_eq!(text(&json!({"a": [1, 2], "b": []})), r#"{"a": [1, 2], "b": []}"#);
        assert_eq!(
            text(&json!("a/b\u{1}\t\u{7f}\u{80}\u{e9}\u{1f600}\"\\\u{0}")),
            r#""a/b\u0001\t\u007F\u0080\u00E9\uD83D\uDE00\"\\\u0000""#
        );
        assert_eq!(text(&json!("\u{fffd}")), r#""\uFFFD""#);
    }

    #[test]
    fn floats_print_like_percent_17g() {
        assert_eq!(format_g17(1.0), "1");
        assert_eq!(format_g17(1.5e300), "1.5000000000000001e+300");
        assert_eq!(format_g17(0.1), "0.10000000000000001");
        assert_eq!(format_g17(100.0), "100");
        assert_eq!(format_g17(1e20), "1e+20");
        assert_eq!(format_g17(-0.0), "-0");
        assert_eq!(format_g17(1.5e-7), "1.4999999999999999e-07");
        assert_eq!(format_g17(0.0001), "0.0001");
    }
}
