//! The QEMU Guest Agent wire protocol, for agents and for the host tools that
//! talk to them.
//!
//! A host and an agent exchange JSON messages over a byte stream with no
//! length prefix: requests `{"execute": ..., "arguments": {...}, "id": ...}`
//! one way, replies `{"return": ...}` or `{"error": {"class", "desc"}}` (one
//! per line) the other. A 0xFF byte resets the agent's parser, and the
//! agent's reply to `guest-sync-delimited` starts with 0xFF, which is how a
//! host finds its place in a stream of unknown state.
//!
//! This crate has the pieces of that protocol and nothing of the guest side:
//! - [`Framer`]: splits the incoming byte stream into messages, sans-IO;
//! - [`parse_message`]: QEMU's JSON dialect into a [`serde_json::Value`];
//! - [`Request`], [`Reply`], [`encode_return`], [`encode_error`]: the
//!   message shapes, written byte for byte as QEMU's agent writes them;
//! - [`Client`]: a host-side connection with the sync handshake;
//! - [`Service`], [`Link`], [`Wait`]: how an agent's conversation with a
//!   host is driven over a byte stream, between the sans-IO side and the
//!   transport;
//! - [`schema`]: the commands' argument and result types.
#![forbid(unsafe_code)]

mod client;
mod framer;
mod limits;
mod message;
mod parser;
pub mod schema;
mod stream;
mod writer;

pub use client::{fresh_sync_id, Client, ClientError, MAX_REPLY_BYTES};
pub use framer::{Frame, FrameError, Framer};
pub use limits::{Limits, MAX_DEPTH, MAX_MESSAGE_BYTES, MAX_TOKENS};
pub use message::{
    echo, encode_error, encode_return, DecodeError, ErrorClass, ErrorObject, Rejected, Reply, ReplyError,
    Request, RequestError, ECHO_MAX, ID_MAX, SENTINEL,
};
pub use parser::{parse_message, ParseError};
pub use stream::{Link, Service, Wait};
pub use writer::{format_g17, to_json, write_json, QemuFormatter};
