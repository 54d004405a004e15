//! Deciding which channel to serve (`-m`, `-p` and their defaults, or the
//! socket systemd hands over), opening it, serving it, and opening it again
//! after a failure when `-r` asks for it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qga_protocol::Service;

use crate::activation::ActivatedSocket;
use crate::device::{pause, serve_device, DeviceChannel, DeviceKind};
use crate::method::Method;
use crate::serve::{serve_listener, Ended};
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

/// The path a channel handed over by socket activation reads as (it has
/// none of its own), as with QEMU's agent.
const ACTIVATED_PATH: &str = "socket-activation";

impl ChannelConfig {
    /// The channel `method` and `path` name, the method's default path
    /// filled in when none is given ([`Method::path_or_default`]); a method
    /// without one needs a path. The path is taken as given: whoever reads
    /// the settings makes it absolute (a daemon changes to `/`).
    pub fn resolve(
        method: Method,
        path: Option<PathBuf>,
        retry: bool,
        vsock_peers: VsockPeers,
    ) -> Result<ChannelConfig, ChannelError> {
        Ok(ChannelConfig {
            method,
            path: method.path_or_default(path).ok_or(ChannelError::NoPath)?,
            retry,
            vsock_peers,
        })
    }

    /// The channel the agent serves: with socket activation (`activated`,
    /// as [`ActivatedSocket::from_environment`] finds it), the socket's
    /// method, with the path `socket-activation`, which only names it in
    /// messages (the configured method and path are then ignored, as with
    /// QEMU's agent); otherwise the channel the configured `method` and
    /// `path` name, as [`ChannelConfig::resolve`] resolves it.
    /// [`Channel::open_for`] then gives the channel to serve.
    pub fn resolve_with_activation(
        activated: Option<&ActivatedSocket>,
        method: Method,
        path: Option<PathBuf>,
        retry: bool,
        vsock_peers: VsockPeers,
    ) -> Result<ChannelConfig, ChannelError> {
        match activated.map(ActivatedSocket::method) {
            Some(method) => ChannelConfig::resolve(method, Some(ACTIVATED_PATH.into()), retry, vsock_peers),
            None => ChannelConfig::resolve(method, path, retry, vsock_peers),
        }
    }
}

/// Why a channel could not be decided on, opened, or kept working.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The method has no default path and none was given.
    #[error("must specify a path for this channel")]
    NoPath,
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

    /// The channel to serve for `config`: the socket socket activation
    /// handed over, if any (`activated`, for which `config` comes from
    /// [`ChannelConfig::resolve_with_activation`]), taken as it is, nothing
    /// opened, serving only `config.vsock_peers` if it is a vsock socket;
    /// otherwise the channel `config` names, opened as
    /// [`Channel::open_retrying`] opens it (`None` if stopping was
    /// requested meanwhile).
    pub fn open_for(
        config: &ChannelConfig,
        activated: Option<ActivatedSocket>,
        stop: &StopSignal,
    ) -> Result<Option<Channel>, ChannelError> {
        match activated {
            Some(socket) => Ok(Some(Channel::Activated(
                socket.with_vsock_peers(config.vsock_peers.clone()),
            ))),
            None => Channel::open_retrying(config, stop),
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
                Ended::Stopped => Ok(()),
                Ended::Failed(e) => Err(failed(display(device.path()), e)),
                // A device does not hang up: with no host it waits for one.
                Ended::HungUp => Err(failed(display(device.path()), rustix::io::Errno::PIPE)),
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

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;
    use std::os::unix::net::UnixListener;

    use super::*;

    /// The current directory of these tests.
    fn resolve(method: Method, path: Option<&str>) -> Result<ChannelConfig, ChannelError> {
        ChannelConfig::resolve(method, path.map(PathBuf::from), false, VsockPeers::default())
    }

    #[test]
    fn defaults_are_virtio_serial_and_each_methods_device() {
        let config = ChannelConfig::resolve(Method::default(), None, true, VsockPeers::Any)
            .expect("the default resolves");
        assert_eq!(
            config,
            ChannelConfig {
                method: Method::VirtioSerial,
                path: PathBuf::from("/dev/virtio-ports/org.qemu.guest_agent.0"),
                retry: true,
                vsock_peers: VsockPeers::Any,
            }
        );
        let config = resolve(Method::IsaSerial, None).unwrap();
        assert_eq!(config.path, Path::new("/dev/ttyS0"));
        // A path given wins over the default one.
        let config = resolve(Method::default(), Some("/dev/vport0p1")).unwrap();
        assert_eq!(
            (config.method, config.path.as_path()),
            (Method::VirtioSerial, Path::new("/dev/vport0p1"))
        );
    }

    #[test]
    fn listening_methods_need_a_path() {
        for method in [Method::UnixListen, Method::VsockListen] {
            let error = resolve(method, None).unwrap_err();
            assert!(matches!(error, ChannelError::NoPath), "{method}: {error:?}");
            assert_eq!(error.to_string(), "must specify a path for this channel");
        }
    }

    #[test]
    fn paths_are_taken_as_given() {
        let config = resolve(Method::UnixListen, Some("run/qga.sock")).unwrap();
        assert_eq!(config.path, Path::new("run/qga.sock"));
        let config = resolve(Method::VsockListen, Some("3:1234")).unwrap();
        assert_eq!(config.path, Path::new("3:1234"));
    }

    /// A listening Unix socket, handed over as if by systemd with `method`'s
    /// family.
    fn activated(dir: &Path, name: &str, method: Method) -> ActivatedSocket {
        let listener = UnixListener::bind(dir.join(name)).unwrap();
        ActivatedSocket::for_tests(OwnedFd::from(listener), method)
    }

    #[test]
    fn socket_activation_overrides_the_method_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let resolve = |socket: Option<&ActivatedSocket>, method: Method, path: Option<&str>| {
            ChannelConfig::resolve_with_activation(
                socket,
                method,
                path.map(PathBuf::from),
                true,
                VsockPeers::Any,
            )
        };
        let unix = activated(dir.path(), "unix", Method::UnixListen);
        // The configured method is ignored, and no path is needed.
        for (method, path) in [
            (Method::IsaSerial, Some("/x")),
            (Method::VsockListen, None),
            (Method::default(), None),
        ] {
            let config = resolve(Some(&unix), method, path).unwrap();
            assert_eq!(
                config,
                ChannelConfig {
                    method: Method::UnixListen,
                    path: PathBuf::from("socket-activation"),
                    retry: true,
                    vsock_peers: VsockPeers::Any,
                }
            );
        }
        let vsock = activated(dir.path(), "vsock", Method::VsockListen);
        let config = resolve(Some(&vsock), Method::UnixListen, Some("/x")).unwrap();
        assert_eq!(
            (config.method, config.path.as_path()),
            (Method::VsockListen, Path::new("socket-activation"))
        );
        // Without activation, the configuration decides.
        let config = resolve(None, Method::UnixListen, Some("sock")).unwrap();
        assert_eq!(
            (config.method, config.path.as_path()),
            (Method::UnixListen, Path::new("sock"))
        );
        let config = resolve(None, Method::default(), None).unwrap();
        assert_eq!(config.method, Method::VirtioSerial);
        assert!(matches!(
            resolve(None, Method::UnixListen, None),
            Err(ChannelError::NoPath)
        ));
    }

    #[test]
    fn an_activated_socket_is_served_as_handed_over() {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopSignal::new().unwrap();
        let socket = activated(dir.path(), "unix", Method::UnixListen);
        let config = ChannelConfig::resolve_with_activation(
            Some(&socket),
            Method::default(),
            None,
            false,
            VsockPeers::default(),
        )
        .unwrap();
        // Nothing is opened: no socket appears at the path.
        let channel = Channel::open_for(&config, Some(socket), &stop).unwrap();
        assert!(matches!(channel, Some(Channel::Activated(ref s)) if s.admits(3).is_none()));
        assert!(!dir.path().join(&config.path).exists());
        // A vsock socket serves the configured peers.
        let socket = activated(dir.path(), "vsock", Method::VsockListen);
        assert_eq!(socket.admits(3), Some(false));
        let config = ChannelConfig {
            vsock_peers: VsockPeers::Cids(vec![3]),
            ..config
        };
        let Some(Channel::Activated(socket)) = Channel::open_for(&config, Some(socket), &stop).unwrap()
        else {
            panic!("not the activated socket");
        };
        assert_eq!((socket.admits(3), socket.admits(2)), (Some(true), Some(false)));
    }

    #[test]
    fn without_activation_the_configured_channel_is_opened() {
        let dir = tempfile::tempdir().unwrap();
        let stop = StopSignal::new().unwrap();
        let config = ChannelConfig::resolve(
            Method::UnixListen,
            Some(dir.path().join("qga.sock")),
            false,
            VsockPeers::default(),
        )
        .unwrap();
        let channel = Channel::open_for(&config, None, &stop).unwrap();
        assert!(matches!(channel, Some(Channel::Unix(_))), "{channel:?}");
        assert!(dir.path().join("qga.sock").exists());
    }
}
