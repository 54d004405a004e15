//! `guest-fsfreeze-status`, `-freeze`, `-freeze-list`, `-thaw`: freezing
//! filesystems for consistent snapshots, with the kernel's `FIFREEZE` and
//! `FITHAW` ioctls on each mount point.
//!
//! Freezing runs the hook (`-F`) with `freeze`, lists the device-backed
//! mounts (`/proc/self/mountinfo`), enters the frozen state (only the
//! freeze-safe commands stay enabled, logging stops, `qga.state.isfrozen`
//! is written) *before* the first ioctl, so the agent never writes to a
//! frozen filesystem, then freezes the mounts in reverse mount order.
//! Mounts that cannot be frozen (`EOPNOTSUPP`) or are frozen already
//! through another mount of the same filesystem (`EBUSY`) are skipped and
//! not counted. Any other failure thaws everything and is returned. If
//! nothing was frozen the agent leaves the frozen state again.
//!
//! Thawing repeats `FITHAW` on every mount until it fails (freezes nest),
//! counts each mount thawed at least once, leaves the frozen state and runs
//! the hook with `thaw`.
//!
//! Freeze and thaw are serialized: a thaw that arrives while a freeze is
//! still running (one that overran its deadline, say) waits for it, so the
//! agent's state always ends up matching the kernel's.

use std::ffi::OsStr;
use std::fs::File;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use qapi_core::Registry;
use qga_protocol::schema::GuestFsfreezeStatus;
use rustix::io::Errno;

use crate::error::CommandError;
use crate::mounts::{device_mounts, Mount};
use crate::run::run_command;
use crate::state::FrozenMarker;
use crate::sys;

/// How long the fsfreeze hook may run by default (`fsfreeze-hook-timeout`).
pub const DEFAULT_HOOK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// How long after a freeze the agent thaws by itself by default when no
/// thaw comes (`fsfreeze-timeout`).
pub const DEFAULT_AUTO_THAW: std::time::Duration = std::time::Duration::from_secs(600);

/// Freezes and thaws filesystems and tracks the frozen state.
#[derive(Debug)]
pub struct Freezer {
    hook: Option<PathBuf>,
    mountinfo: PathBuf,
    marker: FrozenMarker,
    serial: Mutex<()>,
}

impl Freezer {
    /// A freezer running `hook` (if any), listing mounts from `mountinfo`
    /// and recording the frozen state with `marker`.
    pub fn new(hook: Option<PathBuf>, mountinfo: PathBuf, marker: FrozenMarker) -> Self {
        Freezer {
            hook,
            mountinfo,
            marker,
            serial: Mutex::new(()),
        }
    }

    /// `guest-fsfreeze-status`: the agent's own record.
    pub fn status(&self, registry: &Registry) -> GuestFsfreezeStatus {
        if registry.is_frozen() {
            GuestFsfreezeStatus::Frozen
        } else {
            GuestFsfreezeStatus::Thawed
        }
    }

    /// `guest-fsfreeze-freeze` (no list) and `guest-fsfreeze-freeze-list`.
    pub fn freeze(&self, registry: &Registry, mountpoints: Option<&[String]>) -> Result<i64, CommandError> {
        let _serial = self.serial.lock().unwrap_or_else(PoisonError::into_inner);
        self.run_hook("freeze")?;
        let mounts = self.mounts()?;
        let was_frozen = registry.is_frozen();
        self.enter_frozen(registry);
        let mut frozen = 0;
        for mount in mounts.iter().rev() {
            if mountpoints.is_some_and(|list| !list.contains(&mount.dir)) {
                continue;
            }
            match freeze_one(mount) {
                Ok(true) => frozen += 1,
                Ok(false) => {}
                Err(error) => {
                    if let Err(thaw_error) = self.thaw_locked(registry) {
                        log::warn!("thawing after a failed freeze: {thaw_error}");
                    }
                    return Err(error);
                }
            }
        }
        // Nothing newly frozen: leave the frozen state, unless it was
        // entered before (then EBUSY hid filesystems that are frozen).
        if frozen == 0 && !was_frozen {
            self.leave_frozen(registry);
        }
        Ok(frozen)
    }

    /// `guest-fsfreeze-thaw`.
    pub fn thaw(&self, registry: &Registry) -> Result<i64, CommandError> {
        let _serial = self.serial.lock().unwrap_or_else(PoisonError::into_inner);
        self.thaw_locked(registry)
    }

    fn thaw_locked(&self, registry: &Registry) -> Result<i64, CommandError> {
        let mounts = self.mounts()?;
        let thawed = mounts.iter().filter(|m| thaw_one(m)).count() as i64;
        self.leave_frozen(registry);
        self.run_hook("thaw")?;
        Ok(thawed)
    }

    fn enter_frozen(&self, registry: &Registry) {
        if !registry.is_frozen() {
            log::warn!("disabling logging due to filesystem freeze");
        }
        registry.set_frozen(true);
        self.marker.set();
    }

    fn leave_frozen(&self, registry: &Registry) {
        if registry.is_frozen() {
            self.marker.clear();
            registry.set_frozen(false);
            log::warn!("logging re-enabled due to filesystem unfreeze");
        }
    }

    fn mounts(&self) -> Result<Vec<Mount>, CommandError> {
        let text = std::fs::read_to_string(&self.mountinfo)
            .map_err(|e| CommandError::io(format!("failed to read {}", self.mountinfo.display()), &e))?;
        Ok(device_mounts(&text))
    }

    fn run_hook(&self, arg: &str) -> Result<(), CommandError> {
        match &self.hook {
            None => Ok(()),
            Some(hook) => run_command(
                hook.as_os_str(),
                &[OsStr::new(arg)],
                None,
                "execute fsfreeze hook",
            ),
        }
    }
}

fn open_dir(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(dir)
}

/// Freezes one mount; `Ok(false)` when it cannot be frozen and is skipped.
fn freeze_one(mount: &Mount) -> Result<bool, CommandError> {
    let dir = open_dir(Path::new(&mount.dir))
        .map_err(|e| CommandError::io(format!("failed to open {}", mount.dir), &e))?;
    match sys::freeze_fs(&dir) {
        Ok(()) => Ok(true),
        Err(Errno::OPNOTSUPP | Errno::BUSY) => Ok(false),
        Err(e) => Err(CommandError::errno(format!("failed to freeze {}", mount.dir), e)),
    }
}

/// Thaws one mount as many times as it was frozen; true if it was.
fn thaw_one(mount: &Mount) -> bool {
    let Ok(dir) = open_dir(Path::new(&mount.dir)) else {
        return false;
    };
    let mut thawed = false;
    while sys::thaw_fs(&dir).is_ok() {
        thawed = true;
    }
    thawed
}
