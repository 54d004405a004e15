//! The thread that serves every `guest-exec` process: feeds standard
//! input, drains captured output and reaps processes as they end.
//!
//! It `poll(2)`s an eventfd (woken when a process is added or the table is
//! dropped), each unreaped process's pidfd, each open output pipe and each
//! standard input still being written. The table's lock is never held while
//! it waits, only while it handles what became ready; the descriptors it
//! waits on are shared (`Arc`) with the table, so one that a status call
//! drops stays open until the thread has let go of it too.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::io::Errno;

use super::{Capture, Processes, MAX_OUTPUT};
use crate::error::CommandError;

/// How often processes without a pidfd are checked for having ended.
const REAP_TICK: Timespec = Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

/// Most bytes taken from one pipe per wake-up, so one busy process cannot
/// starve the others.
const READ_BUDGET: usize = 1024 * 1024;

/// Size of one read.
const CHUNK: usize = 64 * 1024;

/// The table and what the thread needs to serve it.
#[derive(Debug)]
pub(super) struct Shared {
    processes: Mutex<Processes>,
    /// Wakes the thread (a non-blocking eventfd), once it exists.
    waker: Mutex<Option<Arc<OwnedFd>>>,
    stopped: AtomicBool,
}

impl Shared {
    pub(super) fn new() -> Shared {
        Shared {
            processes: Mutex::new(Processes::default()),
            waker: Mutex::new(None),
            stopped: AtomicBool::new(false),
        }
    }

    /// The processes. A panic elsewhere while holding the lock leaves the
    /// table usable (every update to it is a single step).
    pub(super) fn processes(&self) -> MutexGuard<'_, Processes> {
        self.processes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn waker(&self) -> MutexGuard<'_, Option<Arc<OwnedFd>>> {
        self.waker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts the thread unless it runs already.
    pub(super) fn start_thread(self: &Arc<Self>) -> Result<(), CommandError> {
        let mut waker = self.waker();
        if waker.is_some() {
            return Ok(());
        }
        let fd = rustix::event::eventfd(
            0,
            rustix::event::EventfdFlags::CLOEXEC | rustix::event::EventfdFlags::NONBLOCK,
        )
        .map_err(CommandError::ExecEventfd)?;
        let fd = Arc::new(fd);
        let shared = Arc::downgrade(self);
        let thread_fd = Arc::clone(&fd);
        std::thread::Builder::new()
            .name("qga-exec".into())
            .stack_size(256 * 1024)
            .spawn(move || serve(&shared, &thread_fd))
            .map_err(|e| CommandError::ExecThread(e.into()))?;
        *waker = Some(fd);
        Ok(())
    }

    /// Makes the thread look at the table again.
    pub(super) fn wake(&self) {
        if let Some(fd) = self.waker().as_ref() {
            // A full counter already means "wake up".
            let _ = rustix::io::write(fd, &1u64.to_ne_bytes());
        }
    }

    /// Ends the thread (the table is going away).
    pub(super) fn stop(&self) {
        self.stopped.store(true, Ordering::SeqCst);
        self.wake();
    }
}

/// What a watched descriptor is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Role {
    /// The process's pidfd.
    Exit,
    /// Its standard input.
    Input,
    /// Its standard output pipe.
    Out,
    /// Its standard error pipe.
    Err,
}

/// One descriptor to wait on.
struct Watch {
    pid: i64,
    role: Role,
    fd: Arc<OwnedFd>,
}

/// Collects what to wait on; also says whether some process has no pidfd
/// and so must be checked on a timer.
fn watches(processes: &Processes) -> (Vec<Watch>, bool) {
    let mut list = Vec::new();
    let mut tick = false;
    for (&pid, p) in &processes.by_pid {
        let mut add = |role, fd: &Arc<OwnedFd>| {
            list.push(Watch {
                pid,
                role,
                fd: Arc::clone(fd),
            })
        };
        match (&p.pidfd, p.ended) {
            (Some(fd), None) => add(Role::Exit, fd),
            (None, None) => tick = true,
            _ => {}
        }
        if let Some(input) = &p.input {
            add(Role::Input, &input.fd);
        }
        if let Some(fd) = p.out.as_ref().and_then(|c| c.fd.as_ref()) {
            add(Role::Out, fd);
        }
        if let Some(fd) = p.err.as_ref().and_then(|c| c.fd.as_ref()) {
            add(Role::Err, fd);
        }
    }
    (list, tick)
}

/// The thread's loop; returns when the table is gone.
fn serve(shared: &Weak<Shared>, waker: &OwnedFd) {
    let mut buffer = vec![0u8; CHUNK];
    loop {
        let (list, tick) = {
            let Some(shared) = shared.upgrade() else { return };
            if shared.stopped.load(Ordering::SeqCst) {
                return;
            }
            let processes = shared.processes();
            watches(&processes)
        };
        let mut fds: Vec<PollFd<'_>> = Vec::with_capacity(list.len() + 1);
        fds.push(PollFd::new(waker, PollFlags::IN));
        for w in &list {
            let events = match w.role {
                Role::Input => PollFlags::OUT,
                _ => PollFlags::IN,
            };
            fds.push(PollFd::new(&w.fd, events));
        }
        match rustix::event::poll(&mut fds, tick.then_some(&REAP_TICK)) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(e) => {
                log::error!("guest-exec: poll failed: {e}; retrying");
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        if ready.first().copied().unwrap_or(false) {
            let mut counter = [0u8; 8];
            let _ = rustix::io::read(waker, &mut counter);
        }

        let Some(shared) = shared.upgrade() else { return };
        let mut processes = shared.processes();
        for (w, _) in list.iter().zip(&ready[1..]).filter(|(_, &r)| r) {
            handle(&mut processes, w, &mut buffer);
        }
        if tick {
            for p in processes.by_pid.values_mut().filter(|p| p.pidfd.is_none()) {
                p.reap();
            }
        }
    }
}

/// Deals with one descriptor that became ready.
fn handle(processes: &mut Processes, w: &Watch, buffer: &mut [u8]) {
    // Ask for the room this read could use: none for a full capture, so
    // that no uncollected status is forgotten for nothing.
    let growth = |c: &Capture| READ_BUDGET.min(MAX_OUTPUT.saturating_sub(c.data.capacity()));
    let wanted = processes.by_pid.get(&w.pid).map_or(0, |p| match w.role {
        Role::Out => p.out.as_ref().map_or(0, growth),
        Role::Err => p.err.as_ref().map_or(0, growth),
        Role::Exit | Role::Input => 0,
    });
    let mut room = processes.room(wanted);
    let Some(p) = processes.by_pid.get_mut(&w.pid) else {
        return;
    };
    let same = |fd: Option<&Arc<OwnedFd>>| fd.is_some_and(|fd| Arc::ptr_eq(fd, &w.fd));
    match w.role {
        Role::Exit if same(p.pidfd.as_ref()) => p.reap(),
        Role::Input if same(p.input.as_ref().map(|i| &i.fd)) => {
            if let Some(input) = &mut p.input {
                if feed(&input.fd, &input.data, &mut input.written) {
                    // All written, or the process stopped reading: close,
                    // giving back what the input held.
                    p.input = None;
                } else {
                    input.compact();
                }
            }
        }
        Role::Out if same(p.out.as_ref().and_then(|c| c.fd.as_ref())) => {
            if let Some(capture) = &mut p.out {
                drain(capture, &w.fd, buffer, &mut room);
            }
        }
        Role::Err if same(p.err.as_ref().and_then(|c| c.fd.as_ref())) => {
            if let Some(capture) = &mut p.err {
                drain(capture, &w.fd, buffer, &mut room);
            }
        }
        // The descriptor belongs to a process that was collected, and the
        // pid was reused since: nothing to do.
        _ => {}
    }
}

/// Writes what the pipe takes; true when done with it.
fn feed(fd: impl AsFd, data: &[u8], written: &mut usize) -> bool {
    while *written < data.len() {
        match rustix::io::write(&fd, &data[*written..]) {
            Ok(n) => *written += n,
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return false,
            Err(e) => {
                // Typically EPIPE: the process closed its standard input.
                log::debug!("guest-exec: writing input-data: {e}");
                return true;
            }
        }
    }
    true
}

/// Reads what is there, keeping what `room` allows; closes the capture at
/// end of file.
fn drain(capture: &mut Capture, fd: &Arc<OwnedFd>, buffer: &mut [u8], room: &mut usize) {
    let mut taken = 0;
    while taken < READ_BUDGET {
        match rustix::io::read(fd, &mut *buffer) {
            Ok(0) => {
                capture.fd = None;
                return;
            }
            Ok(n) => {
                capture.keep(&buffer[..n], room);
                taken += n;
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return,
            Err(e) => {
                log::warn!("guest-exec: reading output: {e}");
                capture.fd = None;
                return;
            }
        }
    }
}
