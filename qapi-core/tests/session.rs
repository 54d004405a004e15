//! The session end to end without I/O: bytes in, QEMU's reply bytes out.
#![allow(clippy::unwrap_used)]

use std::collections::VecDeque;
use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qapi_core::{
    command_table, CommandSpec, DispatchConfig, Dispatcher, FreezeState, Policy, QapiError, Registry,
    Session, MAX_ABANDONED,
};
use qga_protocol::schema::{Empty, GuestAgentInfo, GuestSyncArgs, NoArgs};
use qga_protocol::{Link, Wait};
use serde::Deserialize;

/// A link that collects what is written and, while a command runs, hands
/// over its `pending` chunks of host input one per wait.
#[derive(Default)]
struct TestLink {
    written: Vec<u8>,
    pending: VecDeque<Vec<u8>>,
    current: Vec<u8>,
    stop_at: Option<Instant>,
}

impl Link for TestLink {
    fn flush(&mut self, out: &mut Vec<u8>) {
        self.written.append(out);
    }

    fn wait(&mut self, _ready: BorrowedFd<'_>, read: bool, deadline: Option<Instant>) -> Wait<'_> {
        if self.stop_at.is_some_and(|at| Instant::now() >= at) {
            return Wait::Stopped;
        }
        if read {
            if let Some(chunk) = self.pending.pop_front() {
                self.current = chunk;
                return Wait::Input(&self.current);
            }
        }
        if deadline.is_some_and(|at| Instant::now() >= at) {
            return Wait::TimedOut;
        }
        std::thread::sleep(Duration::from_millis(1));
        Wait::Ready
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\u{fffd}', "<FF>")
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SleepArgs {
    ms: u64,
}

/// What the test commands share: how often their hooks ran.
#[derive(Default)]
struct Counters {
    /// Runs of `test-urgent`'s urgent hook.
    fired: AtomicUsize,
    /// Runs of the cancel hooks.
    cancelled: AtomicUsize,
}

fn sleep(_: &Counters, a: SleepArgs) -> Result<u64, QapiError> {
    std::thread::sleep(Duration::from_millis(a.ms));
    Ok(a.ms)
}

fn quiet(_: &Counters, _: NoArgs) -> Result<Empty, QapiError> {
    Ok(Empty {})
}

fn fail(_: &Counters, _: NoArgs) -> Result<(), QapiError> {
    Err(QapiError::generic("it failed"))
}

fn fire(counters: &Counters) {
    counters.fired.fetch_add(1, Ordering::SeqCst);
}

fn count_cancel(counters: &Counters) {
    counters.cancelled.fetch_add(1, Ordering::SeqCst);
}

/// The core commands and three test commands.
static BASIC: &[CommandSpec<Counters>] = command_table! {
    Counters;
    "guest-sync-delimited" => qapi_core::sync(GuestSyncArgs) -> i64 [instant, while_frozen, delimited];
    "guest-sync" => qapi_core::sync(GuestSyncArgs) -> i64 [instant, while_frozen];
    "guest-ping" => qapi_core::ping(NoArgs) -> Empty [instant, while_frozen];
    "guest-info" => @registry qapi_core::info(NoArgs) -> GuestAgentInfo [instant, while_frozen];
    "test-sleep" => sleep(SleepArgs) -> u64;
    "test-quiet" => quiet(NoArgs) -> Empty [silent];
    "test-fail" => fail(NoArgs) -> ();
};

/// [`BASIC`], then commands with deadlines, hooks and frozen-state flags of
/// their own.
static EXTENDED: &[CommandSpec<Counters>] = command_table! {
    Counters;
    "guest-ping" => qapi_core::ping(NoArgs) -> Empty [instant, while_frozen];
    "test-sleep" => sleep(SleepArgs) -> u64;
    "test-long" => sleep(SleepArgs) -> u64 [no_deadline];
    "test-urgent" => quiet(NoArgs) -> Empty [urgent(fire)];
    "test-bounded-cancellable" => sleep(SleepArgs) -> u64 [cancel(count_cancel)];
    "test-cancellable" => sleep(SleepArgs) -> u64 [no_deadline, cancel(count_cancel)];
    "test-essential" => sleep(SleepArgs) -> u64 [while_frozen];
};

/// A registry of `table` with `policy`, its counters and its frozen state.
fn registry_of(
    table: &[CommandSpec<Counters>],
    policy: Policy,
) -> (Registry, Arc<Counters>, Arc<FreezeState>) {
    let counters = Arc::new(Counters::default());
    let freeze = Arc::new(FreezeState::new(false));
    let registry = Registry::new("10.1.0", table, &counters, Arc::clone(&freeze), policy);
    (registry, counters, freeze)
}

fn registry() -> Registry {
    registry_of(BASIC, Policy::All).0
}

fn extended() -> (Registry, Arc<Counters>) {
    let (registry, counters, _) = registry_of(EXTENDED, Policy::All);
    (registry, counters)
}

fn session_with(registry: Registry, deadline: Option<Duration>) -> Session {
    Session::new(Dispatcher::new(Arc::new(registry), DispatchConfig { deadline }))
}

fn run(session: &mut Session, input: &[u8]) -> String {
    let mut link = TestLink::default();
    session.feed(input, &mut link);
    text(&link.written)
}

#[test]
fn answers_like_qemu() {
    let mut s = session_with(registry(), None);
    let cases: &[(&[u8], &str)] = &[
        (b"\xff", "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n"),
        (b"{\"execute\":\"guest-sync-delimited\",\"arguments\":{\"id\":123}}", "<FF>{\"return\": 123}\n"),
        (b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":-5}}", "{\"return\": -5}\n"),
        (b"{\"execute\":\"guest-ping\",\"id\":\"abc\"}", "{\"return\": {}, \"id\": \"abc\"}\n"),
        (
            b"{\"execute\":\"nope\",\"id\":5}",
            "{\"id\": 5, \"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command nope has not been found\"}}\n",
        ),
        (
            b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1,\"x\":2}}",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}\n",
        ),
        (
            b"{\"execute\":\"guest-sync-delimited\"}",
            "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'id' is missing\"}}\n",
        ),
        (b"{\"execute\":\"test-quiet\"}", ""),
        (
            b"{\"execute\":\"test-fail\",\"id\":[1]}",
            "{\"id\": [1], \"error\": {\"class\": \"GenericError\", \"desc\": \"it failed\"}}\n",
        ),
        (b"{\"execute\":\"test-sleep\",\"arguments\":{\"ms\":1}}", "{\"return\": 1}\n"),
    ];
    for (input, expected) in cases {
        assert_eq!(
            run(&mut s, input),
            *expected,
            "input {:?}",
            String::from_utf8_lossy(input)
        );
    }
}

#[test]
fn guest_info_lists_commands_and_their_state() {
    let blocked = Policy::Block(["test-fail".into(), "no-such-command".into()].into());
    let mut s = session_with(registry_of(BASIC, blocked).0, None);
    let out = run(&mut s, b"{\"execute\":\"guest-info\"}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let cmds = v["return"]["supported_commands"].as_array().unwrap();
    assert_eq!(v["return"]["version"], "10.1.0");
    assert_eq!(cmds.len(), 7);
    let find = |n: &str| cmds.iter().find(|c| c["name"] == n).unwrap().clone();
    assert_eq!(find("test-fail")["enabled"], false);
    assert_eq!(find("test-quiet")["success-response"], false);
    assert_eq!(find("guest-ping")["enabled"], true);
    assert_eq!(
        run(&mut s, b"{\"execute\":\"test-fail\"}"),
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command test-fail has been disabled\"}}\n"
    );
}

#[test]
fn allow_list_and_frozen_state_disable_with_reasons() {
    let allowed = Policy::AllowOnly(["guest-ping".into(), "guest-info".into()].into());
    let (r, _, freeze) = registry_of(BASIC, allowed);
    let mut s = Session::new(Dispatcher::new(Arc::new(r), DispatchConfig::default()));
    assert_eq!(
        run(&mut s, b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}"),
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command guest-sync has been disabled: the command is not allowed\"}}\n"
    );
    freeze.set(true);
    assert_eq!(
        run(&mut s, b"{\"execute\":\"test-sleep\",\"arguments\":{\"ms\":1}}"),
        "{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command test-sleep has been disabled: the agent is in frozen state\"}}\n"
    );
    assert_eq!(run(&mut s, b"{\"execute\":\"guest-ping\"}"), "{\"return\": {}}\n");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let mut s = session_with(registry(), None);
    let mut input = Vec::new();
    let mut expected = String::new();
    for i in 0..1000 {
        if i % 100 == 0 {
            input.extend_from_slice(
                format!("{{\"execute\":\"test-sleep\",\"arguments\":{{\"ms\":0}},\"id\":{i}}}").as_bytes(),
            );
            expected.push_str(&format!("{{\"return\": 0, \"id\": {i}}}\n"));
        } else {
            input.extend_from_slice(format!("{{\"execute\":\"guest-ping\",\"id\":{i}}}").as_bytes());
            expected.push_str(&format!("{{\"return\": {{}}, \"id\": {i}}}\n"));
        }
    }
    assert_eq!(run(&mut s, &input), expected);
}

#[test]
fn an_overrunning_command_times_out_and_later_requests_are_served() {
    let mut s = session_with(registry(), Some(Duration::from_millis(200)));
    let out = run(
        &mut s,
        b"{\"execute\":\"test-sleep\",\"arguments\":{\"ms\":1500},\"id\":1}{\"execute\":\"guest-ping\",\"id\":2}\
          {\"execute\":\"test-sleep\",\"arguments\":{\"ms\":5},\"id\":3}",
    );
    assert_eq!(
        out,
        "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"Command test-sleep timed out after 0.2 seconds; its result will be discarded\"}}\n\
         {\"return\": {}, \"id\": 2}\n{\"return\": 5, \"id\": 3}\n"
    );
}

#[test]
fn a_command_without_deadline_runs_to_its_end() {
    let mut s = session_with(extended().0, Some(Duration::from_millis(100)));
    let out = run(
        &mut s,
        b"{\"execute\":\"test-long\",\"arguments\":{\"ms\":400},\"id\":1}\
          {\"execute\":\"test-sleep\",\"arguments\":{\"ms\":400},\"id\":2}",
    );
    assert_eq!(
        out,
        "{\"return\": 400, \"id\": 1}\n\
         {\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": \"Command test-sleep timed out after 0.1 seconds; its result will be discarded\"}}\n"
    );
}

fn sleep_request(ms: u64, id: i64) -> Vec<u8> {
    format!("{{\"execute\":\"test-sleep\",\"arguments\":{{\"ms\":{ms}}},\"id\":{id}}}").into_bytes()
}

#[test]
fn an_urgent_request_arriving_during_a_command_runs_its_hook_at_once() {
    let (r, counters) = extended();
    let fired = || counters.fired.load(Ordering::SeqCst);
    let mut s = session_with(r, None);
    // Queued together with a command: no hook, it just waits its turn.
    let mut input = sleep_request(20, 1);
    input.extend_from_slice(b"{\"execute\":\"test-urgent\",\"id\":2}");
    assert_eq!(
        run(&mut s, &input),
        "{\"return\": 20, \"id\": 1}\n{\"return\": {}, \"id\": 2}\n"
    );
    assert_eq!(fired(), 0);
    // Arriving while the command runs: the hook runs before the command
    // ends; the replies keep their order.
    let mut link = TestLink::default();
    link.pending
        .push_back(b"{\"execute\":\"test-urgent\",\"id\":4}".to_vec());
    s.feed(&sleep_request(300, 3), &mut link);
    assert_eq!(fired(), 1);
    assert_eq!(
        text(&link.written),
        "{\"return\": 300, \"id\": 3}\n{\"return\": {}, \"id\": 4}\n"
    );
}

#[test]
fn a_command_given_up_on_is_asked_to_cancel() {
    let (r, counters) = extended();
    let mut s = session_with(r, Some(Duration::from_millis(50)));
    let out = run(
        &mut s,
        b"{\"execute\":\"test-bounded-cancellable\",\"arguments\":{\"ms\":5},\"id\":1}\
          {\"execute\":\"test-bounded-cancellable\",\"arguments\":{\"ms\":500},\"id\":2}",
    );
    assert!(
        out.starts_with("{\"return\": 5, \"id\": 1}\n{\"id\": 2, \"error\""),
        "{out}"
    );
    assert_eq!(counters.cancelled.load(Ordering::SeqCst), 1);
}

#[test]
fn stopping_interrupts_the_running_command_and_drops_the_queue() {
    let mut s = session_with(registry(), None);
    let mut link = TestLink {
        stop_at: Some(Instant::now() + Duration::from_millis(50)),
        ..TestLink::default()
    };
    let mut input = sleep_request(2000, 1);
    input.extend_from_slice(b"{\"execute\":\"guest-ping\",\"id\":2}");
    let started = Instant::now();
    s.feed(&input, &mut link);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert_eq!(
        text(&link.written),
        "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"Command test-sleep was interrupted: the agent is stopping\"}}\n"
    );
}

#[test]
fn past_the_cap_of_abandoned_commands_only_essential_ones_run() {
    let mut s = session_with(extended().0, Some(Duration::from_millis(20)));
    let mut input = Vec::new();
    for id in 0..MAX_ABANDONED as i64 {
        input.extend_from_slice(&sleep_request(3000, id));
    }
    let out = run(&mut s, &input);
    assert_eq!(out.matches("timed out").count(), MAX_ABANDONED, "{out}");
    let refused = run(&mut s, &sleep_request(1, 99));
    assert!(
        refused.contains("was not started: 16 commands that overran their deadline are still running"),
        "{refused}"
    );
    assert_eq!(run(&mut s, b"{\"execute\":\"guest-ping\"}"), "{\"return\": {}}\n");
    assert_eq!(
        run(
            &mut s,
            b"{\"execute\":\"test-essential\",\"arguments\":{\"ms\":1}}"
        ),
        "{\"return\": 1}\n"
    );
}

#[test]
fn an_urgent_request_preempts_a_cancellable_command() {
    let (r, cancelled) = preemptible();
    let mut s = session_with(r, None);
    let mut link = TestLink::default();
    link.pending
        .push_back(b"{\"execute\":\"test-urgent\",\"id\":2}".to_vec());
    let started = Instant::now();
    s.feed(
        b"{\"execute\":\"test-cancellable\",\"arguments\":{\"ms\":3000},\"id\":1}",
        &mut link,
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(cancelled(), 1);
    assert_eq!(
        text(&link.written),
        "{\"id\": 1, \"error\": {\"class\": \"GenericError\", \"desc\": \"Command test-cancellable was \
         cancelled: test-urgent arrived while it ran\"}}\n{\"return\": {}, \"id\": 2}\n"
    );
}

/// A registry with a cancellable sleep and an urgent command, and the
/// number of times the sleep was cancelled.
fn preemptible() -> (Registry, impl Fn() -> usize) {
    let (registry, counters) = extended();
    (registry, move || counters.cancelled.load(Ordering::SeqCst))
}

#[test]
fn an_urgent_request_sent_with_the_command_waits_for_it_for_the_grace() {
    let (r, cancelled) = preemptible();
    let mut s = session_with(r, None);
    // Quick: it ends within the grace, and both answer as QEMU's would.
    let out = run(
        &mut s,
        b"{\"execute\":\"test-cancellable\",\"arguments\":{\"ms\":50},\"id\":1}\
          {\"execute\":\"test-urgent\",\"id\":2}",
    );
    assert_eq!(out, "{\"return\": 50, \"id\": 1}\n{\"return\": {}, \"id\": 2}\n");
    assert_eq!(cancelled(), 0);
    // Slow: preempted once the grace is over.
    let started = Instant::now();
    let out = run(
        &mut s,
        b"{\"execute\":\"test-cancellable\",\"arguments\":{\"ms\":5000},\"id\":3}\
          {\"execute\":\"test-urgent\",\"id\":4}",
    );
    let took = started.elapsed();
    assert!(
        took >= qapi_core::URGENT_GRACE && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(out.starts_with("{\"id\": 3, \"error\""), "{out}");
    assert!(out.ends_with("{\"return\": {}, \"id\": 4}\n"), "{out}");
    assert_eq!(cancelled(), 1);
}

#[test]
fn an_urgent_request_that_would_fail_preempts_nothing() {
    let (r, cancelled) = preemptible();
    let mut s = session_with(r, None);
    let mut link = TestLink::default();
    link.pending
        .push_back(b"{\"execute\":\"test-urgent\",\"arguments\":{\"x\":1},\"id\":2}".to_vec());
    s.feed(
        b"{\"execute\":\"test-cancellable\",\"arguments\":{\"ms\":300},\"id\":1}",
        &mut link,
    );
    assert_eq!(cancelled(), 0);
    assert_eq!(
        text(&link.written),
        "{\"return\": 300, \"id\": 1}\n{\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}\n"
    );
}
