//! The `unix-listen` channel: a Unix stream socket, one host at a time.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::FileTypeExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

/// Why a listening socket could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// Another process is accepting connections on the path.
    #[error("socket {0} is in use by another process")]
    InUse(PathBuf),
    /// Something other than a socket is at the path; it is left alone.
    #[error("{0} exists and is not a socket")]
    NotASocket(PathBuf),
    /// The system refused.
    #[error("failed to listen on {path}")]
    Io {
        /// The socket path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

/// A listening Unix socket that removes its file when dropped.
#[derive(Debug)]
pub struct UnixChannel {
    listener: UnixListener,
    path: PathBuf,
}

impl UnixChannel {
    /// Listens on `path`. A socket file left by an agent that is gone is
    /// replaced; a live one, or a file that is not a socket, is an error.
    pub fn bind(path: &Path) -> Result<Self, ListenError> {
        let io_error = |source| ListenError::Io {
            path: path.to_path_buf(),
            source,
        };
        match std::fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_socket() => {
                if UnixStream::connect(path).is_ok() {
                    return Err(ListenError::InUse(path.to_path_buf()));
                }
                std::fs::remove_file(path).map_err(io_error)?;
            }
            Ok(_) => return Err(ListenError::NotASocket(path.to_path_buf())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(e)),
        }
        let listener = UnixListener::bind(path).map_err(io_error)?;
        // The agent runs commands as root: only its owner may connect.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io_error)?;
        listener.set_nonblocking(true).map_err(io_error)?;
        Ok(UnixChannel {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// The socket's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The listening socket.
    pub fn listener(&self) -> &UnixListener {
        &self.listener
    }
}

impl crate::serve::Listener for UnixChannel {
    fn listen_fd(&self) -> BorrowedFd<'_> {
        self.listener.as_fd()
    }

    fn accept(&self) -> rustix::io::Result<OwnedFd> {
        rustix::net::accept_with(
            &self.listener,
            rustix::net::SocketFlags::CLOEXEC | rustix::net::SocketFlags::NONBLOCK,
        )
    }
}

impl Drop for UnixChannel {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
