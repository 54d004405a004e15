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
//!   the hook's process group if the hook runs) and thaws what it froze so
//!   far. Each `FIFREEZE` runs on a helper thread, so a cancelled freeze
//!   fails at once even while a writer holds its `FIFREEZE` inside the
//!   kernel (an unprivileged user can, and no signal ends the call). That
//!   filesystem blocks writers already, so the agent then stays in the
//!   frozen state (writing nothing, no log line, the marker kept) until the
//!   call returns; the helper thread then thaws it, leaves the frozen state
//!   and runs the hook with `thaw` for the thaw that had to wait.
//! * A thaw that arrives while a freeze runs preempts it in the dispatcher
//!   (an urgent command; the freeze's cancel hook is [`Freezer::cancel`]),
//!   so the host gets the freeze's error and the thaw's count at once (one
//!   sent in the same write as the freeze after a grace, see
//!   `qapi_core::URGENT_GRACE`).
//! * The hook gets at most `fsfreeze-hook-timeout`; past that it is killed
//!   with its process group, the freeze fails naming the hook, the limit
//!   and its last lines, and the hook is run with `thaw` to undo what it
//!   did before it was killed.
//! * Without a thaw within `fsfreeze-timeout` of entering the frozen state,
//!   the agent thaws by itself and logs it; `guest-fsfreeze-status` then
//!   says `thawed` and a later `guest-fsfreeze-thaw` returns 0, so a host
//!   comparing counts sees the early thaw.
//! * [`Freezer::thaw_before_exit`] (SIGINT/SIGTERM, or a panic unwinding
//!   the main thread) cancels a freeze in progress, thaws what was frozen
//!   and runs the hook with `thaw` if it ran with `freeze`. A `FIFREEZE`
//!   still inside the kernel after a while keeps `qga.state.isfrozen`, so
//!   the next agent starts frozen and thaws it.
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

use qapi_core::FreezeState;
use qga_protocol::schema::{GuestFsfreezeFreezeListArgs, GuestFsfreezeStatus, NoArgs};
use qga_sys::fs::{freeze_fs, thaw_fs};
use qga_sys::mountinfo::Mount;
use rustix::io::Errno;
use rustix::process::Pid;

pub(crate) use self::hook::HookError;
use self::hook::{kill_group, run_hook, HookControl};
use crate::agent::Agent;
use crate::error::CommandError;
use crate::state::FrozenMarker;

/// `guest-fsfreeze-status`: the agent's own record.
pub(crate) fn status(agent: &Agent, _: NoArgs) -> Result<GuestFsfreezeStatus, CommandError> {
    Ok(agent.freezer().status())
}

/// `guest-fsfreeze-freeze`: every device-backed mount.
pub(crate) fn freeze(agent: &Agent, _: NoArgs) -> Result<i64, CommandError> {
    agent.freezer().freeze(None)
}

/// `guest-fsfreeze-freeze-list`: the listed mount points (all with no list).
pub(crate) fn freeze_list(agent: &Agent, args: GuestFsfreezeFreezeListArgs) -> Result<i64, CommandError> {
    agent.freezer().freeze(args.mountpoints.as_deref())
}

/// `guest-fsfreeze-thaw`: never waits for a freeze in progress.
pub(crate) fn thaw(agent: &Agent, _: NoArgs) -> Result<i64, CommandError> {
    agent.freezer().thaw()
}

/// Stops a freeze in progress (the freezes' cancel hook, and the thaw's
/// urgent one; see [`Freezer::cancel`]).
pub(crate) fn cancel(agent: &Agent) {
    agent.freezer().cancel();
}

/// The device-backed mounts of the mount table at `mountinfo` (see
/// `qga_sys::mountinfo::Mount::device`), in mount order.
pub(crate) fn device_mounts(mountinfo: &Path) -> Result<Vec<Mount>, CommandError> {
    let text = std::fs::read_to_string(mountinfo)
        .map_err(|e| CommandError::ReadMountTable(mountinfo.to_path_buf(), e.into()))?;
    Ok(qga_sys::mountinfo::device_mounts(&text)
        .into_iter()
        .map(|(mount, _)| mount)
        .collect())
}

/// Longest [`Freezer::thaw_before_exit`] waits for a cancelled freeze to
/// wind down (a `FIFREEZE` inside the kernel cannot be interrupted).
const EXIT_WAIT: Duration = Duration::from_secs(10);

/// How a [`Freezer`] is set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FreezerConfig {
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
pub(crate) struct Freezer {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: FreezerConfig,
    marker: FrozenMarker,
    frozen: Arc<FreezeState>,
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
    /// A `FIFREEZE` inside the kernel, on a helper thread.
    in_kernel: Option<InKernel>,
    /// What a thaw left for the moment that `FIFREEZE` returns.
    after_stall: Option<AfterStall>,
}

/// A freeze in progress.
#[derive(Debug, Default)]
struct Busy {
    /// A thaw or a stop asked it to end.
    cancelled: bool,
    /// The hook's process group while the hook runs.
    hook_group: Option<Pid>,
}

/// A `FIFREEZE` call inside the kernel. A writer can hold one there as long
/// as it likes (no signal ends it), and meanwhile new writes to that
/// filesystem block already.
#[derive(Debug)]
struct InKernel {
    /// The device being frozen.
    device: u64,
    /// What the call returned, for the freeze waiting for it.
    outcome: Option<Result<(), Errno>>,
    /// The freeze stopped waiting (it was cancelled): the helper thread
    /// undoes the call when it returns.
    abandoned: bool,
}

/// What a thaw could not do while a `FIFREEZE` was inside the kernel, done
/// by the helper thread once it returns and is undone: leave the frozen
/// state (until then the agent writes nothing, that filesystem blocking
/// writers already), and maybe run the hook with `thaw`.
#[derive(Debug, Clone, Copy)]
struct AfterStall {
    run_hook: bool,
}

/// A filesystem frozen by this agent.
#[derive(Debug)]
struct FrozenMount {
    dir: Arc<File>,
}

/// Whose thaw is running, which decides whether the hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ThawBy {
    /// `guest-fsfreeze-thaw`: always runs the hook, as QEMU.
    Host,
    /// The auto-thaw: a thaw in the host's place, hook included.
    Timer,
    /// The agent is exiting: the hook runs if it ran with `freeze`, and
    /// the mount table is thawed only if the frozen state is this agent's.
    Exit,
}

/// What a thaw did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Thawed {
    /// Mounts thawed.
    count: i64,
    /// A filesystem was left to its `FIFREEZE` helper thread, and with it
    /// leaving the frozen state.
    deferred: bool,
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
    while thaw_fs(&dir).is_ok() {
        thawed = true;
    }
    thawed
}

fn cancelled_error() -> CommandError {
    CommandError::FreezeCancelled
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn mounts(&self) -> Result<Vec<Mount>, CommandError> {
        device_mounts(&self.config.mountinfo)
    }

    /// Waits, the lock released meanwhile, until `done` holds (checked at
    /// every change) or `deadline` (if any) passes; hands the lock back
    /// with whether `done` holds.
    fn wait_until<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        deadline: Option<Instant>,
        done: impl Fn(&State) -> bool,
    ) -> (MutexGuard<'a, State>, bool) {
        loop {
            if done(&state) {
                return (state, true);
            }
            state = match deadline {
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (state, false);
                    }
                    self.changed
                        .wait_timeout(state, left)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self.changed.wait(state).unwrap_or_else(PoisonError::into_inner),
            };
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

    /// Leaves the frozen state and runs the hook with `thaw` (if asked),
    /// unless a `FIFREEZE` is inside the kernel: then both are left to its
    /// helper thread (see [`AfterStall`]). True if done now.
    fn leave_frozen_unless_stalled(&self, run_hook: bool) -> Result<bool, CommandError> {
        {
            let mut state = self.lock();
            if state.in_kernel.is_some() {
                let run_hook = run_hook || state.after_stall.is_some_and(|after| after.run_hook);
                state.after_stall = Some(AfterStall { run_hook });
                return Ok(false);
            }
        }
        self.leave_frozen();
        if run_hook {
            self.run_hook("thaw")?;
        }
        Ok(true)
    }

    /// Runs the hook with `arg`, if there is one.
    fn run_hook(&self, arg: &str) -> Result<(), CommandError> {
        let Some(hook) = &self.config.hook else {
            return Ok(());
        };
        run_hook(hook, arg, self.config.hook_timeout, &NoCancel).map_err(|e| CommandError::hook(hook, e))
    }

    /// The helper thread's end of a `FIFREEZE` of `dir`: hands `result` to
    /// the freeze waiting for it, or, if that freeze gave up (it was
    /// cancelled while the call was inside the kernel), undoes the call and
    /// does what a thaw left for this moment.
    fn fifreeze_returned(&self, dir: &File, result: Result<(), Errno>) {
        let after = {
            let mut state = self.lock();
            if let Some(call) = state.in_kernel.as_mut().filter(|call| !call.abandoned) {
                call.outcome = Some(result);
                self.changed.notify_all();
                return;
            }
            state.in_kernel = None;
            self.changed.notify_all();
            state.after_stall.take()
        };
        if result.is_ok() {
            thaw_dir(dir);
        }
        let _one_at_a_time = self.thawing.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(after) = after {
            self.leave_frozen();
            if after.run_hook {
                if let Err(e) = self.run_hook("thaw") {
                    log::warn!("running the fsfreeze hook with 'thaw': {e}");
                }
            }
        }
        log::warn!("a FIFREEZE held inside the kernel has returned; that filesystem was thawed");
    }

    /// Thaws every filesystem this agent froze and (unless exiting with a
    /// frozen state that is not its own) every device-backed mount of the
    /// table, except one whose `FIFREEZE` is inside the kernel; leaves the
    /// frozen state and runs the hook as `by` requires, or leaves both to
    /// that `FIFREEZE`'s helper thread. `None` when `only_epoch` is given
    /// and the frozen state has changed since (a thaw came first).
    fn thaw(self: &Arc<Self>, by: ThawBy, only_epoch: Option<u64>) -> Result<Option<Thawed>, CommandError> {
        let _one_at_a_time = self.thawing.lock().unwrap_or_else(PoisonError::into_inner);
        let (taken, skip, run_hook, thaw_table) = {
            let mut state = self.lock();
            if only_epoch.is_some_and(|epoch| epoch != state.epoch) {
                return Ok(None);
            }
            if let Some(busy) = state.busy.as_mut() {
                busy.cancelled = true;
                if let Some(group) = busy.hook_group {
                    kill_group(group);
                }
            }
            self.changed.notify_all();
            let skip = state.in_kernel.as_ref().map(|call| call.device);
            let run_hook = match by {
                ThawBy::Host | ThawBy::Timer => true,
                ThawBy::Exit => state.hook_owes_thaw,
            };
            state.hook_owes_thaw = false;
            let thaw_table = by != ThawBy::Exit || state.ours;
            (std::mem::take(&mut state.frozen), skip, run_hook, thaw_table)
        };
        let mut thawed = Thawed {
            count: 0,
            deferred: false,
        };
        for mount in &taken {
            if thaw_dir(&*mount.dir) {
                thawed.count += 1;
            }
        }
        let mut table_error = None;
        if thaw_table {
            let mounts = self.mounts();
            table_error = mounts.as_ref().err().cloned();
            for mount in mounts.unwrap_or_default() {
                let Ok(dir) = open_dir(Path::new(&mount.dir)) else {
                    continue;
                };
                if skip.is_some_and(|device| device == device_of(&dir)) {
                    continue;
                }
                if thaw_dir(&dir) {
                    thawed.count += 1;
                }
            }
        }
        drop(taken);
        thawed.deferred = !self.leave_frozen_unless_stalled(run_hook)?;
        if thawed.deferred && by == ThawBy::Exit {
            // Logging is off: the frozen state is kept. So is the marker:
            // the next agent starts frozen and thaws.
            eprintln!(
                "qemu-ga: exiting while a FIFREEZE is held inside the kernel; qga.state.isfrozen is kept"
            );
        }
        match table_error {
            // Nothing could be thawed without the table: QEMU's error.
            Some(error) if thawed.count == 0 && !thawed.deferred => Err(error),
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
                thaw_dir(&*mount.dir);
            }
            if let Err(e) = self.leave_frozen_unless_stalled(false) {
                log::warn!("undoing a cancelled freeze: {e}");
            }
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
                let (state, changed) =
                    inner.wait_until(inner.lock(), Some(deadline), |state| state.epoch != epoch);
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
    pub fn new(config: FreezerConfig, frozen: Arc<FreezeState>) -> Self {
        let marker = FrozenMarker::new(&config.statedir);
        let left_frozen = marker.is_set();
        let adopt = config.adopt_left_frozen;
        let freezer = Freezer {
            inner: Arc::new(Inner {
                config,
                marker,
                frozen,
                state: Mutex::new(State::default()),
                changed: Condvar::new(),
                thawing: Mutex::new(()),
            }),
        };
        if left_frozen {
            freezer.inner.frozen.set(true);
            if adopt {
                freezer.adopt_left_frozen();
            }
        }
        freezer
    }

    /// Takes on a freeze an earlier agent left recorded in the state
    /// directory, once this agent holds the directory: thawed on exit, and
    /// by the auto-thaw, which starts counting now. Nothing when there is
    /// none (or it is this agent's already).
    pub fn adopt_left_frozen(&self) {
        let inner = &self.inner;
        if !inner.marker.is_set() {
            return;
        }
        inner.frozen.set(true);
        let epoch = {
            let mut state = inner.lock();
            if state.ours {
                return;
            }
            state.ours = true;
            state.epoch
        };
        inner.start_auto_thaw(epoch);
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
    /// is killed, a `FIFREEZE` inside the kernel is left to its helper
    /// thread) and undo what it did; it then fails. The caller owes the
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
        self.inner.changed.notify_all();
    }

    /// `guest-fsfreeze-freeze` (no list) and `guest-fsfreeze-freeze-list`.
    pub fn freeze(&self, mountpoints: Option<&[String]>) -> Result<i64, CommandError> {
        let inner = &self.inner;
        {
            let mut state = inner.lock();
            if state.busy.is_some() {
                return Err(CommandError::FreezeInProgress);
            }
            if state.in_kernel.is_some() {
                return Err(CommandError::FreezeStuckInKernel);
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
                Err(CommandError::FreezePanicked)
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
                    return Err(CommandError::hook(hook, error));
                }
                Err(error) => {
                    // It failed by itself: as QEMU, no thaw for it.
                    inner.lock().hook_owes_thaw = false;
                    return Err(CommandError::hook(hook, error));
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
    /// skipped. The `FIFREEZE` runs on a helper thread, so that a cancel
    /// need not wait for the kernel: the freeze then fails at once, and the
    /// helper undoes the call when it returns. A cancel that comes just as
    /// the call returns thaws it again here.
    fn freeze_one(&self, mount: &Mount) -> Result<bool, CommandError> {
        let inner = &self.inner;
        let dir = Arc::new(
            open_dir(Path::new(&mount.dir))
                .map_err(|e| CommandError::OpenMount(mount.dir.clone(), e.into()))?,
        );
        let device = device_of(&dir);
        {
            let mut state = inner.lock();
            if state.busy.as_ref().is_none_or(|busy| busy.cancelled) {
                return Err(cancelled_error());
            }
            state.in_kernel = Some(InKernel {
                device,
                outcome: None,
                abandoned: false,
            });
        }
        let helper = {
            let (inner, dir) = (Arc::clone(inner), Arc::clone(&dir));
            std::thread::Builder::new()
                .name("qga-fifreeze".into())
                .stack_size(64 * 1024)
                .spawn(move || inner.fifreeze_returned(&dir, freeze_fs(&*dir)))
        };
        if let Err(e) = helper {
            // No thread to be had: the call runs here, and a cancel waits.
            log::warn!(
                "cannot start a thread for FIFREEZE ({e}); freezing {} here",
                mount.dir
            );
            inner.fifreeze_returned(&dir, freeze_fs(&*dir));
        }
        let (mut state, _) = inner.wait_until(inner.lock(), None, |state| {
            state.in_kernel.as_ref().is_none_or(|call| call.outcome.is_some())
                || state.busy.as_ref().is_none_or(|busy| busy.cancelled)
        });
        let outcome = match state.in_kernel.as_mut() {
            Some(call) if call.outcome.is_some() => {
                let outcome = call.outcome.take();
                state.in_kernel = None;
                outcome
            }
            Some(call) => {
                // Cancelled while the call is inside the kernel.
                call.abandoned = true;
                return Err(cancelled_error());
            }
            None => None,
        };
        let cancelled = state.busy.as_ref().is_none_or(|busy| busy.cancelled);
        match outcome {
            Some(Ok(())) if cancelled => {
                drop(state);
                thaw_dir(&*dir);
                Err(cancelled_error())
            }
            Some(Ok(())) => {
                state.frozen.push(FrozenMount { dir });
                Ok(true)
            }
            Some(Err(Errno::OPNOTSUPP | Errno::BUSY)) => Ok(false),
            Some(Err(e)) => Err(CommandError::FreezeMount(mount.dir.clone(), e)),
            None => Err(cancelled_error()),
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
    /// waits (at most 10 s) for it and for a `FIFREEZE` inside the kernel
    /// to end, thaws whatever this agent froze (or adopted) and runs the
    /// hook with `thaw` if it ran with `freeze`. A `FIFREEZE` that is still
    /// inside the kernel then keeps the frozen state and its marker (see
    /// the module docs). Does nothing when there is nothing of its own to
    /// undo.
    pub fn thaw_before_exit(&self) {
        self.cancel();
        let inner = &self.inner;
        let deadline = Instant::now() + EXIT_WAIT;
        let (state, ended) = inner.wait_until(inner.lock(), Some(deadline), |state| {
            state.busy.is_none() && state.in_kernel.is_none()
        });
        if !ended {
            eprintln!("qemu-ga: a filesystem freeze is still running after {EXIT_WAIT:?}; thawing the rest");
        }
        let needed = (state.ours && inner.frozen.is_frozen())
            || !state.frozen.is_empty()
            || state.hook_owes_thaw
            || state.in_kernel.is_some();
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
mod tests;
