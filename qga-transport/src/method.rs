//! The channel kinds (`-m`), named as QEMU names them.

use std::fmt;
use std::str::FromStr;

/// How the agent reaches the host. The default, when neither the command
/// line nor the configuration file names one, is QEMU's: virtio-serial.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Method {
    /// A virtio-serial port: a character device that reports hang-up while
    /// no host is connected. The default method.
    #[default]
    VirtioSerial,
    /// A serial port (a tty), put in raw mode.
    IsaSerial,
    /// A Unix stream socket the agent listens on.
    UnixListen,
    /// A vsock port the agent listens on, given as `<cid>:<port>`.
    VsockListen,
}

/// A `-m` value QEMU does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported channel method/type: {0}")]
pub struct UnknownMethod(pub String);

impl Method {
    /// Every method, in QEMU's help order.
    pub const ALL: [Method; 4] = [
        Method::UnixListen,
        Method::VirtioSerial,
        Method::IsaSerial,
        Method::VsockListen,
    ];

    /// The method's name on the command line and in the config file.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::VirtioSerial => "virtio-serial",
            Method::IsaSerial => "isa-serial",
            Method::UnixListen => "unix-listen",
            Method::VsockListen => "vsock-listen",
        }
    }

    /// `path`, or the method's default device when none is given (for
    /// methods that have one).
    pub fn path_or_default(self, path: Option<std::path::PathBuf>) -> Option<std::path::PathBuf> {
        path.or_else(|| self.default_path().map(std::path::PathBuf::from))
    }

    /// The device used when no `-p` is given, for methods that have one.
    pub fn default_path(self) -> Option<&'static str> {
        match self {
            Method::VirtioSerial => Some("/dev/virtio-ports/org.qemu.guest_agent.0"),
            Method::IsaSerial => Some("/dev/ttyS0"),
            Method::UnixListen | Method::VsockListen => None,
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Method {
    type Err = UnknownMethod;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMethod(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_virtio_serial_with_its_port() {
        assert_eq!(Method::default(), Method::VirtioSerial);
        assert_eq!(Method::default().as_str(), "virtio-serial");
        assert_eq!(
            Method::default().default_path(),
            Some("/dev/virtio-ports/org.qemu.guest_agent.0")
        );
    }

    #[test]
    fn names_round_trip() {
        for m in Method::ALL {
            assert_eq!(m.as_str().parse::<Method>(), Ok(m));
        }
        assert_eq!(
            "bogus".parse::<Method>().unwrap_err().to_string(),
            "unsupported channel method/type: bogus"
        );
    }
}
