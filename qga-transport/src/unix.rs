//! The `unix-listen` channel: a Unix stream socket, one host at a time.
//!
//! The agent runs commands as root, so only its owner may connect, from
//! the first instant: the socket is bound in a private directory (mode
//! 0700) made beside its path, made 0600 there, and only then renamed onto
//! its path, never replacing anything. The process umask is left alone
//! (other threads may be creating files or starting programs meanwhile).

use std::ffi::{OsStr, OsString};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use qga_sys::fs::{create_fresh, unpredictable_name};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};

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

/// The name of the socket inside its private directory.
const INNER: &str = "s";

/// A listening Unix socket that removes its file when dropped.
#[derive(Debug)]
pub struct UnixChannel {
    listener: UnixListener,
    path: PathBuf,
    /// The directory holding the socket file, and the file's name there.
    dir: OwnedFd,
    name: OsString,
    /// The socket file's device and inode, so that only it is removed.
    file_id: (u64, u64),
}

/// A directory only this process's user can enter, made beside the socket
/// path; removed with what is left in it when dropped.
struct PrivateDir<'a> {
    parent: &'a OwnedFd,
    name: OsString,
    fd: OwnedFd,
}

impl<'a> PrivateDir<'a> {
    fn create(parent: &'a OwnedFd) -> rustix::io::Result<PrivateDir<'a>> {
        let (name, ()) = create_fresh(
            || unpredictable_name(OsStr::new("qga")),
            |name| rustix::fs::mkdirat(parent, name, Mode::RWXU),
        )
        .map_err(|e| e.errno)?;
        let opened = rustix::fs::openat(
            parent,
            name.as_os_str(),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let fd = match opened {
            Ok(fd) => fd,
            Err(e) => {
                let _ = rustix::fs::unlinkat(parent, name.as_os_str(), AtFlags::REMOVEDIR);
                return Err(e);
            }
        };
        let dir = PrivateDir { parent, name, fd };
        // Someone who can write the parent could have put a directory of
        // their own in its place: use only the one made here.
        let stat = rustix::fs::fstat(&dir.fd)?;
        if stat.st_uid != rustix::process::geteuid().as_raw() || stat.st_mode & 0o077 != 0 {
            return Err(Errno::PERM);
        }
        Ok(dir)
    }

    /// A socket address naming `name` in this directory, short enough for
    /// `sun_path` (107 bytes) whatever the directory's path.
    fn address(&self, parent_path: &Path, name: &str) -> rustix::io::Result<SocketAddrUnix> {
        let via_fd = format!("/proc/self/fd/{}/{name}", self.fd.as_raw_fd());
        if Path::new("/proc/self/fd").is_dir() {
            return SocketAddrUnix::new(via_fd);
        }
        SocketAddrUnix::new(parent_path.join(&self.name).join(name))
    }
}

impl Drop for PrivateDir<'_> {
    fn drop(&mut self) {
        let _ = rustix::fs::unlinkat(&self.fd, INNER, AtFlags::empty());
        let _ = rustix::fs::unlinkat(self.parent, self.name.as_os_str(), AtFlags::REMOVEDIR);
    }
}

/// The directory part of `path` (`.` for a bare name) and its last
/// component.
fn split(path: &Path) -> Option<(&Path, &OsStr)> {
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    Some((dir, name))
}

/// Device and inode of the entry `name` in `dir`, not following a symlink.
fn file_id(dir: &OwnedFd, name: &OsStr) -> rustix::io::Result<(u64, u64)> {
    let stat = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    Ok((stat.st_dev, stat.st_ino))
}

impl UnixChannel {
    /// Listens on `path`, reachable by this process's user only (mode
    /// 0600). A socket file left by an agent that is gone is replaced; a
    /// live one, or a file that is not a socket, is an error.
    pub fn bind(path: &Path) -> Result<Self, ListenError> {
        let io_error = |source| ListenError::Io {
            path: path.to_path_buf(),
            source,
        };
        let errno = |e: Errno| io_error(io::Error::from(e));
        let Some((dir_path, name)) = split(path) else {
            return Err(errno(Errno::INVAL));
        };
        let dir = rustix::fs::open(
            dir_path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno)?;
        match rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) if FileType::from_raw_mode(stat.st_mode) == FileType::Socket => {
                if UnixStream::connect(path).is_ok() {
                    return Err(ListenError::InUse(path.to_path_buf()));
                }
                match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => {}
                    Err(e) => return Err(errno(e)),
                }
            }
            Ok(_) => return Err(ListenError::NotASocket(path.to_path_buf())),
            Err(Errno::NOENT) => {}
            Err(e) => return Err(errno(e)),
        }

        let private = PrivateDir::create(&dir).map_err(errno)?;
        let fd = rustix::net::socket_with(
            AddressFamily::UNIX,
            SocketType::STREAM,
            SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
            None,
        )
        .map_err(errno)?;
        let address = private.address(dir_path, INNER).map_err(errno)?;
        rustix::net::bind(&fd, &address).map_err(errno)?;
        rustix::net::listen(&fd, 1).map_err(errno)?;
        rustix::fs::chmodat(&private.fd, INNER, Mode::RUSR | Mode::WUSR, AtFlags::empty()).map_err(errno)?;
        match rustix::fs::renameat_with(&private.fd, INNER, &dir, name, RenameFlags::NOREPLACE) {
            Ok(()) => {}
            // Another process put something there meanwhile.
            Err(Errno::EXIST) => return Err(ListenError::InUse(path.to_path_buf())),
            // A filesystem without RENAME_NOREPLACE: a hard link never
            // replaces either.
            Err(Errno::INVAL) => match rustix::fs::linkat(&private.fd, INNER, &dir, name, AtFlags::empty()) {
                Ok(()) => {}
                Err(Errno::EXIST) => return Err(ListenError::InUse(path.to_path_buf())),
                Err(e) => return Err(errno(e)),
            },
            Err(e) => return Err(errno(e)),
        }
        drop(private);
        let file_id = file_id(&dir, name).map_err(errno)?;
        Ok(UnixChannel {
            listener: UnixListener::from(fd),
            path: path.to_path_buf(),
            dir,
            name: name.to_os_string(),
            file_id,
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
        rustix::net::accept_with(&self.listener, SocketFlags::CLOEXEC | SocketFlags::NONBLOCK)
    }
}

impl Drop for UnixChannel {
    /// Removes the socket file, if it is still this socket's.
    fn drop(&mut self) {
        if file_id(&self.dir, &self.name).is_ok_and(|id| id == self.file_id) {
            let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};

    fn mode(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_socket_is_0600_serves_and_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let channel = UnixChannel::bind(&path).unwrap();
        assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_socket());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(dir.path()), ["sock"], "the private directory is gone");
        let _client = UnixStream::connect(&path).unwrap();
        assert!(crate::serve::Listener::accept(&channel).is_ok());
        drop(channel);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn a_long_path_beyond_sun_path_still_binds() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("d".repeat(100));
        std::fs::create_dir(&deep).unwrap();
        let path = deep.join("sock");
        assert!(path.as_os_str().len() > 108);
        let channel = UnixChannel::bind(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(entries(&deep), ["sock"]);
        drop(channel);
        assert!(entries(&deep).is_empty());
    }

    #[test]
    fn stale_sockets_are_replaced_live_ones_and_other_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        drop(UnixListener::bind(&path).unwrap());
        let channel = UnixChannel::bind(&path).unwrap();
        assert!(matches!(UnixChannel::bind(&path), Err(ListenError::InUse(_))));
        assert!(UnixStream::connect(&path).is_ok(), "the live socket was touched");
        drop(channel);

        let file = dir.path().join("file");
        std::fs::write(&file, "keep").unwrap();
        assert!(matches!(
            UnixChannel::bind(&file),
            Err(ListenError::NotASocket(_))
        ));
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert!(matches!(
            UnixChannel::bind(&link),
            Err(ListenError::NotASocket(_))
        ));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
        assert_eq!(entries(dir.path()), ["file", "link"]);
    }

    #[test]
    fn a_socket_replaced_meanwhile_is_not_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sock");
        let channel = UnixChannel::bind(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let other = UnixListener::bind(&path).unwrap();
        drop(channel);
        assert!(path.exists(), "another process's socket was removed");
        drop(other);
    }
}
