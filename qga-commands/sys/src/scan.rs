//! A small reader of whitespace-separated kernel text fields, with the
//! conversions C's `scanf` family applies (`%s`, `%d`, `%x`, `%lld`): leading
//! whitespace skipped, an optional sign, numbers that overflow clamped as
//! `strtol`/`strtoul` clamp them; and literal characters, for formats such
//! as sysfs's `%x:%x:%x.%x` (see [`Scanner::lit`] and
//! [`Scanner::u32_clamped`]).

/// A cursor over one line of text.
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub fn new(text: &'a [u8]) -> Self {
        Scanner { text, pos: 0 }
    }

    fn skip_space(&mut self) {
        while self.text.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    /// `%Ns`: the next word, at most `max` bytes of it (the rest stays for
    /// the next field); `None` at the end of the text.
    pub fn word(&mut self, max: Option<usize>) -> Option<&'a [u8]> {
        self.skip_space();
        let start = self.pos;
        while let Some(b) = self.peek() {
            if b.is_ascii_whitespace() || max.is_some_and(|m| self.pos - start >= m) {
                break;
            }
            self.pos += 1;
        }
        (self.pos > start).then(|| &self.text[start..self.pos])
    }

    /// An optional sign, then digits of `radix` (after an optional `0x` for
    /// radix 16): whether it was negative and the magnitude, clamped to
    /// `u64::MAX` on overflow (`None` for the magnitude when it overflowed).
    fn number(&mut self, radix: u32) -> Option<(bool, Option<u64>)> {
        self.skip_space();
        let start = self.pos;
        let negative = match self.peek() {
            Some(b'-') => {
                self.pos += 1;
                true
            }
            Some(b'+') => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        if radix == 16
            && self.peek() == Some(b'0')
            && matches!(self.text.get(self.pos + 1), Some(b'x' | b'X'))
            && self.text.get(self.pos + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            self.pos += 2;
        }
        let digits_start = self.pos;
        let mut value: Option<u64> = Some(0);
        while let Some(d) = self.peek().and_then(|b| char::from(b).to_digit(radix)) {
            value = value
                .and_then(|v| v.checked_mul(u64::from(radix)))
                .and_then(|v| v.checked_add(u64::from(d)));
            self.pos += 1;
        }
        if self.pos == digits_start {
            self.pos = start;
            return None;
        }
        Some((negative, value))
    }

    /// `%d`/`%lld` read as `strtol` reads: clamped to the `i64` range.
    pub fn signed(&mut self) -> Option<i64> {
        self.signed_in(10)
    }

    /// `strtol` in `radix` (10 or 16): clamped to the `i64` range.
    pub fn signed_in(&mut self, radix: u32) -> Option<i64> {
        let (negative, magnitude) = self.number(radix)?;
        Some(match (negative, magnitude) {
            (false, Some(m)) => i64::try_from(m).unwrap_or(i64::MAX),
            (true, Some(m)) => 0i64.checked_sub_unsigned(m).unwrap_or(i64::MIN),
            (false, None) => i64::MAX,
            (true, None) => i64::MIN,
        })
    }

    /// `%d` into a C `int`: [`Scanner::signed`] cut to 32 bits.
    pub fn int(&mut self) -> Option<i32> {
        self.signed().map(|v| v as i32)
    }

    /// `strtoul` in `radix` (10 or 16): clamped to `u64::MAX`, a minus sign
    /// negating.
    pub fn unsigned_in(&mut self, radix: u32) -> Option<u64> {
        let (negative, magnitude) = self.number(radix)?;
        Some(match magnitude {
            None => u64::MAX,
            Some(value) if negative => value.wrapping_neg(),
            Some(value) => value,
        })
    }

    /// `%x` into a C `unsigned int` (or `int`): read as `strtoul` reads,
    /// cut to 32 bits.
    pub fn hex(&mut self) -> Option<u32> {
        self.unsigned_in(16).map(|v| v as u32)
    }

    /// An unsigned number in `radix` (10 or 16, after an optional `0x` in
    /// 16) as the agent's sysfs path scans read one: white space skipped,
    /// no sign taken (`None` at a `+` or `-`), a value past `u32::MAX`
    /// clamped to `u32::MAX`.
    pub fn u32_clamped(&mut self, radix: u32) -> Option<u32> {
        self.skip_space();
        if matches!(self.peek(), Some(b'+' | b'-')) {
            return None;
        }
        let (_, magnitude) = self.number(radix)?;
        Some(magnitude.and_then(|m| u32::try_from(m).ok()).unwrap_or(u32::MAX))
    }

    /// A literal byte of a `scanf` format: consumed if it comes next (no
    /// white space skipped before it), else `None`.
    pub fn lit(&mut self, byte: u8) -> Option<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Some(())
        } else {
            None
        }
    }

    /// How many bytes of the text have been consumed.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The text not consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        self.text.get(self.pos..).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_like_scanf() {
        let mut s = Scanner::new(b"  eth0\t0001A8C0 -5 ffffffff 99999999999999999999 x");
        assert_eq!(s.word(None), Some(&b"eth0"[..]));
        assert_eq!(s.hex(), Some(0x0001_A8C0));
        assert_eq!(s.int(), Some(-5));
        assert_eq!(s.hex().map(|v| v as i32), Some(-1));
        assert_eq!(s.signed(), Some(i64::MAX));
        assert_eq!(s.int(), None);
        assert_eq!(s.word(None), Some(&b"x"[..]));
        assert_eq!(s.word(None), None);
    }

    #[test]
    fn words_are_cut_at_their_width() {
        let mut s = Scanner::new(b"abcdef 1");
        assert_eq!(s.word(Some(4)), Some(&b"abcd"[..]));
        assert_eq!(s.word(Some(4)), Some(&b"ef"[..]));
        assert_eq!(s.hex(), Some(1));
    }

    #[test]
    fn hex_takes_a_prefix_and_a_sign() {
        assert_eq!(Scanner::new(b"0x1f").hex(), Some(0x1f));
        assert_eq!(Scanner::new(b"-1").hex(), Some(u32::MAX));
        assert_eq!(Scanner::new(b"1ffffffff").hex(), Some(u32::MAX));
        assert_eq!(Scanner::new(b"zz").hex(), None);
        assert_eq!(Scanner::new(b"-").int(), None);
        assert_eq!(Scanner::new(b"-9223372036854775809").signed(), Some(i64::MIN));
    }

    #[test]
    fn clamped_numbers_and_literals() {
        let mut s = Scanner::new(b"0x1f: 12.ffffffff/100000000 99999999999999999999999");
        assert_eq!(s.u32_clamped(16), Some(0x1f));
        assert_eq!(s.lit(b':'), Some(()));
        assert_eq!(s.lit(b':'), None);
        assert_eq!(s.u32_clamped(10), Some(12));
        assert_eq!(s.lit(b'.'), Some(()));
        assert_eq!(s.u32_clamped(16), Some(u32::MAX));
        assert_eq!(s.lit(b'/'), Some(()));
        assert_eq!(s.position(), 18);
        assert_eq!(s.rest(), b"100000000 99999999999999999999999");
        // Past 32 bits: clamped, not cut.
        assert_eq!(s.u32_clamped(16), Some(u32::MAX));
        assert_eq!(s.u32_clamped(10), Some(u32::MAX));
        assert_eq!(s.u32_clamped(10), None);
        assert_eq!(s.rest(), b"");
        // No sign, and the literal is not preceded by white space.
        assert_eq!(Scanner::new(b"-1").u32_clamped(10), None);
        assert_eq!(Scanner::new(b"+1").u32_clamped(10), None);
        assert_eq!(Scanner::new(b" :").lit(b':'), None);
        assert_eq!(Scanner::new(b"0xg").u32_clamped(16), Some(0));
    }
}
