//! A small reader of whitespace-separated kernel text fields, with the
//! conversions C's `scanf` family applies (`%s`, `%d`, `%x`, `%lld`): leading
//! whitespace skipped, an optional sign, numbers that overflow clamped as
//! `strtol`/`strtoul` clamp them.

/// A cursor over one line of text.
#[derive(Debug, Clone)]
pub(crate) struct Scanner<'a> {
    text: &'a [u8],
    pos: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `text`.
    pub(crate) fn new(text: &'a [u8]) -> Self {
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
    pub(crate) fn word(&mut self, max: Option<usize>) -> Option<&'a [u8]> {
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
    pub(crate) fn signed(&mut self) -> Option<i64> {
        self.signed_in(10)
    }

    /// `strtol` in `radix` (10 or 16): clamped to the `i64` range.
    pub(crate) fn signed_in(&mut self, radix: u32) -> Option<i64> {
        let (negative, magnitude) = self.number(radix)?;
        Some(match (negative, magnitude) {
            (false, Some(m)) => i64::try_from(m).unwrap_or(i64::MAX),
            (true, Some(m)) => 0i64.checked_sub_unsigned(m).unwrap_or(i64::MIN),
            (false, None) => i64::MAX,
            (true, None) => i64::MIN,
        })
    }

    /// `%d` into a C `int`: [`Scanner::signed`] cut to 32 bits.
    pub(crate) fn int(&mut self) -> Option<i32> {
        self.signed().map(|v| v as i32)
    }

    /// `strtoul` in `radix` (10 or 16): clamped to `u64::MAX`, a minus sign
    /// negating.
    pub(crate) fn unsigned_in(&mut self, radix: u32) -> Option<u64> {
        let (negative, magnitude) = self.number(radix)?;
        Some(match magnitude {
            None => u64::MAX,
            Some(value) if negative => value.wrapping_neg(),
            Some(value) => value,
        })
    }

    /// `%x` into a C `unsigned int` (or `int`): read as `strtoul` reads,
    /// cut to 32 bits.
    pub(crate) fn hex(&mut self) -> Option<u32> {
        self.unsigned_in(16).map(|v| v as u32)
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
}
