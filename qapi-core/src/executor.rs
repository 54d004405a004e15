//! Running commands off the channel thread, each within a deadline.
//!
//! A command that may block (file I/O, freeze, exec) runs on a worker thread
//! while the channel thread waits for it at most the deadline. If it
//! overruns, the host gets an error naming the deadline, the worker is
//! abandoned (it finishes on its own and its late result is dropped) and a
//! fresh worker takes the next command, so the agent keeps serving requests
//! in order.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::QapiError;
use crate::registry::Outcome;

/// A command call, ready to run anywhere.
pub type Job = Box<dyn FnOnce() -> Outcome + Send>;

/// How often a waiting channel thread looks at the interrupt flag.
const INTERRUPT_POLL: Duration = Duration::from_millis(50);

/// Runs jobs on a worker thread with a deadline.
#[derive(Debug)]
pub struct Executor {
    deadline: Option<Duration>,
    interrupt: Option<Arc<AtomicBool>>,
    worker: Option<Worker>,
}

#[derive(Debug)]
struct Worker {
    jobs: Sender<Job>,
    results: Receiver<Outcome>,
}

impl Worker {
    fn spawn() -> std::io::Result<Worker> {
        let (jobs, job_rx) = mpsc::channel::<Job>();
        let (result_tx, results) = mpsc::channel();
        thread::Builder::new().name("qga-command".into()).spawn(move || {
            for job in job_rx {
                if result_tx.send(run_caught(job)).is_err() {
                    break;
                }
            }
        })?;
        Ok(Worker { jobs, results })
    }
}

/// Runs a job, turning a panic into an error reply.
pub(crate) fn run_caught<F: FnOnce() -> Outcome>(job: F) -> Outcome {
    catch_unwind(AssertUnwindSafe(job))
        .unwrap_or_else(|_| Err(QapiError::generic("the command failed unexpectedly")))
}

impl Executor {
    /// An executor; `deadline` of `None` lets commands run as long as they
    /// take. `interrupt`, when set, ends a wait early (agent shutdown).
    pub fn new(deadline: Option<Duration>, interrupt: Option<Arc<AtomicBool>>) -> Self {
        Executor {
            deadline,
            interrupt,
            worker: None,
        }
    }

    /// The deadline applied to each job.
    pub fn deadline(&self) -> Option<Duration> {
        self.deadline
    }

    /// Runs `job` for command `name` on the worker and waits for it, at
    /// most the deadline.
    pub fn run(&mut self, name: &str, job: Job) -> Outcome {
        self.run_within(name, job, self.deadline)
    }

    /// Runs `job` for command `name` on the worker and waits for it, at
    /// most `deadline` (`None`: until it ends, or an interrupt).
    pub fn run_within(&mut self, name: &str, job: Job, deadline: Option<Duration>) -> Outcome {
        let worker = match self.worker.take() {
            Some(worker) => worker,
            None => Worker::spawn()
                .map_err(|e| QapiError::generic(format!("failed to start a thread for {name}: {e}")))?,
        };
        if let Err(mpsc::SendError(job)) = worker.jobs.send(job) {
            // The worker is gone (it cannot be, short of a bug): run here.
            return run_caught(job);
        }
        let started = Instant::now();
        loop {
            let mut wait = INTERRUPT_POLL;
            if let Some(deadline) = deadline {
                let left = deadline.saturating_sub(started.elapsed());
                if left.is_zero() {
                    log::warn!("{name} overran its deadline of {deadline:?}; abandoning it");
                    return Err(QapiError::timed_out(name, deadline));
                }
                wait = wait.min(left);
            }
            match worker.results.recv_timeout(wait) {
                Ok(outcome) => {
                    self.worker = Some(worker);
                    return outcome;
                }
                Err(RecvTimeoutError::Timeout) => {
                    if self.interrupt.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
                        return Err(QapiError::interrupted(name));
                    }
                }
                Err(RecvTimeoutError::Disconnected) => return Err(QapiError::internal(name)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn runs_jobs_and_reuses_the_worker() {
        let mut ex = Executor::new(Some(Duration::from_secs(5)), None);
        assert_eq!(ex.run("a", Box::new(|| Ok(b"1".to_vec()))).unwrap(), b"1");
        assert_eq!(
            ex.run("b", Box::new(|| Err(QapiError::generic("no"))))
                .unwrap_err()
                .desc,
            "no"
        );
        assert!(ex.worker.is_some());
    }

    #[test]
    fn an_overrunning_job_is_abandoned_and_the_next_runs() {
        let mut ex = Executor::new(Some(Duration::from_millis(100)), None);
        let err = ex
            .run(
                "guest-slow",
                Box::new(|| {
                    thread::sleep(Duration::from_millis(600));
                    Ok(b"late".to_vec())
                }),
            )
            .unwrap_err();
        assert_eq!(
            err.desc,
            "Command guest-slow timed out after 0.1 seconds; its result will be discarded"
        );
        assert!(ex.worker.is_none());
        assert_eq!(ex.run("next", Box::new(|| Ok(b"2".to_vec()))).unwrap(), b"2");
    }

    #[test]
    fn a_panicking_job_becomes_an_error() {
        let mut ex = Executor::new(None, None);
        assert!(ex.run("p", Box::new(|| panic!("boom"))).is_err());
        assert_eq!(ex.run("q", Box::new(|| Ok(b"3".to_vec()))).unwrap(), b"3");
    }

    #[test]
    fn interrupt_ends_the_wait() {
        let flag = Arc::new(AtomicBool::new(true));
        let mut ex = Executor::new(None, Some(flag));
        let err = ex
            .run(
                "guest-slow",
                Box::new(|| {
                    thread::sleep(Duration::from_millis(400));
                    Ok(Vec::new())
                }),
            )
            .unwrap_err();
        assert!(err.desc.contains("interrupted"));
    }
}
