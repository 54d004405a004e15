//! `guest-get-memory-blocks`, `guest-set-memory-blocks` and
//! `guest-get-memory-block-info` over `<sys>/devices/system/memory`.
//!
//! A block is online when its `state` starts with `online`; it can be taken
//! offline when its `removable` file says so. A block without a `state`
//! file (old kernels) is online for good. Setting reports, per block, one
//! of QEMU's response values and the `errno` behind it.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use qga_protocol::schema::{
    GuestMemoryBlock, GuestMemoryBlockInfo, GuestMemoryBlockResponse, GuestMemoryBlockResponseType,
    GuestSetMemoryBlocksArgs, NoArgs,
};
use qga_sys::scan::Scanner;
use qga_sys::sysfs::{open_attr, read_attr, write_attr, Access, AttrError};
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::agent::Agent;
use crate::config::SystemRoots;
use crate::error::{Call, CommandError};

/// `guest-get-memory-blocks`.
pub(crate) fn get(agent: &Agent, _: NoArgs) -> Result<Vec<GuestMemoryBlock>, CommandError> {
    get_memory_blocks(&agent.roots().sys)
}

/// `guest-set-memory-blocks`.
pub(crate) fn set(
    agent: &Agent,
    args: GuestSetMemoryBlocksArgs,
) -> Result<Vec<GuestMemoryBlockResponse>, CommandError> {
    Ok(set_memory_blocks(&agent.roots().sys, &args.mem_blks))
}

/// `guest-get-memory-block-info`.
pub(crate) fn info(agent: &Agent, _: NoArgs) -> Result<GuestMemoryBlockInfo, CommandError> {
    get_memory_block_info(&agent.roots().sys)
}

/// `<sys>/devices/system/memory/`, with QEMU's trailing slash.
fn memory_root(sys: &Path) -> String {
    SystemRoots::under(sys, "/devices/system/memory/")
}

/// The directory of block `index` (printed signed, as QEMU prints it).
fn block_dir(sys: &Path, index: u64) -> String {
    SystemRoots::under(sys, &format!("/devices/system/memory/memory{}/", index as i64))
}

/// A failed sysfs read or write: the error and the `errno` behind it (0
/// for a file that was empty).
#[derive(Debug)]
struct SysfsError {
    error: CommandError,
    errno: i32,
}

impl SysfsError {
    fn new(name: &str, error: AttrError) -> Self {
        let errno = error.errno().map_or(0, Errno::raw_os_error);
        let (call, cause) = Call::of_attr(error);
        SysfsError {
            error: CommandError::SysfsFile {
                call,
                name: name.to_string(),
                cause,
            },
            errno,
        }
    }
}

fn open_dir(path: &str) -> Result<OwnedFd, Errno> {
    rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Up to `size` bytes from the start of `dir/name`.
fn read_sysfs(dir: &OwnedFd, name: &str, size: usize) -> Result<Vec<u8>, SysfsError> {
    open_attr(dir, name, Access::Read)
        .and_then(|fd| read_attr(&fd, size))
        .map_err(|e| SysfsError::new(name, e))
}

/// Writes `data` at the start of `dir/name`.
fn write_sysfs(dir: &OwnedFd, name: &str, data: &[u8]) -> Result<(), SysfsError> {
    open_attr(dir, name, Access::Write)
        .and_then(|fd| write_attr(&fd, data))
        .map_err(|e| SysfsError::new(name, e))
}

fn is_online(state: &[u8]) -> bool {
    state.starts_with(b"online")
}

/// The state of block `index`.
fn read_block(sys: &Path, index: u64) -> Result<GuestMemoryBlock, CommandError> {
    let path = block_dir(sys, index);
    let dir = open_dir(&path).map_err(|e| CommandError::call(Call::Open, path.clone(), e))?;
    let state = match read_sysfs(&dir, "state", 10) {
        Ok(state) => state,
        Err(e) if e.errno == Errno::NOENT.raw_os_error() => {
            return Ok(GuestMemoryBlock {
                online: true,
                can_offline: Some(false),
                phys_index: index,
            })
        }
        Err(e) => return Err(e.error),
    };
    let can_offline = match read_sysfs(&dir, "removable", 1) {
        Ok(removable) => removable.first() != Some(&b'0'),
        Err(e) if e.errno == Errno::NOENT.raw_os_error() => false,
        Err(e) => return Err(e.error),
    };
    Ok(GuestMemoryBlock {
        online: is_online(&state),
        can_offline: Some(can_offline),
        phys_index: index,
    })
}

/// `guest-get-memory-blocks`: every `memoryN` directory, in directory
/// order. No memory directory at all is an empty list.
fn get_memory_blocks(sys: &Path) -> Result<Vec<GuestMemoryBlock>, CommandError> {
    let root = memory_root(sys);
    let entries = match std::fs::read_dir(&root) {
        Ok(entries) => entries,
        Err(e) if e.raw_os_error() == Some(Errno::NOENT.raw_os_error()) => return Ok(Vec::new()),
        Err(e) => return Err(CommandError::MemoryDirectory(root, e.into())),
    };
    let mut blocks = Vec::new();
    for entry in entries {
        // A failing directory read ends the listing, as in QEMU.
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        let Some(number) = OsStr::as_bytes(&name).strip_prefix(b"memory") else {
            continue;
        };
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let index = Scanner::new(number).unsigned_in(10).unwrap_or(0);
        blocks.push(read_block(sys, index)?);
    }
    if blocks.is_empty() {
        return Err(CommandError::NoMemoryBlocks);
    }
    Ok(blocks)
}

/// Applies one entry of `guest-set-memory-blocks`.
fn write_block(sys: &Path, block: &GuestMemoryBlock) -> GuestMemoryBlockResponse {
    use GuestMemoryBlockResponseType as R;
    let answer = |response, errno: i32| GuestMemoryBlockResponse {
        response,
        error_code: Some(i64::from(errno)),
        phys_index: block.phys_index,
    };
    if let Err(e) = open_dir(&memory_root(sys)) {
        // QEMU leaves the response at its default unless the memory
        // directory is missing altogether.
        let response = if e == Errno::NOENT {
            R::OperationNotSupported
        } else {
            R::Success
        };
        return answer(response, e.raw_os_error());
    }
    let dir = match open_dir(&block_dir(sys, block.phys_index)) {
        Ok(dir) => dir,
        Err(Errno::NOENT) => return answer(R::NotFound, Errno::NOENT.raw_os_error()),
        Err(e) => return answer(R::OperationFailed, e.raw_os_error()),
    };
    let state = match read_sysfs(&dir, "state", 10) {
        Ok(state) => state,
        Err(e) if e.errno == Errno::NOENT.raw_os_error() => {
            let response = if block.online {
                R::Success
            } else {
                R::OperationNotSupported
            };
            return answer(response, e.errno);
        }
        Err(e) => return answer(R::OperationFailed, e.errno),
    };
    if block.online != is_online(&state) {
        let wanted: &[u8] = if block.online { b"online" } else { b"offline" };
        if let Err(e) = write_sysfs(&dir, "state", wanted) {
            log::debug!("memory block {}: {}", block.phys_index, e.error);
            return answer(R::OperationFailed, e.errno);
        }
    }
    GuestMemoryBlockResponse {
        response: R::Success,
        error_code: None,
        phys_index: block.phys_index,
    }
}

/// `guest-set-memory-blocks`: one response per entry, in order.
fn set_memory_blocks(sys: &Path, blocks: &[GuestMemoryBlock]) -> Vec<GuestMemoryBlockResponse> {
    blocks.iter().map(|block| write_block(sys, block)).collect()
}

/// `guest-get-memory-block-info`: the size of a block, from the hexadecimal
/// `block_size_bytes`.
fn get_memory_block_info(sys: &Path) -> Result<GuestMemoryBlockInfo, CommandError> {
    let root = memory_root(sys);
    let dir = open_dir(&root).map_err(|e| CommandError::call(Call::Open, root.clone(), e))?;
    let text = read_sysfs(&dir, "block_size_bytes", 20).map_err(|e| e.error)?;
    let size = Scanner::new(&text).signed_in(16).unwrap_or(0);
    Ok(GuestMemoryBlockInfo { size: size as u64 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    use GuestMemoryBlockResponseType as R;

    fn block(index: u64, online: bool) -> GuestMemoryBlock {
        GuestMemoryBlock {
            online,
            can_offline: None,
            phys_index: index,
        }
    }

    fn response(index: u64, response: R, error_code: Option<i64>) -> GuestMemoryBlockResponse {
        GuestMemoryBlockResponse {
            response,
            error_code,
            phys_index: index,
        }
    }

    /// A fake `/sys` with memory0 (online, not removable), memory1
    /// (offline, removable), memory2 (no `state`: an old kernel) and
    /// memory3 (online, no `removable`).
    fn fake_sys() -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let mem = sys.path().join("devices/system/memory");
        for dir in ["memory0", "memory1", "memory2", "memory3", "power"] {
            fs::create_dir_all(mem.join(dir)).unwrap();
        }
        fs::write(mem.join("block_size_bytes"), "8000000\n").unwrap();
        fs::write(mem.join("memory_hotplug_file"), "x").unwrap();
        fs::write(mem.join("memory0/state"), "online\n").unwrap();
        fs::write(mem.join("memory0/removable"), "0\n").unwrap();
        fs::write(mem.join("memory1/state"), "offline\n").unwrap();
        fs::write(mem.join("memory1/removable"), "1\n").unwrap();
        fs::write(mem.join("memory3/state"), "online\n").unwrap();
        sys
    }

    fn state(sys: &Path, index: u64) -> String {
        fs::read_to_string(sys.join(format!("devices/system/memory/memory{index}/state"))).unwrap()
    }

    #[test]
    fn get_reports_every_block() {
        let sys = fake_sys();
        let mut got = get_memory_blocks(sys.path()).unwrap();
        got.sort_by_key(|b| b.phys_index);
        let expect = |phys_index, online, can_offline| GuestMemoryBlock {
            online,
            can_offline: Some(can_offline),
            phys_index,
        };
        assert_eq!(
            got,
            vec![
                expect(0, true, false),
                expect(1, false, true),
                expect(2, true, false),
                expect(3, true, false)
            ]
        );
    }

    #[test]
    fn get_errors_are_qemus() {
        let sys = tempfile::tempdir().unwrap();
        // No memory directory: nothing to report, no error.
        assert_eq!(get_memory_blocks(sys.path()).unwrap(), vec![]);
        let mem = sys.path().join("devices/system/memory");
        fs::create_dir_all(&mem).unwrap();
        assert_eq!(
            get_memory_blocks(sys.path()).unwrap_err().to_string(),
            "guest reported zero memory blocks!"
        );
        fs::create_dir_all(mem.join("memory5")).unwrap();
        fs::write(mem.join("memory5/state"), "").unwrap();
        assert_eq!(
            get_memory_blocks(sys.path()).unwrap_err().to_string(),
            "pread sysfs file \"state\": unexpected EOF"
        );
        let root = sys.path().display().to_string();
        assert_eq!(
            get_memory_block_info(sys.path()).unwrap_err().to_string(),
            "open sysfs file \"block_size_bytes\": No such file or directory"
        );
        fs::remove_dir_all(&mem).unwrap();
        assert_eq!(
            get_memory_block_info(sys.path()).unwrap_err().to_string(),
            format!("open(\"{root}/devices/system/memory/\"): No such file or directory")
        );
    }

    #[test]
    fn block_size_is_hexadecimal() {
        let sys = fake_sys();
        assert_eq!(get_memory_block_info(sys.path()).unwrap().size, 134_217_728);
    }

    #[test]
    fn set_answers_each_block() {
        let sys = fake_sys();
        let got = set_memory_blocks(
            sys.path(),
            &[
                block(1, true),
                block(0, true),
                block(7, false),
                block(2, false),
                block(2, true),
                block(3, false),
            ],
        );
        assert_eq!(
            got,
            vec![
                response(1, R::Success, None),
                response(0, R::Success, None),
                response(7, R::NotFound, Some(2)),
                response(2, R::OperationNotSupported, Some(2)),
                response(2, R::Success, Some(2)),
                response(3, R::Success, None),
            ]
        );
        // `online` written over `offline\n`.
        assert_eq!(state(sys.path(), 1), "onlinee\n");
        assert_eq!(state(sys.path(), 0), "online\n");
        assert_eq!(state(sys.path(), 3), "offline");
        assert_eq!(set_memory_blocks(sys.path(), &[]), vec![]);
    }

    #[test]
    fn set_without_memory_directory_is_not_supported() {
        let sys = tempfile::tempdir().unwrap();
        assert_eq!(
            set_memory_blocks(sys.path(), &[block(0, true)]),
            vec![response(0, R::OperationNotSupported, Some(2))]
        );
    }

    #[test]
    fn failed_writes_are_operation_failed() {
        let sys = fake_sys();
        // A directory where `state` should be: reading it fails with EISDIR.
        let mem = sys.path().join("devices/system/memory");
        fs::create_dir_all(mem.join("memory9/state")).unwrap();
        assert_eq!(
            set_memory_blocks(sys.path(), &[block(9, true)]),
            vec![response(
                9,
                R::OperationFailed,
                Some(Errno::ISDIR.raw_os_error().into())
            )]
        );
    }
}
