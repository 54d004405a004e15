//! `guest-file-open`, `-read`, `-write`, `-seek`, `-flush`, `-close`: file
//! access for the host through numbered handles.
//!
//! Files are opened with `open(2)` using the flags of the `fopen()` mode the
//! host names, plus `O_NOCTTY | O_NONBLOCK | O_CLOEXEC` (so a FIFO cannot
//! hang the agent and children never inherit the descriptor). A new file is
//! created exclusively, then `fchmod`-ed to 0666, so its permissions do not
//! depend on the agent's umask (as QEMU). Handles come from the persistent
//! counter in the state directory ([`PersistentState`]), never reused.
//!
//! The agent does no buffering of its own: reads and writes go straight to
//! the descriptor, so `guest-file-flush` has nothing to push and only checks
//! the handle, and a read after a write sees the written data.
//!
//! Bounds: at most [`MAX_HANDLES`] open handles; a read returns at most
//! [`READ_COUNT_MAX`] bytes (so its base64 fits QEMU's 64 MiB message
//! limit); a write carries at most what one request can (64 MiB of base64).

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, PoisonError};

use qga_protocol::schema::{
    Empty, GuestFileHandleArgs, GuestFileOpenArgs, GuestFileRead, GuestFileReadArgs, GuestFileSeek,
    GuestFileSeekArgs, GuestFileWhence, GuestFileWrite, GuestFileWriteArgs, QgaSeek,
};
use rustix::fs::{Mode, OFlags, SeekFrom};
use rustix::io::Errno;

use crate::base64_glib;
use crate::c_string::system_os_str;
use crate::error::CommandError;
use crate::state::PersistentState;

/// Bytes read when `guest-file-read` has no `count`.
pub const READ_COUNT_DEFAULT: i64 = 4096;
/// Most bytes one `guest-file-read` may ask for (QEMU's limit, 48 MiB).
pub const READ_COUNT_MAX: i64 = 48 << 20;
/// Most handles open at once.
pub const MAX_HANDLES: usize = 1024;

/// Permissions of files the agent creates.
const NEW_FILE_MODE: u32 = 0o666;

/// Permissions of files `guest-file-open` creates by default
/// (`file-create-mode`): no write permission for group and others.
pub const DEFAULT_CREATE_MODE: u32 = 0o644;

/// The open handles.
#[derive(Debug)]
pub struct FileTable {
    state: Arc<PersistentState>,
    handles: Mutex<HashMap<i64, Arc<Mutex<OwnedFd>>>>,
}

/// The `open(2)` access flags for an `fopen()` mode string.
fn mode_flags(mode: &str) -> Option<OFlags> {
    let create = OFlags::CREATE;
    Some(match mode {
        "r" | "rb" => OFlags::RDONLY,
        "w" | "wb" => OFlags::WRONLY | create | OFlags::TRUNC,
        "a" | "ab" => OFlags::WRONLY | create | OFlags::APPEND,
        "r+" | "rb+" | "r+b" => OFlags::RDWR,
        "w+" | "wb+" | "w+b" => OFlags::RDWR | create | OFlags::TRUNC,
        "a+" | "ab+" | "a+b" => OFlags::RDWR | create | OFlags::APPEND,
        _ => return None,
    })
}

fn invalid_count(count: i64) -> CommandError {
    CommandError::msg(format!("value '{count}' is invalid for argument count"))
}

impl FileTable {
    /// An empty table drawing handles from `state`.
    pub fn new(state: Arc<PersistentState>) -> Self {
        FileTable {
            state,
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
            .ok_or_else(|| CommandError::msg(format!("handle '{handle}' has not been found")))
    }

    /// How many handles are open.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    /// Whether no handle is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `guest-file-open`.
    pub fn open(&self, args: GuestFileOpenArgs) -> Result<i64, CommandError> {
        let mode = args.mode.as_deref().unwrap_or("r");
        let path = args.path.as_str();
        let Some(access) = mode_flags(mode) else {
            return Err(CommandError::msg(format!("invalid file open mode '{mode}'")));
        };
        if self.len() >= MAX_HANDLES {
            return Err(CommandError::msg(format!(
                "too many open files: at most {MAX_HANDLES} guest-file handles may be open"
            )));
        }
        let fd = open_or_create(path, mode, access)?;
        let handle = self.state.take_handle()?;
        self.table().insert(handle, Arc::new(Mutex::new(fd)));
        log::debug!("guest-file-open: '{path}' (mode '{mode}') is handle {handle}");
        Ok(handle)
    }

    /// `guest-file-close`.
    pub fn close(&self, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
        let removed = self.table().remove(&args.handle);
        match removed {
            Some(_) => Ok(Empty {}),
            None => Err(CommandError::msg(format!(
                "handle '{}' has not been found",
                args.handle
            ))),
        }
    }

    /// `guest-file-flush`: checks the handle; there is no buffer to flush.
    pub fn flush(&self, args: GuestFileHandleArgs) -> Result<Empty, CommandError> {
        self.find(args.handle).map(|_| Empty {})
    }

    /// `guest-file-read`.
    pub fn read(&self, args: GuestFileReadArgs) -> Result<GuestFileRead, CommandError> {
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
                Err(e) => return Err(CommandError::errno("failed to read file", e)),
            }
        }
        buf.truncate(got);
        Ok(GuestFileRead {
            count: got as i64,
            buf_b64: base64_glib::encode(&buf),
            eof,
        })
    }

    /// `guest-file-write`.
    pub fn write(&self, args: GuestFileWriteArgs) -> Result<GuestFileWrite, CommandError> {
        let file = self.find(args.handle)?;
        let data = base64_glib::decode(&args.buf_b64)?;
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
                Err(e) => return Err(CommandError::errno("failed to write to file", e)),
            }
        }
        Ok(GuestFileWrite {
            count: count as i64,
            eof: false,
        })
    }

    /// `guest-file-seek`.
    pub fn seek(&self, args: GuestFileSeekArgs) -> Result<GuestFileSeek, CommandError> {
        let file = self.find(args.handle)?;
        let whence = match args.whence {
            GuestFileWhence::Name(name) => name,
            GuestFileWhence::Value(0) => QgaSeek::Set,
            GuestFileWhence::Value(1) => QgaSeek::Cur,
            GuestFileWhence::Value(2) => QgaSeek::End,
            GuestFileWhence::Value(code) => {
                return Err(CommandError::msg(format!("invalid whence code {code}")));
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
            .map_err(|e| CommandError::errno("failed to seek file", e))?;
        Ok(GuestFileSeek {
            position: position as i64,
            eof: false,
        })
    }
}

/// Opens `path`; when the mode may create it, creates it exclusively first
/// so the new file's permissions can be set regardless of the umask.
fn open_or_create(path: &str, mode: &str, access: OFlags) -> Result<OwnedFd, CommandError> {
    let flags = access | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let open_error = |e| CommandError::errno(format!("failed to open file '{path}' (mode: '{mode}')"), e);
    let file = system_os_str(path);
    let file: &OsStr = file.as_ref();
    if !access.contains(OFlags::CREATE) {
        return rustix::fs::open(file, flags, Mode::empty()).map_err(open_error);
    }
    match rustix::fs::open(file, flags | OFlags::EXCL, Mode::empty()) {
        Ok(fd) => {
            if let Err(e) = rustix::fs::fchmod(&fd, Mode::from_raw_mode(NEW_FILE_MODE)) {
                drop(fd);
                let _ = std::fs::remove_file(file);
                return Err(CommandError::errno(
                    format!(
                        "failed to set permission 0{NEW_FILE_MODE:o} on new file '{path}' (mode: '{mode}')"
                    ),
                    e,
                ));
            }
            Ok(fd)
        }
        Err(Errno::EXIST) => {
            rustix::fs::open(file, flags - OFlags::CREATE, Mode::empty()).map_err(open_error)
        }
        Err(e) => Err(open_error(e)),
    }
}

#[cfg(test)]
mod tests;
