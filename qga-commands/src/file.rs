//! `guest-file-open`, `-read`, `-write`, `-seek`, `-flush`, `-close`: file
//! access for the host through numbered handles.
//!
//! Every descriptor is opened with `O_NOCTTY | O_NONBLOCK | O_CLOEXEC`, so
//! a FIFO or terminal cannot hang the agent or become its terminal, and
//! children never inherit it. Handles come from the persistent counter in
//! the state directory ([`PersistentState`]), never reused.
//!
//! How a file is opened depends on the `fopen()` mode the host names:
//!
//! - `r`, `rb`: the kernel's `open(2)`, read-only, following symbolic links
//!   anywhere (`/etc/resolv.conf` is often one). The host is as mighty as
//!   root, so what it reads leaks nothing a guest user could use.
//! - Every other mode writes, and goes through [`resolve`]: the path is
//!   walked one component at a time with `openat(O_PATH | O_NOFOLLOW)`,
//!   `fstat` and `readlinkat`, and in sticky world-writable directories
//!   (`/tmp`) the kernel's `protected_symlinks`, `protected_regular` and
//!   `protected_fifos` rules are applied whatever the sysctls say, plus a
//!   refusal of hard-linked files: a guest user's symbolic link, FIFO,
//!   hard link or file planted there is never written through. A file is
//!   emptied (`w`, `w+`) with `ftruncate` only once it passed the checks,
//!   never by `O_TRUNC`.
//!
//! What this does not guarantee: a directory a user owns and that is not
//! sticky (a home directory, or one the user made inside `/tmp`) is that
//! user's, and a write there follows the user's symbolic links as the
//! kernel's open would; world-writable directories without the sticky bit
//! get no special rules (the kernel's have none either); reads follow
//! every link.
//!
//! A new file is created with `O_CREAT | O_EXCL` and mode 0600, then
//! `fchmod`-ed to `file-create-mode` (`AgentConfig::DEFAULT_CREATE_MODE`,
//! 0644: QEMU's agent uses 0666), so its permissions do not depend on the agent's umask
//! and no one else can open it before they are set. An existing file keeps
//! its permissions.
//!
//! Errors read as QEMU's: `failed to open file '<path>' (mode: '<mode>'):
//! <strerror>`, with the kernel's own error wherever its `open` would fail
//! too; a refusal adds its reason after `Permission denied`. Host text
//! quoted in an error is cut to 1 KiB ([`qapi_core::echo`]).
//!
//! The agent does no buffering of its own: reads and writes go straight to
//! the descriptor, so `guest-file-flush` has nothing to push and only checks
//! the handle, and a read after a write sees the written data.
//!
//! Bounds: at most [`MAX_HANDLES`] open handles; a read returns at most
//! [`READ_COUNT_MAX`] bytes (so its base64 fits QEMU's 64 MiB message
//! limit); a write carries at most what one request can (64 MiB of base64).

mod resolve;

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::{Arc, Mutex, PoisonError};

use qga_protocol::schema::{
    Empty, GuestFileHandleArgs, GuestFileOpenArgs, GuestFileRead, GuestFileReadArgs, GuestFileSeek,
    GuestFileSeekArgs, GuestFileWhence, GuestFileWrite, GuestFileWriteArgs, QgaSeek,
};
use qga_sys::base64;
use qga_sys::mutf8::system_bytes;
use rustix::fs::{Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use crate::agent::Agent;
use crate::error::CommandError;
use crate::state::PersistentState;

pub(crate) use self::resolve::Refusal;
use self::resolve::{OpenError, WriteOpen};

/// Bytes read when `guest-file-read` has no `count`.
const READ_COUNT_DEFAULT: i64 = 4096;
/// Most bytes one `guest-file-read` may ask for (QEMU's limit, 48 MiB).
const READ_COUNT_MAX: i64 = 48 << 20;
/// Most handles open at once.
pub(crate) const MAX_HANDLES: usize = 1024;

/// `guest-file-open`.
pub(crate) fn open(agent: &Agent, args: GuestFileOpenArgs) -> Result<i64, CommandError> {
    agent.files().open(args)
}

/// `guest-file-close`.
pub(crate) fn close(agent: &Agent, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
    agent.files().close(args)
}

/// `guest-file-read`.
pub(crate) fn read(agent: &Agent, args: GuestFileReadArgs) -> Result<GuestFileRead, CommandError> {
    agent.files().read(args)
}

/// `guest-file-write`.
pub(crate) fn write(agent: &Agent, args: GuestFileWriteArgs) -> Result<GuestFileWrite, CommandError> {
    agent.files().write(args)
}

/// `guest-file-seek`.
pub(crate) fn seek(agent: &Agent, args: GuestFileSeekArgs) -> Result<GuestFileSeek, CommandError> {
    agent.files().seek(args)
}

/// `guest-file-flush`.
pub(crate) fn flush(agent: &Agent, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
    agent.files().flush(args)
}

/// The open handles.
#[derive(Debug)]
pub(crate) struct FileTable {
    state: Arc<PersistentState>,
    create_mode: u32,
    handles: Mutex<HashMap<i64, Arc<Mutex<OwnedFd>>>>,
}

/// What an `fopen()` mode string asks of `open(2)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    /// `r`, `rb`.
    Read,
    /// Every other mode: the access flags (`O_WRONLY` or `O_RDWR`, with
    /// `O_APPEND`), whether it creates and whether it truncates.
    Write {
        flags: OFlags,
        create: bool,
        truncate: bool,
    },
}

/// The access an `fopen()` mode string names.
fn parse_mode(mode: &str) -> Option<Access> {
    let write = |flags, create, truncate| Access::Write {
        flags,
        create,
        truncate,
    };
    Some(match mode {
        "r" | "rb" => Access::Read,
        "w" | "wb" => write(OFlags::WRONLY, true, true),
        "a" | "ab" => write(OFlags::WRONLY | OFlags::APPEND, true, false),
        "r+" | "rb+" | "r+b" => write(OFlags::RDWR, false, false),
        "w+" | "wb+" | "w+b" => write(OFlags::RDWR, true, true),
        "a+" | "ab+" | "a+b" => write(OFlags::RDWR | OFlags::APPEND, true, false),
        _ => return None,
    })
}

fn invalid_count(count: i64) -> CommandError {
    CommandError::InvalidCount(count)
}

impl FileTable {
    /// An empty table drawing handles from `state`; files it creates get
    /// the permissions `create_mode` (`file-create-mode`; only its
    /// permission bits count).
    pub(crate) fn new(state: Arc<PersistentState>, create_mode: u32) -> Self {
        FileTable {
            state,
            create_mode: create_mode & 0o777,
            handles: Mutex::new(HashMap::new()),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<Mutex<OwnedFd>>>> {
        self.handles.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find(&self, handle: i64) -> Result<Arc<Mutex<OwnedFd>>, CommandError> {
        self.table()
            .get(&handle)
            .cloned()
            .ok_or(CommandError::HandleNotFound(handle))
    }

    /// How many handles are open.
    pub(crate) fn len(&self) -> usize {
        self.table().len()
    }

    /// `guest-file-open`.
    fn open(&self, args: GuestFileOpenArgs) -> Result<i64, CommandError> {
        let mode = args.mode.as_deref().unwrap_or("r");
        let path = args.path.as_str();
        let Some(access) = parse_mode(mode) else {
            return Err(CommandError::InvalidOpenMode(mode.to_string()));
        };
        if self.len() >= MAX_HANDLES {
            return Err(CommandError::TooManyHandles);
        }
        let fd = open_file(path, mode, access, self.create_mode)?;
        let handle = self.state.take_handle()?;
        self.table().insert(handle, Arc::new(Mutex::new(fd)));
        log::debug!(
            "guest-file-open: '{}' (mode '{mode}') is handle {handle}",
            qapi_core::echo(path)
        );
        Ok(handle)
    }

    /// `guest-file-close`.
    fn close(&self, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
        let removed = self.table().remove(&args.handle);
        match removed {
            Some(_) => Ok(Empty {}),
            None => Err(CommandError::HandleNotFound(args.handle)),
        }
    }

    /// `guest-file-flush`: checks the handle; there is no buffer to flush.
    fn flush(&self, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
        self.find(args.handle).map(|_| Empty {})
    }

    /// `guest-file-read`.
    fn read(&self, args: GuestFileReadArgs) -> Result<GuestFileRead, CommandError> {
        let file = self.find(args.handle)?;
        let count = args.count.unwrap_or(READ_COUNT_DEFAULT);
        if !(0..=READ_COUNT_MAX).contains(&count) {
            return Err(invalid_count(count));
        }
        let fd = file.lock().unwrap_or_else(PoisonError::into_inner);
        let mut buf = vec![0u8; count as usize];
        let mut got = 0;
        let mut eof = false;
        while got < buf.len() {
            match rustix::io::read(&*fd, &mut buf[got..]) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(n) => got += n,
                Err(Errno::INTR) => {}
                // Nothing more for now from a pipe or device: hand over
                // what there is.
                Err(Errno::AGAIN) if got > 0 => break,
                Err(e) => return Err(CommandError::ReadFile(e)),
            }
        }
        buf.truncate(got);
        Ok(GuestFileRead {
            count: got as i64,
            buf_b64: base64::encode(&buf),
            eof,
        })
    }

    /// `guest-file-write`.
    fn write(&self, args: GuestFileWriteArgs) -> Result<GuestFileWrite, CommandError> {
        let file = self.find(args.handle)?;
        let data = base64::decode(&args.buf_b64)?;
        let count = match args.count {
            None => data.len(),
            Some(c) if c < 0 || c as u64 > data.len() as u64 => return Err(invalid_count(c)),
            Some(c) => c as usize,
        };
        let fd = file.lock().unwrap_or_else(PoisonError::into_inner);
        let mut rest = &data[..count];
        while !rest.is_empty() {
            match rustix::io::write(&*fd, rest) {
                Ok(n) => rest = &rest[n..],
                Err(Errno::INTR) => {}
                Err(e) => return Err(CommandError::WriteFile(e)),
            }
        }
        Ok(GuestFileWrite {
            count: count as i64,
            eof: false,
        })
    }

    /// `guest-file-seek`.
    fn seek(&self, args: GuestFileSeekArgs) -> Result<GuestFileSeek, CommandError> {
        let file = self.find(args.handle)?;
        let whence = match args.whence {
            GuestFileWhence::Name(name) => name,
            GuestFileWhence::Value(0) => QgaSeek::Set,
            GuestFileWhence::Value(1) => QgaSeek::Cur,
            GuestFileWhence::Value(2) => QgaSeek::End,
            GuestFileWhence::Value(code) => {
                return Err(CommandError::InvalidWhence(code));
            }
        };
        let target = match whence {
            QgaSeek::Set => u64::try_from(args.offset)
                .map(SeekFrom::Start)
                .map_err(|_| Errno::INVAL),
            QgaSeek::Cur => Ok(SeekFrom::Current(args.offset)),
            QgaSeek::End => Ok(SeekFrom::End(args.offset)),
        };
        let fd = file.lock().unwrap_or_else(PoisonError::into_inner);
        let position = target
            .and_then(|target| rustix::fs::seek(&*fd, target))
            .map_err(CommandError::SeekFile)?;
        Ok(GuestFileSeek {
            position: position as i64,
            eof: false,
        })
    }
}

/// Opens `path` for `access` (see the module's documentation); new files
/// get `create_mode`.
fn open_file(path: &str, mode: &str, access: Access, create_mode: u32) -> Result<OwnedFd, CommandError> {
    let failed = |errno| CommandError::OpenFile {
        path: path.to_string(),
        mode: mode.to_string(),
        errno,
    };
    let file = system_bytes(path);
    let (flags, create, truncate) = match access {
        Access::Read => {
            let flags = OFlags::RDONLY | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
            return rustix::fs::open(OsStr::from_bytes(&file), flags, Mode::empty()).map_err(failed);
        }
        Access::Write {
            flags,
            create,
            truncate,
        } => (flags, create, truncate),
    };
    let how = WriteOpen {
        access: flags,
        create,
        truncate,
        create_mode: Mode::from_raw_mode(create_mode),
    };
    resolve::open_for_write(&file, how).map_err(|e| match e {
        OpenError::Sys(e) => failed(e),
        OpenError::Refused(why) => {
            let error = CommandError::OpenRefused {
                path: path.to_string(),
                mode: mode.to_string(),
                why,
            };
            log::warn!("guest-file-open: refused: {error}");
            error
        }
        OpenError::Chmod(errno) => CommandError::CreateMode {
            path: path.to_string(),
            mode: mode.to_string(),
            create_mode,
            errno,
        },
    })
}

#[cfg(test)]
mod tests;
