//! The channels a QEMU Guest Agent serves its host on, and the loop that
//! serves them.
//!
//! A channel is a byte stream to the host: a virtio-serial port, a serial
//! port, or a listening Unix or vsock socket. [`serve_unix`] and
//! [`serve_connection`] wait on the channel and on a [`StopSignal`] with
//! `poll`, feed what the host sends to a [`Service`] (normally a
//! [`qapi_core::Session`]) and write its replies back; when a host hangs
//! up, the next one is served with the same agent state.
#![forbid(unsafe_code)]

mod method;
mod serve;
mod stop;
mod unix;

pub use method::{Method, UnknownMethod};
pub use serve::{serve_connection, serve_unix, Ended, Service, READ_CHUNK};
pub use stop::StopSignal;
pub use unix::{ListenError, UnixChannel};
