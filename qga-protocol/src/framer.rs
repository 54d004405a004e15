//! Splitting a byte stream into JSON messages, the way the agent's peer expects.
//!
//! The guest agent protocol has no length prefix and no required delimiter:
//! a message ends where its outermost `{` (or `[`) is closed. [`Framer`] is a
//! sans-IO splitter: feed it bytes in any split and it hands back each
//! complete top-level JSON text as one slice, without parsing it.
//!
//! It tokenizes just enough to know where a message ends (strings with both
//! quote styles and escapes, numbers, lowercase keywords, the six structural
//! characters) and counts open braces and brackets separately, as QEMU does.
//! A message is handed over when both counts are back to zero, or as soon as
//! either goes negative (so a stray `}` is reported at once instead of
//! swallowing the stream).
//!
//! # Errors and where the framer resumes
//!
//! * A byte that cannot start or continue a token (`@`, a control character
//!   inside a string, `01`, any byte of 0x80 and above outside a string, and
//!   above all 0xFF and 0xFE) gives [`FrameError::Stray`]. The partial message
//!   is dropped, and the framer skips input up to the next *resync byte*: an
//!   ASCII control character other than tab, one of `{ } [ ] , :`, or
//!   0xFE/0xFF.
//!   It resumes *at* that byte. A client that is unsure of the state of the
//!   channel therefore sends 0xFF: whatever came before is dropped, one error
//!   is reported for it, and its next message is read afresh. The error
//!   quotes at most 1 KiB of the token (its start, `...`, the bad byte).
//! * A message that outgrows [`Limits`] gives [`FrameError::TooLarge`],
//!   [`FrameError::TooManyTokens`] or [`FrameError::TooDeep`] when the token
//!   that crossed the limit ends. Its bytes are not kept past the size limit.
//!   The framer resumes right after that token, reading what follows as new
//!   messages (as QEMU does: the rest of an over-deep message then shows up as
//!   a series of small invalid messages).
//! * A message that is balanced but not valid JSON (`{"a" 1}`) is still
//!   handed over whole; [`parse_message`](crate::parse_message) reports it,
//!   and the framer has already resumed right after its last token.

use crate::Limits;

/// One thing found in the incoming byte stream.
#[derive(Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// The bytes of one top-level JSON text, from its first token to its last.
    Message(&'a [u8]),
    /// Input that can never become a valid message; it has been dropped.
    Error(FrameError),
}

/// Why the framer dropped input. The display text is QEMU's error desc.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// A byte that cannot start or continue a token; holds the token's text up
    /// to and including that byte. A token longer than 1 KiB is kept (and
    /// shown) as its first bytes, `...` and the bad byte, 1 KiB in all.
    #[error("JSON parse error, stray '{}'", stray_text(.0))]
    Stray(Vec<u8>),
    /// The message spans more bytes than [`Limits::max_message_bytes`].
    #[error("JSON token size limit exceeded")]
    TooLarge,
    /// The message holds more tokens than [`Limits::max_tokens`].
    #[error("JSON token count limit exceeded")]
    TooManyTokens,
    /// The message nests deeper than [`Limits::max_depth`].
    #[error("JSON nesting depth limit exceeded")]
    TooDeep,
}

/// Most bytes of a stray token that [`FrameError::Stray`] keeps and shows.
///
/// A token can be as long as a message (64 MiB); an error repeating it whole
/// would make the agent's reply as large, and larger still once escaped.
/// The same bound as any other peer text an error repeats.
pub(crate) const STRAY_MAX: usize = crate::message::ECHO_MAX;

/// The stray token as QEMU prints it: as a C string, so it ends at a NUL.
/// A token longer than [`STRAY_MAX`] (from anywhere but the framer, which
/// keeps no more) is shortened as the framer shortens it.
fn stray_text(token: &[u8]) -> String {
    let token = if token.len() > STRAY_MAX {
        std::borrow::Cow::Owned(bounded_token(token, &[]))
    } else {
        std::borrow::Cow::Borrowed(token)
    };
    let end = memchr::memchr(0, &token).unwrap_or(token.len());
    String::from_utf8_lossy(&token[..end]).into_owned()
}

/// The text of a stray token made of `head` followed by `tail`: whole when
/// it is at most [`STRAY_MAX`] bytes, else its first bytes (not ending inside
/// a UTF-8 sequence), `...`, and its last byte (the one that could not
/// continue it), [`STRAY_MAX`] bytes at most in all. Only what is kept is
/// copied.
pub(crate) fn bounded_token(head: &[u8], tail: &[u8]) -> Vec<u8> {
    const MARK: &[u8] = b"...";
    let len = head.len() + tail.len();
    if len <= STRAY_MAX {
        let mut text = Vec::with_capacity(len);
        text.extend_from_slice(head);
        text.extend_from_slice(tail);
        return text;
    }
    let last = tail.last().or(head.last()).copied().unwrap_or_default();
    let keep = STRAY_MAX - MARK.len() - 1;
    let mut text = Vec::with_capacity(STRAY_MAX);
    for part in [head, tail] {
        let take = keep.saturating_sub(text.len()).min(part.len());
        text.extend_from_slice(&part[..take]);
    }
    let partial = incomplete_utf8_tail(&text);
    text.truncate(text.len() - partial);
    text.extend_from_slice(MARK);
    text.push(last);
    text
}

/// How many bytes at the end of `bytes` are the start of a UTF-8 sequence
/// that the cut left incomplete (0 when none).
fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the lead
        }
        let needed = match b {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => return 0,
        };
        return if needed > back { back } else { 0 };
    }
    0
}

/// Where the tokenizer is inside the current token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lex {
    /// Between tokens.
    Start,
    /// After an error: skipping to the next resync byte.
    Recover,
    /// Inside a string delimited by the given quote.
    Str(u8),
    /// Right after a backslash inside a string.
    StrEscape(u8),
    /// After a leading `-`.
    Sign,
    /// After a leading `0`.
    Zero,
    /// In the integer digits.
    Int,
    /// After the decimal point, before any digit.
    Point,
    /// In the fraction digits.
    Fraction,
    /// After `e`/`E`.
    ExpMark,
    /// After the exponent's sign.
    ExpSign,
    /// In the exponent digits.
    ExpDigits,
    /// In a run of lowercase letters.
    Keyword,
}

/// Streaming splitter of the agent's JSON byte stream into messages.
///
/// ```
/// use qga_protocol::{Frame, Framer};
/// let mut framer = Framer::new();
/// let mut messages = Vec::new();
/// framer.feed(b"{\"execute\":", |f| panic!("{f:?}"));
/// framer.feed(b"\"guest-ping\"} \xff {}", |f| messages.push(format!("{f:?}")));
/// assert_eq!(messages.len(), 3); // the ping, the 0xFF error, `{}`
/// ```
#[derive(Debug)]
pub struct Framer {
    limits: Limits,
    lex: Lex,
    braces: i64,
    brackets: i64,
    tokens: usize,
    /// A message has begun: its first token has started.
    in_message: bool,
    /// Bytes of the current message that arrived in earlier chunks.
    carried: usize,
    /// Those bytes, unless the message has outgrown the size limit.
    buf: Vec<u8>,
    /// The current message has outgrown the size limit; `buf` is not kept.
    oversized: bool,
    /// Offset in `buf` where the current token began, when it began in an
    /// earlier chunk.
    token_at: usize,
}

impl Default for Framer {
    fn default() -> Self {
        Framer::new()
    }
}

/// Bytes at which a framer in error recovery starts reading tokens again.
fn is_resync(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || matches!(b, b'{' | b'}' | b'[' | b']' | b',' | b':') || b >= 0xFE
}

/// Bytes that may stand unescaped inside a string, as far as framing goes.
/// UTF-8 validity is the parser's business.
fn is_string_byte(b: u8) -> bool {
    (0x20..0xFE).contains(&b)
}

/// Index of the first byte of `s` that cannot stand inside a string.
fn first_non_string_byte(s: &[u8]) -> Option<usize> {
    const LANES: usize = 32;
    let mut chunks = s.chunks_exact(LANES);
    let mut base = 0;
    for chunk in &mut chunks {
        // A branch-free fold the compiler turns into vector compares.
        let bad = chunk.iter().fold(false, |acc, &b| acc | !is_string_byte(b));
        if bad {
            return chunk.iter().position(|&b| !is_string_byte(b)).map(|p| base + p);
        }
        base += LANES;
    }
    chunks
        .remainder()
        .iter()
        .position(|&b| !is_string_byte(b))
        .map(|p| base + p)
}

/// Index of the first byte of `s` that ends a run of plain string bytes: the
/// closing quote, a backslash, or a byte that cannot stand in a string.
fn string_stop(s: &[u8], quote: u8) -> Option<usize> {
    let special = memchr::memchr2(quote, b'\\', s);
    let plain = &s[..special.unwrap_or(s.len())];
    first_non_string_byte(plain).or(special)
}

impl Framer {
    /// A framer with QEMU's default [`Limits`].
    pub fn new() -> Self {
        Framer::with_limits(Limits::default())
    }

    /// A framer with the given limits.
    pub fn with_limits(limits: Limits) -> Self {
        Framer {
            limits,
            lex: Lex::Start,
            braces: 0,
            brackets: 0,
            tokens: 0,
            in_message: false,
            carried: 0,
            buf: Vec::new(),
            oversized: false,
            token_at: 0,
        }
    }

    /// The limits this framer enforces.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets any partial message and error state, as for a new connection.
    pub fn reset(&mut self) {
        self.drop_message();
        self.lex = Lex::Start;
    }

    /// True when no partial message or token is pending.
    pub fn is_idle(&self) -> bool {
        !self.in_message && matches!(self.lex, Lex::Start | Lex::Recover)
    }

    /// Feeds the next bytes of the stream; `on_frame` is called, in stream
    /// order, for each message completed and each error found in them.
    pub fn feed(&mut self, input: &[u8], mut on_frame: impl FnMut(Frame<'_>)) {
        self.feed_until(input, |frame| {
            on_frame(frame);
            true
        });
    }

    /// Like [`Framer::feed`], but stops right after a frame for which
    /// `on_frame` returns false, and returns how many bytes of `input` it
    /// took: all of them, unless it stopped. The framer is then between
    /// messages; the rest of `input` is to be fed later, and frames as it
    /// would have. (A session uses this to run a request before it reads
    /// the ones after it.)
    pub fn feed_until(&mut self, input: &[u8], mut on_frame: impl FnMut(Frame<'_>) -> bool) -> usize {
        let mut cursor = Cursor {
            input,
            seg: 0,
            token: None,
        };
        let mut i = 0;
        // Each place a frame may end returns at once when told to stop: `i`
        // is then where the rest of the input starts.
        while i < input.len() {
            let b = input[i];
            match self.lex {
                Lex::Start => {
                    if matches!(b, b' ' | b'\t' | b'\r' | b'\n') {
                        i += 1;
                        continue;
                    }
                    if !self.in_message {
                        self.in_message = true;
                        cursor.seg = i;
                    }
                    cursor.token = Some(i);
                    i += 1;
                    match b {
                        b'{' | b'}' | b'[' | b']' | b',' | b':' => {
                            if !self.token_end(&cursor, i, b, &mut on_frame) {
                                return i;
                            }
                        }
                        b'"' | b'\'' => self.lex = Lex::Str(b),
                        b'-' => self.lex = Lex::Sign,
                        b'0' => self.lex = Lex::Zero,
                        b'1'..=b'9' => self.lex = Lex::Int,
                        b'a'..=b'z' => self.lex = Lex::Keyword,
                        _ => {
                            if !self.stray(&cursor, i, &mut on_frame) {
                                return i;
                            }
                        }
                    }
                }
                Lex::Recover => {
                    if is_resync(b) {
                        self.lex = Lex::Start;
                    } else {
                        i += 1;
                    }
                }
                Lex::Str(quote) => match string_stop(&input[i..], quote) {
                    None => i = input.len(),
                    Some(p) => {
                        i += p + 1;
                        match input[i - 1] {
                            c if c == quote => {
                                self.lex = Lex::Start;
                                if !self.token_end(&cursor, i, c, &mut on_frame) {
                                    return i;
                                }
                            }
                            b'\\' => self.lex = Lex::StrEscape(quote),
                            _ => {
                                if !self.stray(&cursor, i, &mut on_frame) {
                                    return i;
                                }
                            }
                        }
                    }
                },
                Lex::StrEscape(quote) => {
                    i += 1;
                    if is_string_byte(b) {
                        self.lex = Lex::Str(quote);
                    } else if !self.stray(&cursor, i, &mut on_frame) {
                        return i;
                    }
                }
                Lex::Sign | Lex::Point | Lex::ExpMark | Lex::ExpSign => {
                    // States that need one more specific byte; anything else
                    // is an error that takes the offending byte with it.
                    i += 1;
                    let next = match (self.lex, b) {
                        (Lex::Sign, b'0') => Some(Lex::Zero),
                        (Lex::Sign, b'1'..=b'9') => Some(Lex::Int),
                        (Lex::Point, b'0'..=b'9') => Some(Lex::Fraction),
                        (Lex::ExpMark, b'+' | b'-') => Some(Lex::ExpSign),
                        (Lex::ExpMark | Lex::ExpSign, b'0'..=b'9') => Some(Lex::ExpDigits),
                        _ => None,
                    };
                    match next {
                        Some(state) => self.lex = state,
                        None => {
                            if !self.stray(&cursor, i, &mut on_frame) {
                                return i;
                            }
                        }
                    }
                }
                Lex::Zero | Lex::Int | Lex::Fraction | Lex::ExpDigits | Lex::Keyword => {
                    let next = match (self.lex, b) {
                        (Lex::Zero, b'0'..=b'9') => {
                            i += 1;
                            if !self.stray(&cursor, i, &mut on_frame) {
                                return i;
                            }
                            continue;
                        }
                        (Lex::Int | Lex::Fraction | Lex::ExpDigits, b'0'..=b'9') => None,
                        (Lex::Zero | Lex::Int, b'.') => Some(Lex::Point),
                        (Lex::Zero | Lex::Int | Lex::Fraction, b'e' | b'E') => Some(Lex::ExpMark),
                        (Lex::Keyword, b'a'..=b'z') => None,
                        _ => {
                            // The token ended just before this byte, which
                            // is read again as the start of the next one.
                            self.lex = Lex::Start;
                            if !self.token_end(&cursor, i, 0, &mut on_frame) {
                                return i;
                            }
                            continue;
                        }
                    };
                    if let Some(state) = next {
                        self.lex = state;
                    }
                    i += 1;
                }
            }
        }
        self.carry_over(&cursor);
        input.len()
    }

    /// Keeps the part of the current message that is in this chunk, so the
    /// next chunk can complete it.
    fn carry_over(&mut self, cursor: &Cursor<'_>) {
        if !self.in_message {
            return;
        }
        let part = &cursor.input[cursor.seg..];
        if let Some(t) = cursor.token {
            self.token_at = self.buf.len() + (t - cursor.seg);
        }
        self.carried += part.len();
        if self.oversized {
            return;
        }
        if self.carried > self.limits.max_message_bytes {
            self.oversized = true;
            self.buf = Vec::new();
        } else {
            self.buf.extend_from_slice(part);
        }
    }

    /// A token ended at `end` (exclusive). `kind` is its first byte for
    /// structural characters and strings, 0 for numbers and keywords.
    /// Returns what `on_frame` said of the frame it ended, if any.
    fn token_end(
        &mut self,
        cursor: &Cursor<'_>,
        end: usize,
        kind: u8,
        on_frame: &mut impl FnMut(Frame<'_>) -> bool,
    ) -> bool {
        match kind {
            b'{' => self.braces += 1,
            b'}' => self.braces -= 1,
            b'[' => self.brackets += 1,
            b']' => self.brackets -= 1,
            _ => {}
        }
        let len = self.carried + (end - cursor.seg);
        let open = (self.braces > 0 || self.brackets > 0) && self.braces >= 0 && self.brackets >= 0;
        let depth = if open {
            (self.braces + self.brackets) as usize
        } else {
            0
        };
        let error = if self.oversized || len > self.limits.max_message_bytes {
            Some(FrameError::TooLarge)
        } else if self.tokens + 1 > self.limits.max_tokens {
            Some(FrameError::TooManyTokens)
        } else if depth > self.limits.max_depth {
            Some(FrameError::TooDeep)
        } else {
            None
        };
        if let Some(error) = error {
            self.drop_message();
            return on_frame(Frame::Error(error));
        }
        self.tokens += 1;
        if open {
            return true;
        }
        let bytes = &cursor.input[cursor.seg..end];
        let go_on = if self.carried == 0 {
            on_frame(Frame::Message(bytes))
        } else {
            self.buf.extend_from_slice(bytes);
            on_frame(Frame::Message(&self.buf))
        };
        self.drop_message();
        go_on
    }

    /// The byte before `end` cannot belong to the current token: report the
    /// token so far, drop the partial message and skip to a resync byte.
    fn stray(
        &mut self,
        cursor: &Cursor<'_>,
        end: usize,
        on_frame: &mut impl FnMut(Frame<'_>) -> bool,
    ) -> bool {
        let message_len = self.carried + (end - cursor.seg);
        let text = if self.oversized || (self.in_message && message_len > self.limits.max_message_bytes) {
            // The token's start is no longer kept: name the bad byte only,
            // however the input was split.
            cursor.input[end - 1..end].to_vec()
        } else {
            match cursor.token {
                Some(t) => bounded_token(&cursor.input[t..end], &[]),
                None => bounded_token(
                    self.buf.get(self.token_at..).unwrap_or_default(),
                    &cursor.input[..end],
                ),
            }
        };
        self.drop_message();
        self.lex = Lex::Recover;
        on_frame(Frame::Error(FrameError::Stray(text)))
    }

    /// Forgets the current message (not the tokenizer state).
    fn drop_message(&mut self) {
        self.braces = 0;
        self.brackets = 0;
        self.tokens = 0;
        self.in_message = false;
        self.carried = 0;
        self.oversized = false;
        self.token_at = 0;
        if self.buf.capacity() > 1 << 20 {
            self.buf = Vec::new();
        } else {
            self.buf.clear();
        }
    }
}

/// Positions within the chunk being fed.
struct Cursor<'a> {
    input: &'a [u8],
    /// Where this chunk's part of the current message starts.
    seg: usize,
    /// Where the current token starts, if it started in this chunk.
    token: Option<usize>,
}

#[cfg(test)]
mod tests;
