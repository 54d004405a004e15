//! Freezing can never wedge the guest: a thaw stops a freeze in progress,
//! a hook has a time limit, a forgotten freeze thaws by itself, a signal
//! thaws, and nothing is logged to a frozen filesystem. Each test freezes
//! a loop-mounted ext4 filesystem the test makes (root, as CI runs).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use qga_commands::testing::LoopFs;
use rustix::process::Signal;
use serde_json::json;

use crate::util::{call, ret, tempdir, wait_until, Agent, EXIT_TIMEOUT};

/// A hook that appends its argument to `hook.log` beside it, then runs
/// `on_freeze` when called with `freeze`.
fn logging_hook(fs: &LoopFs, on_freeze: &str) -> (PathBuf, PathBuf) {
    let log = fs.dir().join("hook.log");
    let hook = fs.dir().join("hook");
    std::fs::write(
        &hook,
        format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nif [ \"$1\" = freeze ]; then\n{on_freeze}\nfi\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    (hook, log)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn agent(fs: &LoopFs, args: &[&str]) -> Agent {
    Agent::restart_in(tempdir(), args, &[("QGA_MOUNTINFO", &fs.mountinfo(""))])
}

fn writes_go_through(writer: &mut Child, limit: Duration) -> bool {
    wait_until(limit, || writer.try_wait().unwrap().is_some())
}

#[test]
fn a_thaw_sent_during_the_freeze_hook_answers_within_two_seconds() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = logging_hook(&fs, "sleep 60");
    let agent = agent(&fs, &[&format!("-F{}", hook.display())]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-fsfreeze-freeze","id":1}"#);
    assert!(wait_until(Duration::from_secs(10), || read(&log) == "freeze\n"));
    let sent = Instant::now();
    c.send(br#"{"execute":"guest-fsfreeze-thaw","id":2}"#);
    let freeze: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    let thaw: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    assert!(sent.elapsed() < Duration::from_secs(2), "{:?}", sent.elapsed());
    assert_eq!(freeze["id"], 1);
    assert!(
        freeze["error"]["desc"]
            .as_str()
            .unwrap()
            .contains("was cancelled"),
        "{freeze}"
    );
    assert_eq!(thaw, json!({"return": 0, "id": 2}));
    assert_eq!(read(&log), "freeze\nthaw\n");
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "thawed");
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
    c.assert_alive(3);
}

#[test]
fn a_hook_past_fsfreeze_hook_timeout_fails_the_freeze_naming_it() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = logging_hook(&fs, "echo still working; sleep 60");
    let agent = agent(
        &fs,
        &[&format!("-F{}", hook.display()), "--fsfreeze-hook-timeout=1"],
    );
    let mut c = agent.connect();
    let started = Instant::now();
    let reply = call(&mut c, &json!({"execute": "guest-fsfreeze-freeze"}));
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        reply["error"]["desc"],
        format!(
            "fsfreeze hook '{}' did not finish within 1 seconds and was killed with its process group; \
             its last output: still working",
            hook.display()
        )
    );
    assert_eq!(read(&log), "freeze\nthaw\n");
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_freeze_nobody_thaws_is_thawed_after_fsfreeze_timeout() {
    let Some(fs) = LoopFs::new() else { return };
    let logfile = fs.dir().join("agent.log");
    let agent = agent(&fs, &["--fsfreeze-timeout=1", "-l", logfile.to_str().unwrap()]);
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let mut writer = fs.writer();
    assert!(!writes_go_through(&mut writer, Duration::from_millis(300)));
    assert!(wait_until(Duration::from_secs(10), || ret(
        &mut c,
        json!({"execute": "guest-fsfreeze-status"})
    ) == "thawed"));
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
    // A host that thaws late sees the early thaw in the count.
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 0);
    assert!(
        read(&logfile).contains("thawed 1 filesystems by itself (fsfreeze-timeout)"),
        "{}",
        read(&logfile)
    );
}

#[test]
fn sigterm_during_the_freeze_hook_thaws_and_exits() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = logging_hook(&fs, "sleep 60");
    let mut agent = agent(&fs, &[&format!("-F{}", hook.display())]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-fsfreeze-freeze"}"#);
    assert!(wait_until(Duration::from_secs(10), || read(&log) == "freeze\n"));
    let sent = Instant::now();
    agent.signal(Signal::TERM);
    assert!(agent.wait_exit(EXIT_TIMEOUT).success());
    assert!(sent.elapsed() < Duration::from_secs(5), "{:?}", sent.elapsed());
    assert_eq!(read(&log), "freeze\nthaw\n");
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
    assert!(!agent.dir().join("qga.state.isfrozen").exists());
}

#[test]
fn a_log_file_on_the_frozen_filesystem_never_blocks_the_agent() {
    let Some(fs) = LoopFs::new() else { return };
    let logfile = PathBuf::from(fs.mnt()).join("agent.log");
    let agent = agent(&fs, &["-v", "-l", logfile.to_str().unwrap()]);
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let before = read(&logfile);
    // Verbose logging of each of these would block on the frozen file.
    for id in 0..50 {
        c.assert_alive(id);
    }
    c.expect(
        br#"{"execute":"guest-get-time-nope"}"#,
        b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"The command guest-get-time-nope has not been found\"}}\n",
    );
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    let after = read(&logfile);
    assert!(after.starts_with(&before));
    assert!(
        !after[before.len()..].contains("guest-ping"),
        "logged while frozen"
    );
    c.assert_alive(99);
    assert!(wait_until(Duration::from_secs(5), || read(&logfile)
        .contains("logging re-enabled")));
}
