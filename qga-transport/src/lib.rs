//! The channels a QEMU Guest Agent serves its host on, and the loop that
//! serves them.
//!
//! A channel is a byte stream to the host: a virtio-serial port, a serial
//! port, or a listening Unix or vsock socket ([`Method`], [`Channel`]).
//! Serving waits on the channel and on a [`StopSignal`] with `poll`, feeds
//! what the host sends to a [`Service`](qga_protocol::Service) (a service
//! such as qapi-core's `Session`) and writes its replies back; when a host
//! goes away, the next one is served with the same agent state; with
//! `retry`, a channel that cannot be opened or fails is opened again
//! ([`run_channel`]).
#![deny(unsafe_code)]

mod activation;
mod channel;
mod device;
mod method;
mod serve;
mod stop;
mod sys;
mod unix;
mod vsock;

pub use activation::{ActivatedSocket, ActivationError};
pub use channel::{run_channel, Channel, ChannelConfig, ChannelError, RETRY_INTERVAL};
pub use device::{serve_device, DeviceChannel, DeviceKind, HOST_POLL_INTERVAL};
pub use method::{Method, UnknownMethod};
pub use serve::{serve_connection, serve_listener, Ended, Listener, READ_CHUNK};
pub use stop::StopSignal;
pub use unix::{ListenError, UnixChannel};
pub use vsock::{BadVsockAddr, BadVsockPeers, VsockAddr, VsockChannel, VsockPeers, HOST_CID};
