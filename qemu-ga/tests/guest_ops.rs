//! The seed's guest operations through the agent binary: files, freeze and
//! thaw, shutdown. Freezing uses a loop-mounted ext4 image the test makes
//! (root only, as CI runs) and a mount table listing only that image, so
//! the machine's own filesystems are never frozen.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Child;
use std::time::Duration;

use qga_commands::testing::LoopFs;
use rustix::process::Signal;
use serde_json::json;

use crate::util::{
    b64, call, error_desc, generic, not_found, ret, tempdir, unb64, wait_until, Agent, FakeRoots,
    EXIT_TIMEOUT,
};

fn pattern(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

#[test]
fn binary_files_round_trip_across_the_size_range() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let h = ret(
        &mut c,
        json!({"execute": "guest-file-open", "arguments": {"path": "data", "mode": "wb+"}}),
    );
    assert_eq!(h, 1000);
    let mut expected = Vec::new();
    for size in [0, 1, 2, 3, 4095, 4096, 4097, 65_536, 1 << 20] {
        let data = pattern(size);
        let wrote = ret(
            &mut c,
            json!({"execute": "guest-file-write", "arguments": {"handle": h, "buf-b64": b64(&data)}}),
        );
        assert_eq!(wrote, json!({"count": size, "eof": false}));
        expected.extend_from_slice(&data);
    }
    let pos = ret(
        &mut c,
        json!({"execute": "guest-file-seek", "arguments": {"handle": h, "offset": 0, "whence": "set"}}),
    );
    assert_eq!(pos, json!({"position": 0, "eof": false}));
    let mut got = Vec::new();
    loop {
        let r = ret(
            &mut c,
            json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": 300_000}}),
        );
        let chunk = unb64(r["buf-b64"].as_str().unwrap());
        assert_eq!(r["count"], chunk.len());
        got.extend_from_slice(&chunk);
        if r["eof"] == true {
            break;
        }
    }
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "data read back differs");
    assert_eq!(std::fs::read(agent.dir().join("data")).unwrap(), expected);
}

#[test]
fn the_largest_read_and_write_fit_in_one_message() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let h = ret(
        &mut c,
        json!({"execute": "guest-file-open", "arguments": {"path": "big", "mode": "w+"}}),
    );
    // 44 MiB is about 59 MiB of base64: the largest round number under
    // the 64 MiB message limit.
    let data = pattern(44 << 20);
    let wrote = ret(
        &mut c,
        json!({"execute": "guest-file-write", "arguments": {"handle": h, "buf-b64": b64(&data)}}),
    );
    assert_eq!(wrote["count"], data.len());
    ret(
        &mut c,
        json!({"execute": "guest-file-seek", "arguments": {"handle": h, "offset": 0, "whence": 0}}),
    );
    let r = ret(
        &mut c,
        json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": 48 << 20}}),
    );
    assert_eq!(
        (r["count"].as_u64(), r["eof"].as_bool()),
        (Some(44 << 20), Some(true))
    );
    assert!(unb64(r["buf-b64"].as_str().unwrap()) == data);
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": (48 << 20) + 1}})
        ),
        "value '50331649' is invalid for argument count"
    );
    c.assert_alive(1);
}

#[test]
fn handles_stay_unique_across_a_restart() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let open = json!({"execute": "guest-file-open", "arguments": {"path": "f", "mode": "w"}});
    assert_eq!(ret(&mut c, open.clone()), 1000);
    assert_eq!(ret(&mut c, open.clone()), 1001);
    drop(c);
    let dir = agent.stop();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("qga.state")).unwrap(),
        "[global]\nfd_counter=1002\n"
    );
    let agent = Agent::restart_in(dir, &[], &[]);
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, open), 1002);
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-file-read", "arguments": {"handle": 1000}})
        ),
        "handle '1000' has not been found",
        "handles do not survive a restart, their numbers do"
    );
}

#[test]
fn a_state_file_that_cannot_be_written_fails_the_open() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    std::fs::remove_file(agent.dir().join("qga.state")).unwrap();
    std::fs::create_dir(agent.dir().join("qga.state")).unwrap();
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-file-open", "arguments": {"path": "f", "mode": "w"}})
        ),
        "failed to commit persistent state to disk"
    );
    c.assert_alive(2);
}

/// An agent whose mount table is `mountinfo` (an empty one by default), so
/// a thaw or freeze touches nothing else.
/// Returns the fake roots too, to be kept as long as the agent.
fn agent_with_mounts(dir: tempfile::TempDir, mountinfo: &Path, args: &[&str]) -> (FakeRoots, Agent) {
    let roots = FakeRoots::mounts(mountinfo);
    let agent = Agent::restart_in(dir, &roots.args(args), &[]);
    (roots, agent)
}

#[test]
fn an_agent_restarted_while_frozen_allows_only_freeze_safe_commands() {
    let dir = tempdir();
    std::fs::write(dir.path().join("qga.state.isfrozen"), "").unwrap();
    let empty = dir.path().join("mountinfo");
    std::fs::write(&empty, "").unwrap();
    let (_roots, agent) = agent_with_mounts(dir, &empty, &[]);
    assert!(
        !agent.dir().join("qga.state").exists(),
        "nothing is written while frozen"
    );
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "frozen");
    for (command, args) in [
        ("guest-file-open", json!({"path": "f"})),
        ("guest-fsfreeze-freeze", json!({})),
        ("guest-fsfreeze-freeze-list", json!({})),
        ("guest-shutdown", json!({})),
        ("guest-file-close", json!({"handle": 1})),
    ] {
        c.expect(
            json!({"execute": command, "arguments": args})
                .to_string()
                .as_bytes(),
            &not_found(
                None,
                &format!("Command {command} has been disabled: the agent is in frozen state"),
            ),
        );
    }
    for command in ["guest-ping", "guest-info", "guest-fsfreeze-status"] {
        assert!(
            call(&mut c, &json!({"execute": command})).get("return").is_some(),
            "{command}"
        );
    }
    c.expect(
        b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":4}}",
        b"{\"return\": 4}\n",
    );
    let info = ret(&mut c, json!({"execute": "guest-info"}));
    let enabled = |name: &str| {
        info["supported_commands"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["enabled"]
            .clone()
    };
    assert_eq!(enabled("guest-file-open"), false);
    assert_eq!(enabled("guest-fsfreeze-thaw"), true);
    // Thawing (nothing is really frozen) leaves the frozen state.
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 0);
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "thawed");
    assert!(!agent.dir().join("qga.state.isfrozen").exists());
    assert_eq!(
        ret(
            &mut c,
            json!({"execute": "guest-file-open", "arguments": {"path": "f", "mode": "w"}})
        ),
        1000
    );
}

fn exits_within(child: &mut Child, limit: Duration) -> bool {
    wait_until(limit, || child.try_wait().unwrap().is_some())
}

#[test]
fn freeze_over_the_wire_blocks_writers_and_sigterm_thaws() {
    let Some(fs) = LoopFs::new() else { return };
    let log = fs.dir().join("hook.log");
    let hook = fs.dir().join("hook");
    std::fs::write(&hook, format!("#!/bin/sh\necho \"$1\" >> '{}'\n", log.display())).unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hook_arg = format!("-F{}", hook.display());
    let (_roots, agent) = agent_with_mounts(tempdir(), &fs.mountinfo(""), &[&hook_arg]);
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "frozen");
    assert!(agent.dir().join("qga.state.isfrozen").exists());
    let mut writer = fs.writer();
    assert!(
        !exits_within(&mut writer, Duration::from_millis(500)),
        "a write passed a frozen filesystem"
    );
    c.expect(
        br#"{"execute":"guest-fsfreeze-freeze-list","arguments":{"mountpoints":[]}}"#,
        &not_found(
            None,
            "Command guest-fsfreeze-freeze-list has been disabled: the agent is in frozen state",
        ),
    );
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    assert!(
        exits_within(&mut writer, Duration::from_secs(10)),
        "the writer stayed blocked after thaw"
    );

    // Frozen again, then SIGTERM: the agent thaws before it exits.
    let list = json!({"execute": "guest-fsfreeze-freeze-list", "arguments": {"mountpoints": [fs.mnt()]}});
    assert_eq!(ret(&mut c, list), 1);
    let mut writer = fs.writer();
    assert!(!exits_within(&mut writer, Duration::from_millis(300)));
    drop(c);
    let dir = agent.stop();
    assert!(
        exits_within(&mut writer, Duration::from_secs(10)),
        "SIGTERM left the filesystem frozen"
    );
    assert!(!dir.path().join("qga.state.isfrozen").exists());
    assert_eq!(
        std::fs::read_to_string(&log).unwrap(),
        "freeze\nthaw\nfreeze\nthaw\n"
    );
}

/// Writes a stand-in for a shutdown program that records its arguments.
fn stand_in(dir: &Path, name: &str, exit: i32) {
    let path = dir.join(name);
    let log = dir.join("calls");
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\necho \"{name} $*\" >> '{}'\nexit {exit}\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn shutdown_runs_the_system_program_and_is_silent_on_success() {
    let sbin = tempdir();
    stand_in(sbin.path(), "poweroff", 0);
    stand_in(sbin.path(), "shutdown", 0);
    stand_in(sbin.path(), "halt", 7);
    let roots = FakeRoots::new(None, Some(sbin.path()));
    let agent = Agent::restart_in(tempdir(), &roots.args(&[]), &[]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-shutdown"}"#);
    c.assert_silent(Duration::from_millis(300));
    c.send(br#"{"execute":"guest-shutdown","arguments":{"mode":"reboot"},"id":1}"#);
    c.assert_silent(Duration::from_millis(300));
    c.expect(
        br#"{"execute":"guest-shutdown","arguments":{"mode":"halt"}}"#,
        &generic("child process has failed to shutdown: exit status 7"),
    );
    c.expect(
        br#"{"execute":"guest-shutdown","arguments":{"mode":"sleep"}}"#,
        &generic("mode is invalid (valid values are: halt|powerdown|reboot"),
    );
    c.assert_alive(3);
    assert_eq!(
        std::fs::read_to_string(sbin.path().join("calls")).unwrap(),
        "poweroff \nshutdown -h -r +0 hypervisor initiated shutdown\nhalt \n"
    );
    // No zombie is left behind.
    let children =
        std::fs::read_to_string(format!("/proc/{0}/task/{0}/children", agent.pid())).unwrap_or_default();
    assert_eq!(children.trim(), "", "unreaped children");
}

#[test]
fn sigterm_exits_promptly_while_frozen_with_nothing_to_thaw() {
    let dir = tempdir();
    std::fs::write(dir.path().join("qga.state.isfrozen"), "").unwrap();
    let empty = dir.path().join("mountinfo");
    std::fs::write(&empty, "").unwrap();
    let (_roots, mut agent) = agent_with_mounts(dir, &empty, &[]);
    agent.signal(Signal::TERM);
    assert!(agent.wait_exit(EXIT_TIMEOUT).success());
    assert!(
        !agent.dir().join("qga.state.isfrozen").exists(),
        "thawed on the way out"
    );
}

#[test]
fn a_freeze_runs_past_the_command_deadline() {
    let Some(fs) = LoopFs::new() else { return };
    // The hook makes the freeze take longer than the one-second deadline;
    // a freeze is bounded by the hook's own limit instead.
    let hook = fs.dir().join("slow-hook");
    std::fs::write(&hook, "#!/bin/sh\n[ \"$1\" = freeze ] && sleep 2\nexit 0\n").unwrap();
    std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
    let hook_arg = format!("-F{}", hook.display());
    let (_roots, agent) = agent_with_mounts(
        tempdir(),
        &fs.mountinfo(""),
        &[&hook_arg, "--command-timeout", "1"],
    );
    let mut c = agent.connect();
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-freeze"})), 1);
    let mut writer = fs.writer();
    assert!(
        !exits_within(&mut writer, Duration::from_millis(300)),
        "reported frozen, but writes go through"
    );
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-thaw"})), 1);
    assert!(exits_within(&mut writer, Duration::from_secs(10)));
    assert_eq!(ret(&mut c, json!({"execute": "guest-fsfreeze-status"})), "thawed");
}
