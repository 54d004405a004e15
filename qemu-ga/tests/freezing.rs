//! Freezing can never wedge the guest: a thaw stops a freeze in progress,
//! a hook has a time limit, a forgotten freeze thaws by itself, a signal
//! thaws, and nothing is logged to a frozen filesystem. Each test freezes
//! a loop-mounted ext4 filesystem the test makes (root, as CI runs).

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use qga_commands::testing::{GuestUser, LoopFs};
use rustix::process::Signal;
use serde_json::json;

use crate::util::{call, ret, tempdir, wait_until, Agent, Client, FakeRoots, EXIT_TIMEOUT};

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// The fake roots (to be kept as long as the agent) of an agent whose mount
/// table is the loop filesystem's alone, and the agent.
fn agent(fs: &LoopFs, args: &[&str]) -> (FakeRoots, Agent) {
    let roots = FakeRoots::mounts(&fs.mountinfo(""));
    let agent = Agent::restart_in(tempdir(), &roots.args(args), &[]);
    (roots, agent)
}

fn writes_go_through(writer: &mut Child, limit: Duration) -> bool {
    wait_until(limit, || writer.try_wait().unwrap().is_some())
}

#[test]
fn a_thaw_sent_during_the_freeze_hook_answers_within_two_seconds() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = fs.logging_hook("sleep 60");
    let (_roots, agent) = agent(&fs, &[&format!("-F{}", hook.display())]);
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
    let (hook, log) = fs.logging_hook("echo still working; sleep 60");
    let (_roots, agent) = agent(
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
    let (_roots, agent) = agent(&fs, &["--fsfreeze-timeout=1", "-l", logfile.to_str().unwrap()]);
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
    let (hook, log) = fs.logging_hook("sleep 60");
    let (_roots, mut agent) = agent(&fs, &[&format!("-F{}", hook.display())]);
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
    let (_roots, agent) = agent(&fs, &["-v", "-l", logfile.to_str().unwrap()]);
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

/// A process that holds a write to a file on a filesystem open in the
/// kernel (`splice` from an empty pipe into the file waits for data with
/// the filesystem's write protection held): a `FIFREEZE` of it waits for
/// the process, as for a writer stuck on slow storage. Killed when dropped
/// (which lets a stalled freeze through), also when a test fails.
struct Staller(std::process::Child);

impl Staller {
    fn release(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Staller {
    fn drop(&mut self) {
        self.release();
    }
}

/// Starts a [`Staller`] on `fs`, as `user`: a guest's unprivileged user
/// can do it.
fn stall_freezes_of(fs: &LoopFs, user: &GuestUser) -> Staller {
    // The user must reach the file and write its "ready" note.
    std::fs::set_permissions(fs.dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let notes = fs.dir().join("notes");
    std::fs::create_dir(&notes).unwrap();
    std::fs::set_permissions(&notes, std::fs::Permissions::from_mode(0o777)).unwrap();
    let ready = notes.join("stall-ready");
    let file = PathBuf::from(fs.mnt()).join("stall");
    std::fs::write(&file, "").unwrap();
    rustix::fs::chown(&file, Some(rustix::fs::Uid::from_raw(user.uid())), None).unwrap();
    let script = format!(
        "import os\nr, w = os.pipe()\nfd = os.open('{}', os.O_WRONLY)\nopen('{}', 'w').close()\nos.splice(r, fd, 4096)\n",
        file.display(),
        ready.display()
    );
    let child = std::process::Command::new("setpriv")
        .arg(format!("--reuid={}", user.uid()))
        .arg(format!("--regid={}", user.gid()))
        .args(["--clear-groups", "/usr/bin/python3", "-c", &script])
        .spawn()
        .expect("/usr/bin/python3 and setpriv");
    let pid = child.id();
    let staller = Staller(child);
    assert!(
        wait_until(Duration::from_secs(10), || ready.exists()),
        "the staller did not start"
    );
    // Until it is inside splice(2) (x86_64: 275, aarch64: 76), as
    // /proc/PID/syscall shows; elsewhere, a moment.
    let splice = if cfg!(target_arch = "x86_64") {
        Some("275")
    } else if cfg!(target_arch = "aarch64") {
        Some("76")
    } else {
        None
    };
    match splice {
        Some(number) => assert!(
            wait_until(Duration::from_secs(10), || {
                std::fs::read_to_string(format!("/proc/{pid}/syscall"))
                    .is_ok_and(|text| text.split_whitespace().next() == Some(number))
            }),
            "the staller never entered splice"
        ),
        None => std::thread::sleep(Duration::from_millis(500)),
    }
    staller
}

/// A `guest-fsfreeze-freeze` (id 1) sent to `agent` while a [`Staller`]
/// run as `user` holds its `FIFREEZE` in the kernel; returns once the call
/// is under way, with the client that sent it and the agent's marker.
fn freeze_stalled(fs: &LoopFs, user: &GuestUser, agent: &Agent) -> (Staller, Client, PathBuf) {
    let staller = stall_freezes_of(fs, user);
    let mut client = agent.connect();
    client.send(br#"{"execute":"guest-fsfreeze-freeze","id":1}"#);
    // The agent records the freeze just before its FIFREEZE.
    let marker = agent.dir().join("qga.state.isfrozen");
    assert!(wait_until(Duration::from_secs(10), || marker.exists()));
    std::thread::sleep(Duration::from_millis(300));
    (staller, client, marker)
}

#[test]
fn a_thaw_answers_at_once_while_a_user_stalls_the_freeze_in_the_kernel() {
    let Some(fs) = LoopFs::new() else { return };
    let Some(user) = GuestUser::new("stall") else {
        return;
    };
    let (_roots, agent) = agent(&fs, &[]);
    let (mut staller, mut c, marker) = freeze_stalled(&fs, &user, &agent);
    let sent = Instant::now();
    c.send(br#"{"execute":"guest-fsfreeze-thaw","id":2}"#);
    let freeze: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    let thaw: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    assert!(sent.elapsed() < Duration::from_secs(2), "{:?}", sent.elapsed());
    assert_eq!(
        freeze["error"]["desc"],
        "Command guest-fsfreeze-freeze was cancelled: guest-fsfreeze-thaw arrived while it ran"
    );
    assert_eq!(thaw, json!({"return": 0, "id": 2}));
    // The filesystem blocks writers while its FIFREEZE is held: the agent
    // stays frozen (writes nothing) and says so, and keeps serving.
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "frozen");
    c.assert_alive(3);
    // The stalled FIFREEZE goes through once the writer lets go, and its
    // thread thaws the filesystem and leaves the frozen state at once.
    staller.release();
    assert!(wait_until(Duration::from_secs(10), || ret(
        &mut c,
        json!({"execute": "guest-fsfreeze-status"})
    ) == "thawed"));
    assert!(!marker.exists());
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_thaw_sent_with_a_stalled_freeze_answers_after_the_grace() {
    let Some(fs) = LoopFs::new() else { return };
    let Some(user) = GuestUser::new("stall2") else {
        return;
    };
    let (_roots, agent) = agent(&fs, &[]);
    let mut staller = stall_freezes_of(&fs, &user);
    let mut c = agent.connect();
    let sent = Instant::now();
    c.send(br#"{"execute":"guest-fsfreeze-freeze","id":1}{"execute":"guest-fsfreeze-thaw","id":2}"#);
    let freeze: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    let thaw: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    let took = sent.elapsed();
    assert!(
        took >= qapi_core::URGENT_GRACE && took < Duration::from_secs(3),
        "{took:?}"
    );
    assert!(
        freeze["error"]["desc"]
            .as_str()
            .unwrap()
            .contains("was cancelled"),
        "{freeze}"
    );
    assert_eq!(thaw, json!({"return": 0, "id": 2}));
    c.assert_alive(3);
    staller.release();
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_log_file_on_a_filesystem_whose_freeze_is_stalled_never_blocks_the_agent() {
    let Some(fs) = LoopFs::new() else { return };
    let Some(user) = GuestUser::new("stall3") else {
        return;
    };
    let logfile = PathBuf::from(fs.mnt()).join("agent.log");
    let (_roots, agent) = agent(&fs, &["-v", "-l", logfile.to_str().unwrap()]);
    let (mut staller, mut c, _marker) = freeze_stalled(&fs, &user, &agent);
    c.send(br#"{"execute":"guest-fsfreeze-thaw","id":2}"#);
    c.read_line();
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&c.read_line()).unwrap(),
        json!({"return": 0, "id": 2})
    );
    for id in 3..20 {
        c.assert_alive(id);
    }
    staller.release();
    assert!(wait_until(Duration::from_secs(10), || ret(
        &mut c,
        json!({"execute": "guest-fsfreeze-status"})
    ) == "thawed"));
    c.assert_alive(99);
    assert!(wait_until(Duration::from_secs(5), || read(&logfile)
        .contains("logging re-enabled")));
}

#[test]
fn exiting_while_a_freeze_is_held_in_the_kernel_keeps_the_marker_for_the_next_agent() {
    let Some(fs) = LoopFs::new() else { return };
    let Some(user) = GuestUser::new("stall4") else {
        return;
    };
    let table = fs.mountinfo("");
    let (_roots, mut agent) = agent(&fs, &[]);
    let (mut staller, _c, marker) = freeze_stalled(&fs, &user, &agent);
    agent.signal(Signal::TERM);
    // It waits a while for the FIFREEZE, then goes, keeping the marker. Its
    // thread in the kernel keeps the process until the call returns.
    std::thread::sleep(Duration::from_secs(12));
    assert!(
        marker.exists(),
        "the marker was dropped with a freeze held in the kernel"
    );
    staller.release();
    assert!(agent.wait_exit(EXIT_TIMEOUT).success());
    // Nobody thawed what that FIFREEZE froze when it returned; the next
    // agent starts frozen and thaws it.
    let dir = agent.into_dir();
    let roots = FakeRoots::mounts(&table);
    let next = Agent::restart_in(dir, &roots.args(&[]), &[]);
    let mut c = next.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "frozen");
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_thaw_with_bad_arguments_does_not_cancel_a_freeze() {
    let Some(fs) = LoopFs::new() else { return };
    let (hook, log) = fs.logging_hook("sleep 1");
    let (_roots, agent) = agent(&fs, &[&format!("-F{}", hook.display())]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-fsfreeze-freeze","id":1}"#);
    assert!(wait_until(Duration::from_secs(10), || read(&log)
        == "freeze
"));
    c.send(br#"{"execute":"guest-fsfreeze-thaw","arguments":{"x":1},"id":2}"#);
    let freeze: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    let thaw: serde_json::Value = serde_json::from_slice(&c.read_line()).unwrap();
    assert_eq!(freeze, json!({"return": 1, "id": 1}));
    assert_eq!(thaw["error"]["desc"], "Parameter 'x' is unexpected");
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    assert_eq!(read(&log), "freeze\nthaw\n");
}

#[test]
fn sigterm_while_frozen_thaws_before_removing_a_socket_on_the_frozen_filesystem() {
    let Some(fs) = LoopFs::new() else { return };
    let socket = PathBuf::from(fs.mnt()).join("agent.sock");
    let roots = FakeRoots::mounts(&fs.mountinfo(""));
    let mut agent = Agent::start_with_env(
        crate::util::OURS,
        tempdir(),
        socket.clone(),
        &roots.args(&[]),
        &[],
    );
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let sent = Instant::now();
    agent.signal(Signal::TERM);
    assert!(agent.wait_exit(EXIT_TIMEOUT).success());
    assert!(sent.elapsed() < Duration::from_secs(5), "{:?}", sent.elapsed());
    assert!(!socket.exists(), "the socket is removed, after the thaw");
    let mut writer = fs.writer();
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_second_agent_on_the_same_state_directory_leaves_the_freeze_alone() {
    let Some(fs) = LoopFs::new() else { return };
    let table = fs.mountinfo("");
    let (_roots, first) = agent(&fs, &[]);
    let mut c = first.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let statedir = first.dir().to_str().unwrap().to_string();
    // One that cannot start (the socket is taken) changes nothing.
    let roots = FakeRoots::mounts(&table);
    let out = crate::util::run_in(
        first.dir(),
        &roots.args(&[
            "-m",
            "unix-listen",
            "-p",
            first.socket().to_str().unwrap(),
            "-t",
            &statedir,
        ]),
    );
    assert!(!out.status.success());
    // One that serves elsewhere, then stops, changes nothing either.
    let second_socket = PathBuf::from(&statedir).join("second.sock");
    let second = std::process::Command::new(crate::util::OURS)
        .args(roots.args(&[
            "-m",
            "unix-listen",
            "-p",
            second_socket.to_str().unwrap(),
            "-t",
            &statedir,
        ]))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(10), || second_socket.exists()));
    rustix::process::kill_process(crate::util::pid_of(second.id()), Signal::TERM).unwrap();
    let output = second.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("another agent holds the state directory"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut writer = fs.writer();
    assert!(
        !writes_go_through(&mut writer, Duration::from_millis(500)),
        "thawed by another agent"
    );
    assert!(first.dir().join("qga.state.isfrozen").exists());
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    assert!(writes_go_through(&mut writer, Duration::from_secs(10)));
}

#[test]
fn a_second_agent_takes_over_the_state_directory_and_its_freeze_when_the_first_dies() {
    let Some(fs) = LoopFs::new() else { return };
    let table = fs.mountinfo("");
    let (_roots, mut first) = agent(&fs, &[]);
    let mut c = first.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let statedir = first.dir().to_str().unwrap().to_string();
    let second_socket = PathBuf::from(&statedir).join("second.sock");
    let roots = FakeRoots::mounts(&table);
    let mut second = std::process::Command::new(crate::util::OURS)
        .args(roots.args(&[
            "-m",
            "unix-listen",
            "-p",
            second_socket.to_str().unwrap(),
            "-t",
            &statedir,
        ]))
        .arg("--fsfreeze-timeout=1")
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let _second_guard = crate::util::ProcessGuard::new(i32::try_from(second.id()).unwrap());
    assert!(wait_until(Duration::from_secs(10), || second_socket.exists()));
    // The first agent's freeze is not the second's: no auto-thaw yet.
    std::thread::sleep(Duration::from_millis(1500));
    let mut writer = fs.writer();
    assert!(!writes_go_through(&mut writer, Duration::from_millis(300)));
    // The first dies without a thaw (SIGKILL): the second takes the
    // directory over, and its auto-thaw (1 s) ends the freeze it finds.
    first.signal(Signal::KILL);
    first.wait_exit(EXIT_TIMEOUT);
    assert!(
        writes_go_through(&mut writer, Duration::from_secs(10)),
        "the freeze was not taken over"
    );
    assert!(wait_until(Duration::from_secs(5), || !PathBuf::from(&statedir)
        .join("qga.state.isfrozen")
        .exists()));
    rustix::process::kill_process(crate::util::pid_of(second.id()), Signal::TERM).unwrap();
    assert!(second.wait().unwrap().success());
}
