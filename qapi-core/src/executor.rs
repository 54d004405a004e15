//! Running commands off the channel thread.
//!
//! A command that may block (file I/O, freeze, exec) runs on a worker
//! thread. The channel thread starts it ([`Executor::start`]) and goes on
//! watching the host and the clock; the worker writes a byte to a pipe
//! ([`Running::ready_fd`]) when the outcome is ready, so one `poll` can wait
//! for the command, the host and a stop request at once.
//!
//! A command whose wait is given up (it overran its deadline, or the agent
//! is stopping) is *abandoned*: its worker finishes it on its own and drops
//! the late result, and the next command gets a fresh worker. Abandoned
//! workers still hold threads and whatever the command holds, so
//! [`Executor::abandoned`] counts them while they run; the dispatcher
//! refuses new blocking commands past [`MAX_ABANDONED`].

use std::io::{PipeReader, PipeWriter, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;

use crate::error::QapiError;
use crate::registry::Outcome;

/// A command call, ready to run anywhere.
pub type Job = Box<dyn FnOnce() -> Outcome + Send>;

/// Most abandoned commands that may still be running before new blocking
/// commands are refused.
pub const MAX_ABANDONED: usize = 16;

/// Runs jobs on a worker thread and hands their outcomes back.
#[derive(Debug, Default)]
pub struct Executor {
    /// The worker waiting for a job, if any.
    idle: Option<Worker>,
    /// Abandoned workers whose job still runs.
    abandoned: Arc<AtomicUsize>,
}

/// One worker thread and the channels to it.
#[derive(Debug)]
struct Worker {
    jobs: Sender<Job>,
    results: Receiver<Outcome>,
    /// Readable once a result has been sent (one byte per result).
    done: PipeReader,
    /// Set when the channel thread gives up on this worker.
    abandoned: Arc<AtomicBool>,
}

/// What a worker thread owns.
struct WorkerEnds {
    jobs: Receiver<Job>,
    results: Sender<Outcome>,
    done: PipeWriter,
    abandoned: Arc<AtomicBool>,
    abandoned_count: Arc<AtomicUsize>,
}

impl WorkerEnds {
    fn serve(mut self) {
        for job in &self.jobs {
            let outcome = run_caught(job);
            if self.results.send(outcome).is_err() || self.done.write_all(&[1]).is_err() {
                break;
            }
        }
        // The jobs channel closes when the executor drops this worker,
        // whether idle or abandoned; only an abandoned one was counted.
        if self.abandoned.load(Ordering::SeqCst) {
            self.abandoned_count.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Worker {
    fn spawn(abandoned_count: &Arc<AtomicUsize>) -> std::io::Result<Worker> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        let (done, done_tx) = std::io::pipe()?;
        let abandoned = Arc::new(AtomicBool::new(false));
        let ends = WorkerEnds {
            jobs: job_rx,
            results: result_tx,
            done: done_tx,
            abandoned: Arc::clone(&abandoned),
            abandoned_count: Arc::clone(abandoned_count),
        };
        thread::Builder::new()
            .name("qga-command".into())
            .spawn(move || ends.serve())?;
        Ok(Worker {
            jobs,
            results,
            done,
            abandoned,
        })
    }
}

/// Runs a job, turning a panic into an error reply.
pub(crate) fn run_caught<F: FnOnce() -> Outcome>(job: F) -> Outcome {
    catch_unwind(AssertUnwindSafe(job))
        .unwrap_or_else(|_| Err(QapiError::generic("the command failed unexpectedly")))
}

/// A job started on a worker, not yet collected.
#[derive(Debug)]
pub struct Running {
    worker: Worker,
}

impl Running {
    /// Turns readable once the outcome is ready.
    pub fn ready_fd(&self) -> BorrowedFd<'_> {
        self.worker.done.as_fd()
    }

    /// The outcome, if the job has ended (never blocks for long: the
    /// worker sends the outcome before it marks [`Running::ready_fd`]).
    pub fn try_outcome(&mut self) -> Option<Outcome> {
        match self.worker.results.try_recv() {
            Ok(outcome) => {
                let mut byte = [0u8; 1];
                let _ = self.worker.done.read_exact(&mut byte);
                Some(outcome)
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => {
                Some(Err(QapiError::generic("the command failed unexpectedly")))
            }
        }
    }
}

impl Executor {
    /// An executor with no worker yet.
    pub fn new() -> Self {
        Executor::default()
    }

    /// How many abandoned commands are still running.
    pub fn abandoned(&self) -> usize {
        self.abandoned.load(Ordering::SeqCst)
    }

    /// Starts `job` (for command `name`) on a worker.
    pub fn start(&mut self, name: &str, job: Job) -> Result<Running, QapiError> {
        let worker = match self.idle.take() {
            Some(worker) => worker,
            None => Worker::spawn(&self.abandoned)
                .map_err(|e| QapiError::generic(format!("failed to start a thread for {name}: {e}")))?,
        };
        match worker.jobs.send(job) {
            Ok(()) => Ok(Running { worker }),
            // The worker is gone (it cannot be, short of a bug).
            Err(_) => Err(QapiError::internal(name)),
        }
    }

    /// Takes back the worker of a job whose outcome was collected.
    pub fn finish(&mut self, running: Running) {
        self.idle = Some(running.worker);
    }

    /// Gives up on a job: its worker finishes it alone and drops the
    /// result; it counts in [`Executor::abandoned`] until then.
    pub fn abandon(&mut self, running: Running) {
        self.abandoned.fetch_add(1, Ordering::SeqCst);
        running.worker.abandoned.store(true, Ordering::SeqCst);
        // Dropping the worker closes its jobs channel: it exits after the
        // job and uncounts itself.
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::{Duration, Instant};

    use super::*;

    /// Waits for the outcome without polling the pipe (tests only).
    fn wait(running: &mut Running, limit: Duration) -> Option<Outcome> {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(outcome) = running.try_outcome() {
                return Some(outcome);
            }
            thread::sleep(Duration::from_millis(2));
        }
        None
    }

    #[test]
    fn runs_jobs_and_reuses_the_worker() {
        let mut ex = Executor::new();
        let mut running = ex.start("a", Box::new(|| Ok(b"1".to_vec()))).unwrap();
        assert_eq!(wait(&mut running, Duration::from_secs(5)).unwrap().unwrap(), b"1");
        ex.finish(running);
        assert!(ex.idle.is_some());
        let mut running = ex.start("b", Box::new(|| Err(QapiError::generic("no")))).unwrap();
        assert_eq!(
            wait(&mut running, Duration::from_secs(5))
                .unwrap()
                .unwrap_err()
                .desc,
            "no"
        );
    }

    #[test]
    fn the_ready_pipe_turns_readable_when_the_outcome_is_there() {
        let mut ex = Executor::new();
        let mut running = ex
            .start(
                "slow",
                Box::new(|| {
                    thread::sleep(Duration::from_millis(100));
                    Ok(Vec::new())
                }),
            )
            .unwrap();
        assert!(running.try_outcome().is_none());
        // A blocking one-byte read returns exactly when the worker is done.
        let mut byte = [0u8; 1];
        (&running.worker.done).read_exact(&mut byte).unwrap();
        assert!(running.worker.results.try_recv().is_ok());
    }

    #[test]
    fn abandoned_workers_are_counted_until_their_job_ends() {
        let mut ex = Executor::new();
        let running = ex
            .start(
                "guest-slow",
                Box::new(|| {
                    thread::sleep(Duration::from_millis(300));
                    Ok(b"late".to_vec())
                }),
            )
            .unwrap();
        ex.abandon(running);
        assert_eq!(ex.abandoned(), 1);
        let mut next = ex.start("next", Box::new(|| Ok(b"2".to_vec()))).unwrap();
        assert_eq!(wait(&mut next, Duration::from_secs(5)).unwrap().unwrap(), b"2");
        let start = Instant::now();
        while ex.abandoned() > 0 && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(ex.abandoned(), 0);
    }

    #[test]
    fn a_worker_abandoned_after_it_answered_is_uncounted_once() {
        let mut ex = Executor::new();
        let running = ex.start("quick", Box::new(|| Ok(Vec::new()))).unwrap();
        // Let the result arrive, then give up anyway.
        let mut byte = [0u8; 1];
        (&running.worker.done).read_exact(&mut byte).unwrap();
        assert!(running.worker.results.try_recv().is_ok());
        ex.abandon(running);
        let start = Instant::now();
        while ex.abandoned() > 0 && start.elapsed() < Duration::from_secs(5) {
            thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(ex.abandoned(), 0);
    }

    #[test]
    fn a_panicking_job_becomes_an_error() {
        let mut ex = Executor::new();
        let mut running = ex.start("p", Box::new(|| panic!("boom"))).unwrap();
        assert!(wait(&mut running, Duration::from_secs(5)).unwrap().is_err());
        ex.finish(running);
        let mut running = ex.start("q", Box::new(|| Ok(b"3".to_vec()))).unwrap();
        assert_eq!(wait(&mut running, Duration::from_secs(5)).unwrap().unwrap(), b"3");
    }
}
