//! `guest-exec` and `guest-exec-status`: running a program in the guest and
//! collecting its outcome and output.
//!
//! `guest-exec` starts the program (module `spawn`: GLib's `PATH` search and
//! error texts), returns its pid at once and leaves it running. From then on
//! one background thread of the agent (module `io`) serves every such process
//! with `poll(2)`: it writes `input-data` to the process's standard input
//! through a non-blocking pipe (closing it when done, or when the process
//! stops reading), drains the captured output pipes, and reaps the process
//! as soon as it ends (it watches a pidfd, `pidfd_open(2)`; without pidfds it
//! looks every 100 ms). So no process stays a zombie and no pipe stays open
//! longer than the process (or what inherited its pipes) keeps it.
//!
//! Each captured stream keeps its first 16 MiB (QEMU's
//! `GUEST_EXEC_MAX_OUTPUT`); the rest is read and dropped, and the stream is
//! then reported truncated. `guest-exec-status` reports `exited: false`
//! until the process has been reaped *and* its captured pipes have reached
//! end of file; the one reply that says `exited: true` also hands over the
//! exit code or signal and the output, and forgets the process: later
//! calls for that pid fail as for a pid never started.
//!
//! Bounds (QEMU has none): at most [`MAX_RUNNING`] processes may be unfinished
//! at once (each holds up to four descriptors of the agent); a further
//! `guest-exec` fails with a message saying so. At most [`MAX_KEPT`]
//! processes are remembered in all; when a new one would exceed that, the
//! oldest finished process whose status was never collected is forgotten.
//! Captured output of all processes together, and the `input-data` not yet
//! written to them, are held in at most [`MAX_TOTAL_OUTPUT`] bytes: past
//! that, the oldest finished processes nobody collected are forgotten to make
//! room, and when only unfinished ones are left, what they print is dropped
//! (reported truncated). A `guest-exec` whose decoded `input-data` does not
//! fit even then fails before anything is started, with a message naming the
//! limit; input is accounted until it is written (the written part is given
//! back as the child reads) or its pipe closes.
//!
//! Error texts are those of QEMU 10 (`qga/commands.c`): a start failure is
//! GLib's message alone (QEMU 7.2 wrapped it as `Guest agent command failed,
//! error was '…'`), and an unknown pid reads `PID ld does not exist` (QEMU
//! prints its format string's `PRId64` literally; 7.2 said `Invalid
//! parameter 'pid'`).

mod io;
mod spawn;

use std::collections::HashMap;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::process::Child;
use std::sync::{Arc, MutexGuard};

use qga_protocol::schema::{
    GuestExec, GuestExecArgs, GuestExecCaptureOutputMode, GuestExecStatus, GuestExecStatusArgs,
};
use qga_sys::base64;

use crate::agent::Agent;
use crate::error::CommandError;

pub(crate) use self::spawn::SpawnError;

/// Most bytes kept of each captured stream (QEMU's `GUEST_EXEC_MAX_OUTPUT`).
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// Most processes unfinished at once.
pub(crate) const MAX_RUNNING: usize = 128;

/// Most processes remembered (unfinished, or finished and not collected).
const MAX_KEPT: usize = 1024;

/// Most bytes of captured output and pending `input-data` held for all
/// processes together: eight processes' worth of both streams at
/// [`MAX_OUTPUT`].
const MAX_TOTAL_OUTPUT: usize = 8 * 2 * MAX_OUTPUT;

/// Written input is given back (the buffer compacted) once at least this
/// much of it, and at least half of what is held, has been written.
const INPUT_COMPACT: usize = 64 * 1024;

/// `guest-exec-status`.
pub(crate) fn status(agent: &Agent, args: GuestExecStatusArgs) -> Result<GuestExecStatus, CommandError> {
    agent.exec().status(args.pid)
}

/// `guest-exec`.
pub(crate) fn exec(agent: &Agent, args: GuestExecArgs) -> Result<GuestExec, CommandError> {
    agent.exec().exec(&args)
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// It exited with this status.
    Code(i32),
    /// This signal ended it.
    Signal(i32),
    /// Someone else reaped it; the outcome is lost.
    Unknown,
}

/// A captured output stream.
#[derive(Debug, Default)]
struct Capture {
    /// The agent's read end, until end of file.
    fd: Option<Arc<OwnedFd>>,
    /// What was kept.
    data: Vec<u8>,
    /// Whether more came than was kept.
    truncated: bool,
}

impl Capture {
    fn open(fd: Option<OwnedFd>) -> Option<Capture> {
        fd.map(|fd| Capture {
            fd: Some(Arc::new(fd)),
            ..Capture::default()
        })
    }

    /// Keeps what fits of `bytes`, growing by at most `room` bytes (which
    /// it lessens by what it grew).
    fn keep(&mut self, bytes: &[u8], room: &mut usize) {
        let capacity = self.data.capacity();
        let limit = MAX_OUTPUT.min(capacity.saturating_add(*room));
        let take = bytes.len().min(limit.saturating_sub(self.data.len()));
        if take < bytes.len() {
            self.truncated = true;
        }
        if take == 0 {
            return;
        }
        // Grow by doubling, never past the limit; a failed allocation
        // counts as truncation, as in QEMU.
        let needed = self.data.len() + take;
        if needed > capacity {
            let target = needed.max(capacity * 2).min(limit);
            if self.data.try_reserve_exact(target - self.data.len()).is_err() {
                self.truncated = true;
                return;
            }
            *room = room.saturating_sub(self.data.capacity() - capacity);
        }
        self.data.extend_from_slice(&bytes[..take]);
    }

    fn is_open(&self) -> bool {
        self.fd.is_some()
    }
}

/// Standard input still being written.
#[derive(Debug)]
struct Input {
    fd: Arc<OwnedFd>,
    /// What is left to write starts at `written`.
    data: Vec<u8>,
    written: usize,
}

impl Input {
    /// Bytes of memory it holds, as counted against the budget.
    fn held(&self) -> usize {
        self.data.capacity()
    }

    /// Gives back the memory of what was written, once that is worth a
    /// copy of the rest (so each byte is copied a bounded number of times).
    fn compact(&mut self) {
        if self.written >= INPUT_COMPACT && self.written * 2 >= self.data.len() {
            self.data.drain(..self.written);
            self.data.shrink_to_fit();
            self.written = 0;
        }
    }
}

/// A process started by `guest-exec`.
#[derive(Debug)]
struct Process {
    /// Start order, for forgetting the oldest.
    serial: u64,
    child: Child,
    /// Readable once the process has ended; dropped once it is reaped.
    pidfd: Option<Arc<OwnedFd>>,
    ended: Option<Ended>,
    input: Option<Input>,
    out: Option<Capture>,
    err: Option<Capture>,
}

impl Process {
    /// Reaps the process if it has ended (without blocking).
    fn reap(&mut self) {
        if self.ended.is_some() {
            return;
        }
        match self.child.try_wait() {
            Ok(Some(status)) => {
                self.ended = Some(match (status.code(), status.signal()) {
                    (Some(code), _) => Ended::Code(code),
                    (None, Some(signal)) => Ended::Signal(signal),
                    (None, None) => Ended::Unknown,
                });
            }
            Ok(None) => return,
            Err(e) => {
                log::warn!("guest-exec: cannot wait for pid {}: {e}", self.child.id());
                self.ended = Some(Ended::Unknown);
            }
        }
        self.pidfd = None;
    }

    /// Whether the process has ended and its captured output is complete.
    fn finished(&self) -> bool {
        self.ended.is_some()
            && !self.out.as_ref().is_some_and(Capture::is_open)
            && !self.err.as_ref().is_some_and(Capture::is_open)
    }

    /// The final status, consuming the process.
    fn into_status(self) -> GuestExecStatus {
        let mut status = GuestExecStatus {
            exited: true,
            ..GuestExecStatus::default()
        };
        match self.ended {
            Some(Ended::Code(code)) => status.exitcode = Some(i64::from(code)),
            Some(Ended::Signal(signal)) => status.signal = Some(i64::from(signal)),
            Some(Ended::Unknown) | None => {}
        }
        if let Some(out) = self.out.filter(|c| !c.data.is_empty()) {
            status.out_data = Some(base64::encode(&out.data));
            status.out_truncated = Some(out.truncated);
        }
        if let Some(err) = self.err.filter(|c| !c.data.is_empty()) {
            status.err_data = Some(base64::encode(&err.data));
            status.err_truncated = Some(err.truncated);
        }
        status
    }
}

/// The processes, shared with the I/O thread.
#[derive(Debug)]
struct Processes {
    by_pid: HashMap<i64, Process>,
    next_serial: u64,
    /// Most bytes of captured output and pending input held
    /// ([`MAX_TOTAL_OUTPUT`]).
    budget: usize,
    /// Input of processes being started, not in `by_pid` yet.
    reserved: usize,
}

impl Default for Processes {
    fn default() -> Self {
        Processes {
            by_pid: HashMap::new(),
            next_serial: 0,
            budget: MAX_TOTAL_OUTPUT,
            reserved: 0,
        }
    }
}

impl Processes {
    /// Bytes of memory held by captured output and by input not yet
    /// written (reserved input included).
    fn held_bytes(&self) -> usize {
        let output: usize = self
            .by_pid
            .values()
            .flat_map(|p| [&p.out, &p.err])
            .flatten()
            .map(|c| c.data.capacity())
            .sum();
        let input: usize = self
            .by_pid
            .values()
            .filter_map(|p| p.input.as_ref())
            .map(Input::held)
            .sum();
        output + input + self.reserved
    }

    /// How many more bytes output or input may take; while that is less
    /// than `wanted`, the oldest finished processes are forgotten.
    fn room(&mut self, wanted: usize) -> usize {
        loop {
            let room = self.budget.saturating_sub(self.held_bytes());
            if room >= wanted || !self.forget_oldest_finished("guest-exec is holding all it may") {
                return room;
            }
        }
    }

    /// Forgets processes past the `keep` most recent, oldest finished first.
    fn forget_past(&mut self, keep: usize) {
        while self.by_pid.len() > keep && self.forget_oldest_finished("too many are kept") {}
    }

    /// Forgets the finished process started first; false if none has
    /// finished.
    fn forget_oldest_finished(&mut self, why: &str) -> bool {
        let oldest = self
            .by_pid
            .iter()
            .filter(|(_, p)| p.finished())
            .min_by_key(|(_, p)| p.serial)
            .map(|(&pid, _)| pid);
        let Some(pid) = oldest else { return false };
        log::warn!("guest-exec: forgetting the uncollected status of pid {pid} ({why})");
        self.by_pid.remove(&pid);
        true
    }
}

/// The processes started by `guest-exec`, and the thread serving them.
#[derive(Debug)]
pub(crate) struct ExecTable {
    shared: Arc<io::Shared>,
}

impl Default for ExecTable {
    fn default() -> Self {
        ExecTable::new()
    }
}

impl Drop for ExecTable {
    fn drop(&mut self) {
        self.shared.stop();
    }
}

impl ExecTable {
    /// An empty table; its thread starts with the first process.
    pub(crate) fn new() -> ExecTable {
        ExecTable {
            shared: Arc::new(io::Shared::new()),
        }
    }

    fn processes(&self) -> MutexGuard<'_, Processes> {
        self.shared.processes()
    }

    /// `guest-exec`: starts a process and returns its pid.
    fn exec(&self, args: &GuestExecArgs) -> Result<GuestExec, CommandError> {
        let mut input = args.input_data.as_deref().map(base64::decode).transpose()?;
        if let Some(data) = &mut input {
            data.shrink_to_fit();
        }
        let input_bytes = input.as_ref().map_or(0, Vec::capacity);
        let mode = args
            .capture_output
            .map_or(GuestExecCaptureOutputMode::None, |c| c.mode());
        let argv = args.arg.as_deref().unwrap_or_default();
        log::info!(
            "guest-exec called: \"{}\"",
            qapi_core::echo(
                &std::iter::once(args.path.as_str())
                    .chain(argv.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" ")
            )
        );
        // Make room first, so nothing starts that cannot be kept.
        {
            let mut processes = self.processes();
            let running = processes.by_pid.values().filter(|p| !p.finished()).count();
            if running >= MAX_RUNNING {
                return Err(CommandError::TooManyProcesses);
            }
            processes.forget_past(MAX_KEPT - 1);
            if processes.room(input_bytes) < input_bytes {
                return Err(input_too_large(
                    input_bytes,
                    processes.held_bytes(),
                    processes.budget,
                ));
            }
            processes.reserved += input_bytes;
        }
        let mut reservation = Reservation {
            shared: &self.shared,
            bytes: input_bytes,
        };
        self.shared.start_thread()?;

        // GLib's message quotes the path: keep the reply short however long
        // the path is.
        let spawned = spawn::spawn(&spawn::Request {
            path: &args.path,
            args: argv,
            env: args.env.as_deref(),
            stdin: input.is_some(),
            mode,
        })
        .map_err(CommandError::Spawn)?;
        let pid = i64::from(spawned.child.id());
        let pidfd = rustix::process::pidfd_open(
            rustix::process::Pid::from_child(&spawned.child),
            rustix::process::PidfdFlags::empty(),
        )
        .ok()
        .map(Arc::new);

        let mut processes = self.processes();
        // From here the input counts as the process's own.
        processes.reserved -= reservation.bytes;
        reservation.bytes = 0;
        let serial = processes.next_serial;
        processes.next_serial += 1;
        let process = Process {
            serial,
            child: spawned.child,
            pidfd,
            ended: None,
            input: spawned.stdin.zip(input).map(|(fd, data)| Input {
                fd: Arc::new(fd),
                data,
                written: 0,
            }),
            out: Capture::open(spawned.stdout),
            err: Capture::open(spawned.stderr),
        };
        // A pid is only reused after its process was reaped: the old entry
        // is a finished process nobody collected.
        if processes.by_pid.insert(pid, process).is_some() {
            log::warn!("guest-exec: pid {pid} was reused; the status of its earlier process is lost");
        }
        drop(processes);
        self.shared.wake();
        Ok(GuestExec { pid })
    }

    /// `guest-exec-status`: how the process is doing; once it has finished,
    /// its outcome and output, handed out this once.
    fn status(&self, pid: i64) -> Result<GuestExecStatus, CommandError> {
        log::info!("guest-exec-status called, pid: {}", pid as u32);
        let mut processes = self.processes();
        let process = processes.by_pid.get_mut(&pid).ok_or(CommandError::UnknownPid)?;
        process.reap();
        if !process.finished() {
            return Ok(GuestExecStatus::default());
        }
        let process = processes.by_pid.remove(&pid).ok_or(CommandError::UnknownPid)?;
        drop(processes);
        // The process's stdin pipe, if something still holds it open,
        // closes here.
        Ok(process.into_status())
    }

    /// How many processes are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.processes().by_pid.len()
    }
}

/// Input counted against the budget for a process being started; given
/// back if the start fails.
struct Reservation<'a> {
    shared: &'a io::Shared,
    bytes: usize,
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            let mut processes = self.shared.processes();
            processes.reserved = processes.reserved.saturating_sub(self.bytes);
        }
    }
}

/// The error of a `guest-exec` whose input does not fit in the budget.
fn input_too_large(input: usize, held: usize, budget: usize) -> CommandError {
    CommandError::ExecInputTooLarge { input, held, budget }
}

#[cfg(test)]
mod tests;
