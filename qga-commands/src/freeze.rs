//! `guest-fsfreeze-status`, `-freeze`, `-freeze-list`, `-thaw`: freezing
//! filesystems for consistent snapshots, with the kernel's `FIFREEZE` and
//! `FITHAW` ioctls on each mount point.
//!
//! Freezing runs the hook (`-F`, module `hook`) with `freeze`, lists the
//! device-backed mounts (`/proc/self/mountinfo`), enters the frozen state
//! (only the freeze-safe commands stay enabled, logging stops,
//! `qga.state.isfrozen` is written) *before* the first ioctl, so the agent
//! never writes to a frozen filesystem, then freezes the mounts in reverse
//! mount order. Mounts that cannot be frozen (`EOPNOTSUPP`) or are frozen
//! already through another mount of the same filesystem (`EBUSY`) are
//! skipped and not counted. Any other failure thaws everything (and runs
//! the hook with `thaw`) and is returned. If nothing was frozen the agent
//! leaves the frozen state again.
//!
//! Thawing repeats `FITHAW` on every mount until it fails (freezes nest),
//! counts each mount thawed at least once, leaves the frozen state and runs
//! the hook with `thaw`.
//!
//! # A freeze can always be undone
//!
//! * A thaw never waits for a freeze in progress. It cancels it (killing
//!   the hook's process group if the hook runs), thaws what it froze so far,
//!   and skips only a filesystem whose `FIFREEZE` is still inside the kernel
//!   (a writer can hold one there, and no signal ends it): the freezing
//!   thread thaws that one as soon as the call returns. A thaw that arrives
//!   while a freeze runs preempts it in the dispatcher (an urgent command;
//!   the freeze's cancel hook is [`Freezer::cancel`]), so the host gets the
//!   freeze's error and the thaw's count at once.
//! * The hook gets at most `fsfreeze-hook-timeout`; past that it is killed
//!   with its process group, the freeze fails naming the hook, the limit
//!   and its last lines, and the hook is run with `thaw` to undo what it
//!   did before it was killed.
//! * Without a thaw within `fsfreeze-timeout` of entering the frozen state,
//!   the agent thaws by itself and logs it (this also ends a freeze stuck
//!   in the kernel); `guest-fsfreeze-status` then says `thawed` and a later
//!   `guest-fsfreeze-thaw` returns 0, so a host comparing counts sees the
//!   early thaw.
//! * [`Freezer::thaw_before_exit`] (SIGINT/SIGTERM, or a panic unwinding
//!   the main thread) cancels a freeze in progress, thaws what was frozen
//!   and runs the hook with `thaw` if it ran with `freeze`. A filesystem
//!   whose `FIFREEZE` never returned keeps `qga.state.isfrozen`, so the next
//!   agent starts frozen and thaws it.
//! * A panic inside a freeze undoes it.
//!
//! The state lock is held only for short bookkeeping, never across file
//! I/O, a log write or an ioctl: [`Freezer::cancel`] runs on the channel
//! thread and must not wait.

mod hook;

use std::fs::File;
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use qapi_core::FrozenState;
use qga_protocol::schema::GuestFsfreezeStatus;
use rustix::io::Errno;
use rustix::process::Pid;

use self::hook::{kill_group, run_hook, HookControl};
pub use self::hook::{HookError, TAIL_BYTES};
use crate::error::CommandError;
use crate::mounts::{device_mounts, Mount};
use crate::state::FrozenMarker;
use crate::sys;

/// How long the fsfreeze hook may run by default (`fsfreeze-hook-timeout`).
pub const DEFAULT_HOOK_TIMEOUT: Duration = Duration::from_secs(60);

/// How long after a freeze the agent thaws by itself by default when no
/// thaw comes (`fsfreeze-timeout`).
pub const DEFAULT_AUTO_THAW: Duration = Duration::from_secs(600);

/// Longest [`Freezer::thaw_before_exit`] waits for a cancelled freeze to
/// wind down (a `FIFREEZE` inside the kernel cannot be interrupted).
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// How a [`Freezer`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreezerConfig {
    /// The hook run with `freeze` and `thaw` (`-F`), if any.
    pub hook: Option<PathBuf>,
    /// Longest the hook may run; `None` for no limit.
    pub hook_timeout: Option<Duration>,
    /// How long after entering the frozen state to thaw by itself; `None`
    /// for never.
    pub auto_thaw: Option<Duration>,
    /// The mount table (`/proc/self/mountinfo`).
    pub mountinfo: PathBuf,
    /// The state directory, where `qga.state.isfrozen` records the state.
    pub statedir: PathBuf,
    /// Whether a freeze that an earlier agent left recorded in the state
    /// directory is this one's to undo (by the auto-thaw, and on exit):
    /// true for the agent that holds the state directory, false for a
    /// second one sharing it, which leaves that freeze to its owner.
    pub adopt_left_frozen: bool,
}

/// Freezes and thaws filesystems and keeps the frozen state.
#[derive(Debug, Clone)]
pub struct Freezer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: FreezerConfig,
    marker: FrozenMarker,
    frozen: Arc<FrozenState>,
    state: Mutex<State>,
    /// Signalled when a freeze ends and whenever the epoch changes.
    changed: Condvar,
    /// Serializes thaws (the command, the auto-thaw, the exit).
    thawing: Mutex<()>,
}

/// What the freezer keeps under its lock.
#[derive(Debug, Default)]
struct State {
    /// The freeze in progress, if any.
    busy: Option<Busy>,
    /// Filesystems this agent froze and has not thawed yet.
    frozen: Vec<FrozenMount>,
    /// The hook ran (or was killed running) with `freeze`: `thaw` is owed.
    hook_owes_thaw: bool,
    /// The frozen state is this agent's to undo on exit: it entered it, or
    /// adopted an earlier agent's.
    ours: bool,
    /// Bumped whenever the frozen state is entered or left; an auto-thaw
    /// acts only if it is still the one it was armed for.
    epoch: u64,
}

/// A freeze in progress.
#[derive(Debug, Default)]
struct Busy {
    /// A thaw or a stop asked it to end.
    cancelled: bool,
    /// The hook's process group while the hook runs.
    hook_group: Option<Pid>,
    /// The device whose `FIFREEZE` is inside the kernel now.
    freezing: Option<u64>,
}

/// A filesystem frozen by this agent.
#[derive(Debug)]
struct FrozenMount {
    dir: File,
}

/// Whose thaw is running, which decides whether the hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThawBy {
    /// `guest-fsfreeze-thaw`: always runs the hook, as QEMU.
    Host,
    /// The auto-thaw: a thaw in the host's place, hook included.
    Timer,
    /// The agent is exiting: the hook runs if it ran with `freeze`.
    Exit,
}

/// What a thaw did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Thawed {
    /// Mounts thawed.
    count: i64,
    /// A filesystem was left to the freezing thread (its `FIFREEZE` was
    /// still inside the kernel).
    skipped: bool,
}

fn open_dir(dir: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::CLOEXEC.bits() as i32)
        .open(dir)
}

/// The device a directory's filesystem is on.
fn device_of(dir: &File) -> u64 {
    rustix::fs::fstat(dir).map_or(0, |st| st.st_dev)
}

/// Thaws the filesystem `dir` is on as many times as it was frozen; true
/// if it was frozen at all.
fn thaw_dir(dir: impl AsFd) -> bool {
    let mut thawed = false;
    while sys::thaw_fs(&dir).is_ok() {
        thawed = true;
    }
    thawed
}

fn cancelled_error() -> CommandError {
    CommandError::msg("guest-fsfreeze-freeze was cancelled: a thaw was requested or the agent is stopping")
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mounts(&self) -> Result<Vec<Mount>, CommandError> {
        let path = &self.config.mountinfo;
        let text = std::fs::read_to_string(path)
            .map_err(|e| CommandError::io(format!("failed to read {}", path.display()), &e))?;
        Ok(device_mounts(&text))
    }

    /// Waits, the lock released meanwhile, until `done` holds (checked at
    /// every change) or `deadline` passes; hands the lock back with
    /// whether `done` holds.
    fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: Instant,
        done: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if done(&state) {
                return (state, true);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return (state, false);
            }
            state = self
                .changed
                .wait_timeout(state, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Whether the freeze in progress was cancelled (or is gone).
    fn cancelled(&self) -> bool {
        self.lock().busy.as_ref().is_none_or(|busy| busy.cancelled)
    }

    /// Enters the frozen state, unless in it already, and arms the
    /// auto-thaw. The marker and the shared state are written without the
    /// state lock (the shared state waits for a log line being written).
    fn enter_frozen(self: &Arc<Self>) {
        if self.frozen.is_frozen() {
            return;
        }
        log::warn!("disabling logging due to filesystem freeze");
        self.marker.set();
        self.frozen.set(true);
        let epoch = {
            let mut state = self.lock();
            state.ours = true;
            state.epoch += 1;
            state.epoch
        };
        self.start_auto_thaw(epoch);
    }

    /// Leaves the frozen state (disarming the auto-thaw).
    fn leave_frozen(&self) {
        {
            let mut state = self.lock();
            state.ours = false;
            state.epoch += 1;
            self.changed.notify_all();
        }
        if self.frozen.is_frozen() {
            self.marker.clear();
            self.frozen.set(false);
            log::warn!("logging re-enabled due to filesystem unfreeze");
        }
    }

    /// Runs the hook with `arg`, if there is one.
    fn run_hook(&self, arg: &str) -> Result<(), CommandError> {
        let Some(hook) = &self.config.hook else {
            return Ok(());
        };
        run_hook(hook, arg, self.config.hook_timeout, &NoCancel)
            .map_err(|e| CommandError::msg(e.describe(hook)))
    }

    /// Thaws every filesystem this agent froze and every device-backed
    /// mount of the table, except one whose `FIFREEZE` is still running;
    /// leaves the frozen state (unless exiting with such a filesystem left:
    /// the marker then tells the next agent); runs the hook as `by`
    /// requires. `None` when `only_epoch` is given and the frozen state
    /// has changed since (a thaw came first).
    fn thaw(self: &Arc<Self>, by: ThawBy, only_epoch: Option<u64>) -> Result<Option<Thawed>, CommandError> {
        let _one_at_a_time = self.thawing.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, skip, run_hook) = {
            let mut state = self.lock();
            if only_epoch.is_some_and(|epoch| epoch != state.epoch) {
                return Ok(None);
            }
            let skip = state.busy.as_mut().and_then(|busy| {
                busy.cancelled = true;
                if let Some(group) = busy.hook_group {
                    kill_group(group);
                }
                busy.freezing
            });
            let run_hook = match by {
                ThawBy::Host | ThawBy::Timer => true,
                ThawBy::Exit => state.hook_owes_thaw,
            };
            state.hook_owes_thaw = false;
            (std::mem::take(&mut state.frozen), skip, run_hook)
        };
        let mut thawed = Thawed {
            count: 0,
            skipped: false,
        };
        for mount in &taken {
            if thaw_dir(&mount.dir) {
                thawed.count += 1;
            }
        }
        let mounts = self.mounts();
        let table_error = mounts.as_ref().err().cloned();
        for mount in mounts.unwrap_or_default() {
            let Ok(dir) = open_dir(Path::new(&mount.dir)) else {
                continue;
            };
            if skip.is_some_and(|dev| dev == device_of(&dir)) {
                log::warn!(
                    "not thawing {}: its freeze is still inside the kernel; it is thawed when that ends",
                    mount.dir
                );
                thawed.skipped = true;
                continue;
            }
            if thaw_dir(&dir) {
                thawed.count += 1;
            }
        }
        drop(taken);
        if thawed.skipped && by == ThawBy::Exit {
            log::error!(
                "exiting with a filesystem whose freeze never returned; qga.state.isfrozen is kept so \
                 that the next agent thaws it"
            );
        } else {
            self.leave_frozen();
        }
        if run_hook {
            self.run_hook("thaw")?;
        }
        match table_error {
            // Nothing could be thawed without the table: QEMU's error.
            Some(error) if thawed.count == 0 => Err(error),
            _ => Ok(Some(thawed)),
        }
    }

    /// Undoes a freeze that failed or was cancelled: thaws what it froze.
    /// A failure also thaws the rest and runs the hook with `thaw`, as a
    /// thaw would (QEMU's behaviour); after a cancel, whoever cancelled
    /// owes the hook its `thaw` (the thaw command, or the exit).
    fn undo_freeze(self: &Arc<Self>, cancelled: bool) {
        if cancelled {
            let taken = std::mem::take(&mut self.lock().frozen);
            for mount in &taken {
                thaw_dir(&mount.dir);
            }
            self.leave_frozen();
        } else if let Err(e) = self.thaw(ThawBy::Exit, None) {
            log::warn!("thawing after a failed freeze: {e}");
        }
    }

    /// Thaws by itself `limit` after the frozen state of `epoch` was
    /// entered, unless it has been left (or entered again) meanwhile.
    fn start_auto_thaw(self: &Arc<Self>, epoch: u64) {
        let Some(limit) = self.config.auto_thaw else {
            return;
        };
        // A limit past the end of time never expires.
        let Some(deadline) = Instant::now().checked_add(limit) else {
            return;
        };
        let inner = Arc::clone(self);
        let spawned = std::thread::Builder::new()
            .name("qga-auto-thaw".into())
            .stack_size(128 * 1024)
            .spawn(move || {
                let (state, changed) = inner.wait_until(inner.lock(), deadline, |state| state.epoch != epoch);
                drop(state);
                if changed {
                    return;
                }
                match inner.thaw(ThawBy::Timer, Some(epoch)) {
                    Ok(None) => {}
                    Ok(Some(thawed)) => log::warn!(
                        "no guest-fsfreeze-thaw came within {} s of the freeze: thawed {} \
                         filesystems by itself (fsfreeze-timeout)",
                        limit.as_secs(),
                        thawed.count
                    ),
                    Err(e) => log::error!("thawing by itself after {} s failed: {e}", limit.as_secs()),
                }
            });
        if let Err(e) = spawned {
            log::error!("cannot start the auto-thaw timer: {e}");
        }
    }
}

/// A hook run nobody can cancel (the thaw hook).
struct NoCancel;

impl HookControl for NoCancel {
    fn started(&self, _: Pid) -> bool {
        true
    }
    fn exited(&self) {}
    fn cancelled(&self) -> bool {
        false
    }
}

/// The freeze hook's run, cancellable through the freezer's state.
struct FreezeHook<'a>(&'a Inner);

impl HookControl for FreezeHook<'_> {
    fn started(&self, group: Pid) -> bool {
        let mut state = self.0.lock();
        state.hook_owes_thaw = true;
        match state.busy.as_mut() {
            Some(busy) if !busy.cancelled => {
                busy.hook_group = Some(group);
                true
            }
            _ => false,
        }
    }

    fn exited(&self) {
        if let Some(busy) = self.0.lock().busy.as_mut() {
            busy.hook_group = None;
        }
    }

    fn cancelled(&self) -> bool {
        self.0.cancelled()
    }
}

/// Marks the freeze in progress as over when dropped, however it ends.
struct FreezeRun<'a> {
    inner: &'a Inner,
}

impl Drop for FreezeRun<'_> {
    fn drop(&mut self) {
        self.inner.lock().busy = None;
        self.inner.changed.notify_all();
    }
}

impl Freezer {
    /// A freezer set up by `config`, keeping the frozen state in `frozen`
    /// (shared with the registry and the logger). If an earlier agent left
    /// filesystems frozen (`qga.state.isfrozen`), `frozen` is set; when
    /// this agent adopts that freeze (see [`FreezerConfig`]) the auto-thaw
    /// starts counting now.
    pub fn new(config: FreezerConfig, frozen: Arc<FrozenState>) -> Self {
        let marker = FrozenMarker::new(&config.statedir);
        let left_frozen = marker.is_set();
        let adopt = config.adopt_left_frozen;
        let inner = Arc::new(Inner {
            config,
            marker,
            frozen,
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            thawing: Mutex::new(()),
        });
        if left_frozen {
            inner.frozen.set(true);
            if adopt {
                inner.lock().ours = true;
                inner.start_auto_thaw(0);
            }
        }
        Freezer { inner }
    }

    /// The frozen state this freezer keeps.
    pub fn frozen_state(&self) -> &Arc<FrozenState> {
        &self.inner.frozen
    }

    /// `guest-fsfreeze-status`: the agent's own record.
    pub fn status(&self) -> GuestFsfreezeStatus {
        if self.inner.frozen.is_frozen() {
            GuestFsfreezeStatus::Frozen
        } else {
            GuestFsfreezeStatus::Thawed
        }
    }

    /// Asks a freeze in progress to stop at once (its hook's process group
    /// is killed) and undo what it did; it then fails. The caller owes the
    /// hook its `thaw`: [`Freezer::thaw`] or [`Freezer::thaw_before_exit`].
    /// Never waits (it runs on the channel thread).
    pub fn cancel(&self) {
        let mut state = self.inner.lock();
        if let Some(busy) = state.busy.as_mut() {
            busy.cancelled = true;
            if let Some(group) = busy.hook_group {
                kill_group(group);
            }
        }
    }

    /// `guest-fsfreeze-freeze` (no list) and `guest-fsfreeze-freeze-list`.
    pub fn freeze(&self, mountpoints: Option<&[String]>) -> Result<i64, CommandError> {
        let inner = &self.inner;
        {
            let mut state = inner.lock();
            if state.busy.is_some() {
                return Err(CommandError::msg("a filesystem freeze is already in progress"));
            }
            state.busy = Some(Busy::default());
        }
        let _run = FreezeRun { inner };
        match catch_unwind(AssertUnwindSafe(|| self.freeze_steps(mountpoints))) {
            Ok(result) => result,
            Err(_) => {
                // Not from a destructor: a second panic here is caught by
                // the dispatcher, not an abort.
                inner.undo_freeze(false);
                Err(CommandError::msg(
                    "guest-fsfreeze-freeze failed unexpectedly; what it froze was thawed",
                ))
            }
        }
    }

    fn freeze_steps(&self, mountpoints: Option<&[String]>) -> Result<i64, CommandError> {
        let inner = &self.inner;
        if let Some(hook) = &inner.config.hook {
            match run_hook(hook, "freeze", inner.config.hook_timeout, &FreezeHook(inner)) {
                Ok(()) => {}
                Err(HookError::Cancelled) => return Err(cancelled_error()),
                Err(error @ HookError::TimedOut { .. }) => {
                    // It may have quiesced something before it was killed.
                    inner.lock().hook_owes_thaw = false;
                    if let Err(e) = inner.run_hook("thaw") {
                        log::warn!("running the fsfreeze hook with 'thaw' after its time-out: {e}");
                    }
                    return Err(CommandError::msg(error.describe(hook)));
                }
                Err(error) => {
                    // It failed by itself: as QEMU, no thaw for it.
                    inner.lock().hook_owes_thaw = false;
                    return Err(CommandError::msg(error.describe(hook)));
                }
            }
        }
        if inner.cancelled() {
            return Err(cancelled_error());
        }
        let mounts = match inner.mounts() {
            Ok(mounts) => mounts,
            Err(error) => {
                inner.undo_freeze(false);
                return Err(error);
            }
        };
        let was_frozen = inner.frozen.is_frozen();
        inner.enter_frozen();
        // A thaw that came while entering has left the frozen state again
        // or will find nothing: undo and stop.
        if inner.cancelled() {
            inner.undo_freeze(true);
            return Err(cancelled_error());
        }
        let mut count = 0;
        for mount in mounts.iter().rev() {
            if mountpoints.is_some_and(|list| !list.contains(&mount.dir)) {
                continue;
            }
            match self.freeze_one(mount) {
                Ok(true) => count += 1,
                Ok(false) => {}
                Err(error) => {
                    let cancelled = inner.cancelled();
                    inner.undo_freeze(cancelled);
                    return Err(if cancelled { cancelled_error() } else { error });
                }
            }
        }
        // Nothing newly frozen: leave the frozen state, unless it was
        // entered before (then EBUSY hid filesystems that are frozen).
        if count == 0 && !was_frozen {
            inner.leave_frozen();
        }
        Ok(count)
    }

    /// Freezes one mount; `Ok(false)` when it cannot be frozen and is
    /// skipped. A cancel that comes while the ioctl runs thaws it again.
    fn freeze_one(&self, mount: &Mount) -> Result<bool, CommandError> {
        let inner = &self.inner;
        let dir = open_dir(Path::new(&mount.dir))
            .map_err(|e| CommandError::io(format!("failed to open {}", mount.dir), &e))?;
        let device = device_of(&dir);
        {
            let mut state = inner.lock();
            match state.busy.as_mut() {
                Some(busy) if !busy.cancelled => busy.freezing = Some(device),
                _ => return Err(cancelled_error()),
            }
        }
        let result = sys::freeze_fs(&dir);
        let mut state = inner.lock();
        let cancelled = match state.busy.as_mut() {
            Some(busy) => {
                busy.freezing = None;
                busy.cancelled
            }
            None => true,
        };
        match result {
            Ok(()) if cancelled => {
                drop(state);
                thaw_dir(&dir);
                Err(cancelled_error())
            }
            Ok(()) => {
                state.frozen.push(FrozenMount { dir });
                Ok(true)
            }
            Err(Errno::OPNOTSUPP | Errno::BUSY) => Ok(false),
            Err(e) => Err(CommandError::errno(format!("failed to freeze {}", mount.dir), e)),
        }
    }

    /// `guest-fsfreeze-thaw`: never waits for a freeze in progress (see
    /// the module docs).
    pub fn thaw(&self) -> Result<i64, CommandError> {
        Ok(self
            .inner
            .thaw(ThawBy::Host, None)?
            .map_or(0, |thawed| thawed.count))
    }

    /// What the agent does on its way out: cancels a freeze in progress,
    /// waits (at most 10 s) for it to wind down, thaws whatever this agent
    /// froze (or adopted) and runs the hook with `thaw` if it ran with
    /// `freeze`. Does nothing when there is nothing of its own to undo.
    pub fn thaw_before_exit(&self) {
        self.cancel();
        let inner = &self.inner;
        let deadline = Instant::now() + EXIT_WAIT;
        let (state, ended) = inner.wait_until(inner.lock(), deadline, |state| state.busy.is_none());
        if !ended {
            log::error!("a freeze is still running after {EXIT_WAIT:?}; thawing the rest");
        }
        let needed =
            (state.ours && inner.frozen.is_frozen()) || !state.frozen.is_empty() || state.hook_owes_thaw;
        drop(state);
        if !needed {
            return;
        }
        match inner.thaw(ThawBy::Exit, None) {
            Ok(thawed) => log::warn!(
                "thawed {} filesystems before exiting",
                thawed.map_or(0, |t| t.count)
            ),
            Err(e) => log::error!("failed to thaw filesystems before exiting: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freezer(dir: &Path, hook: Option<PathBuf>) -> Freezer {
        std::fs::write(dir.join("mountinfo"), "").unwrap();
        Freezer::new(
            FreezerConfig {
                hook,
                hook_timeout: Some(Duration::from_secs(5)),
                auto_thaw: Some(Duration::from_millis(200)),
                mountinfo: dir.join("mountinfo"),
                statedir: dir.to_path_buf(),
                adopt_left_frozen: true,
            },
            Arc::new(FrozenState::new(false)),
        )
    }

    #[test]
    fn an_agent_left_frozen_starts_frozen_and_thaws_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("qga.state.isfrozen"), "").unwrap();
        let freezer = freezer(dir.path(), None);
        assert_eq!(freezer.status(), GuestFsfreezeStatus::Frozen);
        let start = Instant::now();
        while freezer.status() == GuestFsfreezeStatus::Frozen && start.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
        assert!(!dir.path().join("qga.state.isfrozen").exists());
        assert_eq!(freezer.thaw().unwrap(), 0);
    }

    #[test]
    fn a_second_freeze_while_one_runs_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let freezer = freezer(dir.path(), None);
        freezer.inner.lock().busy = Some(Busy::default());
        assert_eq!(
            freezer.freeze(None).unwrap_err().0,
            "a filesystem freeze is already in progress"
        );
    }

    #[test]
    fn a_thaw_skips_only_the_filesystem_whose_freeze_is_in_the_kernel() {
        let Some(fs) = crate::testing::LoopFs::new() else {
            return;
        };
        let freezer = Freezer::new(
            FreezerConfig {
                hook: None,
                hook_timeout: None,
                auto_thaw: None,
                mountinfo: fs.mountinfo(""),
                statedir: fs.dir().to_path_buf(),
                adopt_left_frozen: true,
            },
            Arc::new(FrozenState::new(false)),
        );
        assert_eq!(freezer.freeze(None).unwrap(), 1);
        // As if a second freeze were inside FIFREEZE on that filesystem:
        // thawing it would wait for that call, so the thaw leaves it to
        // the freezing thread and answers at once.
        let device = device_of(&open_dir(Path::new(&fs.mnt())).unwrap());
        freezer.inner.lock().busy = Some(Busy {
            freezing: Some(device),
            ..Busy::default()
        });
        let started = Instant::now();
        assert_eq!(
            freezer.thaw().unwrap(),
            1,
            "the filesystem it froze itself is thawed by its fd"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(freezer.inner.lock().busy.as_ref().is_some_and(|b| b.cancelled));
        // Refrozen behind the freezer's back, then skipped by device.
        let dir = open_dir(Path::new(&fs.mnt())).unwrap();
        sys::freeze_fs(&dir).unwrap();
        assert_eq!(freezer.thaw().unwrap(), 0);
        assert_eq!(sys::freeze_fs(&dir), Err(Errno::BUSY), "it was left frozen");
        freezer.inner.lock().busy = None;
        assert_eq!(freezer.thaw().unwrap(), 1);
    }

    #[test]
    fn with_nothing_to_freeze_the_state_stays_thawed() {
        let dir = tempfile::tempdir().unwrap();
        let freezer = freezer(dir.path(), None);
        assert_eq!(freezer.freeze(None).unwrap(), 0);
        assert_eq!(freezer.status(), GuestFsfreezeStatus::Thawed);
        assert!(freezer.inner.lock().busy.is_none());
        freezer.thaw_before_exit();
    }
}
