//! Opening the channel `-m`/`-p` name, serving it, and opening it again
//! after a failure when `-r` asks for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::activation::ActivatedSocket;
use crate::device::{pause, serve_device, DeviceChannel, DeviceEnd, DeviceKind};
use crate::method::Method;
use crate::serve::{serve_listener, Service};
use crate::stop::StopSignal;
use crate::unix::{ListenError, UnixChannel};
use crate::vsock::{BadVsockAddr, VsockAddr, VsockChannel, VsockPeers};

/// How long to wait before opening a channel again (QEMU's interval).
pub const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// Which channel to serve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelConfig {
    /// The kind of channel.
    pub method: Method,
    /// Device or socket path, or `<cid>:<port>` for vsock.
    pub path: PathBuf,
    /// Keep trying when the channel cannot be opened or fails (`-r`).
    pub retry: bool,
    /// Which peers a vsock channel accepts.
    pub vsock_peers: VsockPeers,
}

/// Why a channel could not be opened or stopped working.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The Unix socket could not be set up.
    #[error(transparent)]
    Listen(#[from] ListenError),
    /// The vsock address is malformed.
    #[error(transparent)]
    BadAddress(#[from] BadVsockAddr),
    /// The device or vsock socket could not be opened.
    #[error("failed to open channel {path}")]
    Open {
        /// The channel's path or address.
        path: String,
        /// The cause.
        #[source]
        source: rustix::io::Errno,
    },
    /// The channel failed while serving (the device went away).
    #[error("channel {path} failed")]
    Failed {
        /// The channel's path.
        path: String,
        /// The cause.
        #[source]
        source: rustix::io::Errno,
    },
}

/// An open channel.
#[derive(Debug)]
pub enum Channel {
    /// `unix-listen`.
    Unix(UnixChannel),
    /// `vsock-listen`.
    Vsock(VsockChannel),
    /// `virtio-serial` or `isa-serial`.
    Device(DeviceChannel),
    /// A listening socket handed over by systemd socket activation.
    Activated(ActivatedSocket),
}

fn display(path: &Path) -> String {
    path.display().to_string()
}

impl Channel {
    /// Opens the channel once.
    pub fn open(config: &ChannelConfig) -> Result<Channel, ChannelError> {
        let open_error = |source| ChannelError::Open {
            path: display(&config.path),
            source,
        };
        Ok(match config.method {
            Method::UnixListen => Channel::Unix(UnixChannel::bind(&config.path)?),
            Method::VsockListen => {
                let addr: VsockAddr = config.path.to_string_lossy().parse()?;
                Channel::Vsock(VsockChannel::bind(addr, config.vsock_peers.clone()).map_err(open_error)?)
            }
            Method::VirtioSerial => Channel::Device(
                DeviceChannel::open(&config.path, DeviceKind::VirtioSerial).map_err(open_error)?,
            ),
            Method::IsaSerial => {
                Channel::Device(DeviceChannel::open(&config.path, DeviceKind::IsaSerial).map_err(open_error)?)
            }
        })
    }

    /// Opens the channel, and with `retry` keeps trying every
    /// [`RETRY_INTERVAL`] (a device not plugged in yet). `None` if stopping
    /// was requested meanwhile.
    pub fn open_retrying(config: &ChannelConfig, stop: &StopSignal) -> Result<Option<Channel>, ChannelError> {
        loop {
            match Channel::open(config) {
                Ok(channel) => return Ok(Some(channel)),
                Err(e @ ChannelError::BadAddress(_)) => return Err(e),
                Err(e) if config.retry => {
                    log::warn!("{e}; trying again in {} s", RETRY_INTERVAL.as_secs());
                    if pause(stop, RETRY_INTERVAL) {
                        return Ok(None);
                    }
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Serves the channel until stopping is requested (`Ok`) or it fails.
    pub fn serve(&self, service: &mut dyn Service, stop: &StopSignal) -> Result<(), ChannelError> {
        let failed = |path: String, source| ChannelError::Failed { path, source };
        match self {
            Channel::Unix(unix) => {
                serve_listener(unix, service, stop).map_err(|e| failed(display(unix.path()), e))
            }
            Channel::Vsock(vsock) => {
                let addr = vsock.addr();
                serve_listener(vsock, service, stop)
                    .map_err(|e| failed(format!("{}:{}", addr.cid, addr.port), e))
            }
            Channel::Activated(socket) => {
                serve_listener(socket, service, stop).map_err(|e| failed("socket activation".into(), e))
            }
            Channel::Device(device) => match serve_device(device, service, stop) {
                DeviceEnd::Stopped => Ok(()),
                DeviceEnd::Failed(e) => Err(failed(display(device.path()), e)),
            },
        }
    }
}

/// Serves `channel` until stopping is requested. When it fails and
/// `config.retry` is set, it is closed, opened again (after
/// [`RETRY_INTERVAL`]) and served again, as QEMU's agent does after a device
/// hot-unplug. The channel stays the caller's: it is closed when the caller
/// drops it (for a Unix socket, that removes the socket file), so the caller
/// decides what comes first (the agent thaws filesystems, which may hold the
/// socket file, before it lets go of the channel). `None` on return if it
/// was closed for a retry and not opened again.
pub fn run_channel(
    config: &ChannelConfig,
    channel: &mut Option<Channel>,
    service: &mut dyn Service,
    stop: &StopSignal,
) -> Result<(), ChannelError> {
    loop {
        let Some(open) = channel.as_ref() else {
            return Ok(());
        };
        match open.serve(service, stop) {
            Ok(()) => return Ok(()),
            Err(e) if config.retry => {
                log::warn!("{e}; opening it again in {} s", RETRY_INTERVAL.as_secs());
                service.disconnected();
                *channel = None;
                if pause(stop, RETRY_INTERVAL) {
                    return Ok(());
                }
                *channel = Channel::open_retrying(config, stop)?;
            }
            Err(e) => return Err(e),
        }
    }
}
