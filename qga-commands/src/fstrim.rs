//! `guest-fstrim`: discard the unused blocks of every mounted local
//! filesystem, with the kernel's `FITRIM` ioctl on each mount point.
//!
//! The mounts are the device-backed ones of the agent's mount table
//! (`proc/self/mountinfo`, see `qga_sys::mountinfo::Mount::device`), as
//! for freezing. Each gets an entry, newest mount first as QEMU lists them: the
//! minimum extent length the kernel applied and the bytes it trimmed, or
//! why it could not: `failed to open: REASON`, `trim not supported`
//! (`ENOTTY`, `EOPNOTSUPP`) or `failed to trim: REASON`. Only an unreadable
//! mount table fails the command.

use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use qga_protocol::schema::{GuestFilesystemTrimResponse, GuestFilesystemTrimResult, GuestFstrimArgs};
use qga_sys::fs::{trim_fs, FstrimRange};
use rustix::io::Errno;

use crate::agent::Agent;
use crate::error::{CommandError, TrimFailure};
use crate::fsfreeze::device_mounts;

/// `guest-fstrim`.
pub(crate) fn fstrim(
    agent: &Agent,
    args: GuestFstrimArgs,
) -> Result<GuestFilesystemTrimResponse, CommandError> {
    trim_all(&agent.roots().mountinfo(), args.minimum)
}

/// Trims every device-backed filesystem listed in `mountinfo`, discarding
/// only free extents of at least `minimum` bytes (0: the filesystem's own
/// minimum).
fn trim_all(mountinfo: &Path, minimum: Option<i64>) -> Result<GuestFilesystemTrimResponse, CommandError> {
    log::info!("guest-fstrim called");
    let paths = device_mounts(mountinfo)?
        .iter()
        .rev()
        .map(|mount| trim_one(&mount.dir, minimum.unwrap_or(0)))
        .collect();
    Ok(GuestFilesystemTrimResponse { paths })
}

/// Trims the filesystem mounted at `dir`.
fn trim_one(dir: &str, minimum: i64) -> GuestFilesystemTrimResult {
    let mut result = GuestFilesystemTrimResult {
        minimum: None,
        path: dir.to_string(),
        trimmed: None,
        error: None,
    };
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(dir);
    let file: File = match opened {
        Ok(file) => file,
        Err(e) => {
            result.error = Some(TrimFailure::Open(e.into()).to_string());
            return result;
        }
    };
    // The whole filesystem; a negative minimum reaches the kernel as the
    // same bits, as in QEMU, and is refused there.
    let mut range = FstrimRange {
        start: 0,
        len: u64::MAX,
        minlen: minimum as u64,
    };
    match trim_fs(&file, &mut range) {
        Ok(()) => {
            result.minimum = Some(range.minlen as i64);
            result.trimmed = Some(range.len as i64);
        }
        Err(Errno::NOTTY | Errno::OPNOTSUPP) => result.error = Some(TrimFailure::NotSupported.to_string()),
        Err(e) => result.error = Some(TrimFailure::Trim(e).to_string()),
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::LoopFs;

    #[test]
    fn unreadable_mount_table_fails_the_command() {
        let error = trim_all(Path::new("/nonexistent/mountinfo"), None).unwrap_err();
        assert_eq!(
            error.to_string(),
            "failed to read /nonexistent/mountinfo: No such file or directory"
        );
    }

    #[test]
    fn per_path_errors_do_not_fail_the_command() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("mountinfo");
        // A device-backed mount whose directory does not exist, and one
        // (a pipe device's directory) that is no filesystem to trim.
        std::fs::write(
            &table,
            "30 1 7:0 / /nonexistent/mnt rw - ext4 /dev/loop0 rw\n\
             31 1 0:5 / /proc rw - proc proc rw\n\
             32 1 1:3 / /dev/null rw - ext4 /dev/x rw\n",
        )
        .unwrap();
        let response = trim_all(&table, None).unwrap();
        let paths: Vec<_> = response.paths.iter().map(|p| p.path.as_str()).collect();
        // Newest mount first; the proc mount (major 0) is left out.
        assert_eq!(paths, ["/dev/null", "/nonexistent/mnt"]);
        assert_eq!(
            response.paths[1].error.as_deref(),
            Some("failed to open: No such file or directory")
        );
        assert_eq!(response.paths[0].error.as_deref(), Some("trim not supported"));
        assert!(response
            .paths
            .iter()
            .all(|p| p.trimmed.is_none() && p.minimum.is_none()));
    }

    #[test]
    fn trims_a_loop_mounted_ext4() {
        let Some(fs) = LoopFs::new() else { return };
        // Free blocks to trim: write then delete a file.
        let file = Path::new(&fs.mnt()).join("junk");
        std::fs::write(&file, vec![0x5a; 4 << 20]).unwrap();
        std::fs::remove_file(&file).unwrap();
        let table = fs.mountinfo("");
        let response = trim_all(&table, Some(4096)).unwrap();
        assert_eq!(response.paths.len(), 1, "{response:?}");
        let result = &response.paths[0];
        assert_eq!(result.path, fs.mnt());
        // Loop devices discard by punching holes in their backing file.
        assert_eq!(result.error, None);
        assert!(result.minimum.is_some_and(|m| m >= 4096), "{result:?}");
        assert!(result.trimmed.is_some_and(|t| t > 0), "{result:?}");
        let bad = trim_all(&table, Some(-1)).unwrap();
        assert_eq!(
            bad.paths[0].error.as_deref(),
            Some("failed to trim: Invalid argument")
        );
    }
}
