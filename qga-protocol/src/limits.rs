//! Bounds on what one incoming message may make a reader hold.

/// Limits applied by [`Framer`](crate::Framer) to each incoming message.
///
/// The defaults are current QEMU's JSON streamer limits, so a peer that
/// works with QEMU's agent works with this one and the other way round.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes one message may span (QEMU: 64 MiB).
    pub max_message_bytes: usize,
    /// Most JSON tokens one message may hold (QEMU: 2 Mi).
    pub max_tokens: usize,
    /// Deepest nesting of `{` and `[` together (QEMU: 1024).
    pub max_depth: usize,
}

/// QEMU's limit on the bytes of one message.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;
/// QEMU's limit on the tokens of one message.
pub const MAX_TOKENS: usize = 2 << 20;
/// QEMU's limit on nesting depth.
pub const MAX_DEPTH: usize = 1024;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: MAX_MESSAGE_BYTES,
            max_tokens: MAX_TOKENS,
            max_depth: MAX_DEPTH,
        }
    }
}
