//! Integration tests: guest-exec and guest-exec-status.
//!
//! Processes run on this machine as children of the agent under test;
//! they only print, read their input, sleep or kill themselves.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::differential::{self, req};
use crate::util::{b64, call_within, pid_of, return_within, show_short, unb64, Agent, Client, REPLY_TIMEOUT};

/// How long a process started by a test may take to finish.
const FINISH_TIMEOUT: Duration = Duration::from_secs(20);

/// Bytes of each stream the agent keeps.
const MAX_OUTPUT: usize = 16 * 1024 * 1024;

/// QEMU 10's reply to a pid it does not know (it prints its format
/// string's `PRId64` literally).
const UNKNOWN_PID: &[u8] =
    b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"PID ld does not exist\"}}\n";

fn exec_request(arguments: Value) -> Value {
    json!({"execute": "guest-exec", "arguments": arguments})
}

/// Starts a process; returns its pid.
#[track_caller]
fn exec(c: &mut Client, arguments: Value) -> i64 {
    let ret = return_within(c, exec_request(arguments), REPLY_TIMEOUT);
    ret["pid"].as_i64().unwrap_or_else(|| panic!("no pid in {ret}"))
}

/// The raw reply line to one guest-exec-status.
fn status_raw(c: &mut Client, pid: i64) -> Vec<u8> {
    c.send(format!("{{\"execute\":\"guest-exec-status\",\"arguments\":{{\"pid\":{pid}}}}}").as_bytes());
    c.read_line()
}

/// Polls guest-exec-status until it says exited; returns that raw reply.
#[track_caller]
fn wait_raw(c: &mut Client, pid: i64) -> Vec<u8> {
    let start = Instant::now();
    loop {
        let line = status_raw(c, pid);
        if !line.starts_with(b"{\"return\": {\"exited\": false}}") {
            return line;
        }
        assert!(start.elapsed() < FINISH_TIMEOUT, "pid {pid} did not finish");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// [`wait_raw`], parsed: the `return` object.
#[track_caller]
fn wait(c: &mut Client, pid: i64) -> Value {
    let line = wait_raw(c, pid);
    let reply: Value = serde_json::from_slice(&line).unwrap_or_else(|e| panic!("bad reply: {e}"));
    let ret = reply["return"].clone();
    assert_eq!(ret["exited"], true, "{}", show_short(&line, 300));
    ret
}

/// Runs a process to its end; returns its final status.
#[track_caller]
fn run(c: &mut Client, arguments: Value) -> Value {
    let pid = exec(c, arguments);
    wait(c, pid)
}

fn decode(value: &Value) -> Vec<u8> {
    unb64(
        value
            .as_str()
            .unwrap_or_else(|| panic!("not base64 text: {value}")),
    )
}

fn sh(script: &str) -> Value {
    json!({"path": "sh", "arg": ["-c", script]})
}

fn with(mut arguments: Value, key: &str, value: Value) -> Value {
    arguments[key] = value;
    arguments
}

#[test]
fn every_capture_form() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let script = sh("echo hi; echo err >&2; exit 3");
    // The exact bytes QEMU writes, members in its order.
    let separated: &[u8] =
        b"{\"return\": {\"exitcode\": 3, \"err-data\": \"ZXJyCg==\", \"out-data\": \"aGkK\", \
        \"err-truncated\": false, \"out-truncated\": false, \"exited\": true}}\n";
    let nothing: &[u8] = b"{\"return\": {\"exitcode\": 3, \"exited\": true}}\n";
    let only_out: &[u8] =
        b"{\"return\": {\"exitcode\": 3, \"out-data\": \"aGkK\", \"out-truncated\": false, \
        \"exited\": true}}\n";
    let only_err: &[u8] = b"{\"return\": {\"exitcode\": 3, \"err-data\": \"ZXJyCg==\", \
        \"err-truncated\": false, \"exited\": true}}\n";
    for (capture, expected) in [
        (None, nothing),
        (Some(json!(false)), nothing),
        (Some(json!("none")), nothing),
        (Some(json!(true)), separated),
        (Some(json!("separated")), separated),
        (Some(json!("stdout")), only_out),
        (Some(json!("stderr")), only_err),
    ] {
        let arguments = match &capture {
            Some(v) => with(script.clone(), "capture-output", v.clone()),
            None => script.clone(),
        };
        let pid = exec(&mut c, arguments);
        let line = wait_raw(&mut c, pid);
        assert_eq!(
            show_short(&line, 500),
            show_short(expected, 500),
            "capture-output {capture:?}"
        );
    }
    let merged = run(
        &mut c,
        with(
            sh("echo 1; echo 2 >&2; echo 3"),
            "capture-output",
            json!("merged"),
        ),
    );
    assert_eq!(decode(&merged["out-data"]), b"1\n2\n3\n");
    assert!(merged.get("err-data").is_none() && merged.get("err-truncated").is_none());

    for (bad, desc) in [
        (
            json!("both"),
            "Parameter 'capture-output' does not accept value 'both'",
        ),
        (
            json!(1),
            "Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput",
        ),
        (
            json!(null),
            "Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput",
        ),
        (
            json!([]),
            "Invalid parameter type for 'capture-output', expected: GuestExecCaptureOutput",
        ),
    ] {
        let reply = call_within(
            &mut c,
            &exec_request(with(sh("exit 0"), "capture-output", bad)),
            REPLY_TIMEOUT,
        );
        assert_eq!(reply, json!({"error": {"class": "GenericError", "desc": desc}}));
    }
}

#[test]
fn input_data_is_the_standard_input() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let cat = json!({"path": "cat", "input-data": "aGVsbG8=", "capture-output": true});
    assert_eq!(decode(&run(&mut c, cat)["out-data"]), b"hello");
    // QEMU's lenient base64: an incomplete last group is dropped.
    let cat = json!({"path": "cat", "input-data": "aGVsbG8", "capture-output": true});
    assert_eq!(decode(&run(&mut c, cat)["out-data"]), b"hel");
    // Without input-data standard input is /dev/null.
    let status = run(&mut c, with(sh("cat; echo end"), "capture-output", json!(true)));
    assert_eq!(decode(&status["out-data"]), b"end\n");
    // More than a pipe holds, written without blocking the agent.
    let big: Vec<u8> = (0..3 << 20).map(|i: u32| (i % 251) as u8).collect();
    let pid = exec(
        &mut c,
        json!({"path": "sh", "arg": ["-c", "sleep 1; wc -c"], "input-data": b64(&big), "capture-output": true}),
    );
    c.assert_alive(7);
    assert_eq!(
        decode(&wait(&mut c, pid)["out-data"]),
        format!("{}\n", big.len()).as_bytes()
    );
    // A process that reads a little and exits: the rest is dropped.
    let head = json!({"path": "head", "arg": ["-c", "3"], "input-data": b64(&big), "capture-output": true});
    let status = run(&mut c, head);
    assert_eq!(
        (status["exitcode"].clone(), decode(&status["out-data"])),
        (json!(0), big[..3].to_vec())
    );
    // Invalid base64: an error, and nothing runs.
    let marker = agent.dir().join("ran");
    let reply = call_within(
        &mut c,
        &exec_request(json!({"path": "touch", "arg": [marker], "input-data": "a b"})),
        REPLY_TIMEOUT,
    );
    assert_eq!(
        reply,
        json!({"error": {"class": "GenericError", "desc": "Base64 data contains invalid characters"}})
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists());
}

#[test]
fn env_replaces_the_environment() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let env = |list: Value| json!({"path": "env", "env": list, "capture-output": true});
    assert_eq!(decode(&run(&mut c, env(json!(["A=1"])))["out-data"]), b"A=1\n");
    let empty = run(&mut c, env(json!([])));
    assert_eq!(empty, json!({"exitcode": 0, "exited": true}));
    let values = run(&mut c, env(json!(["A=x=y", "B="])));
    assert_eq!(decode(&values["out-data"]), b"A=x=y\nB=\n");
    // Passed as given, as QEMU passes it: in order, a repeated name twice,
    // an entry without '=' kept.
    let exact = run(&mut c, env(json!(["Z=1", "A=2", "Z=3", "NOEQUALS", "=x"])));
    assert_eq!(decode(&exact["out-data"]), b"Z=1\nA=2\nZ=3\nNOEQUALS\n=x\n");
    // A NUL goes on as QEMU's parser keeps it: modified UTF-8 C0 80.
    let nul = run(&mut c, env(json!(["A=1\u{0}B=2"])));
    assert_eq!(decode(&nul["out-data"]), b"A=1\xC0\x80B=2\n");
    // Without env the agent's environment is inherited.
    let inherited = run(&mut c, json!({"path": "env", "capture-output": true}));
    let text = String::from_utf8(decode(&inherited["out-data"])).unwrap();
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(text.lines().any(|l| l == format!("PATH={path}")), "{text}");
}

#[test]
fn path_is_searched_as_glib_does() {
    use std::os::unix::fs::PermissionsExt;
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let bin = agent.dir().join("bin");
    std::fs::create_dir(&bin).unwrap();
    let tool = bin.join("qga-test-tool");
    std::fs::write(&tool, "#!/bin/sh\necho \"found $0 $1\"\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    // The PATH in env is searched, in order, skipping what is missing.
    let status = run(
        &mut c,
        json!({
            "path": "qga-test-tool", "arg": ["x"], "capture-output": true,
            "env": ["A=1", format!("PATH=/nonexistent:{}", bin.display())],
        }),
    );
    assert_eq!(
        decode(&status["out-data"]),
        format!("found {} x\n", tool.display()).as_bytes()
    );
    // Not in env's PATH: not found, although it is in the agent's.
    let reply = call_within(
        &mut c,
        &exec_request(json!({"path": "sh", "env": ["PATH=/nonexistent"]})),
        REPLY_TIMEOUT,
    );
    assert_eq!(
        reply["error"]["desc"],
        "Failed to execute child process \u{201C}sh\u{201D} (No such file or directory)"
    );
    // env without PATH: the agent's PATH.
    assert_eq!(
        run(&mut c, json!({"path": "sh", "arg": ["-c", "exit 4"], "env": []}))["exitcode"],
        4
    );
    // A relative path with a slash is taken from the agent's directory.
    let status = run(
        &mut c,
        json!({"path": "./bin/qga-test-tool", "capture-output": true}),
    );
    assert_eq!(decode(&status["out-data"]), b"found ./bin/qga-test-tool \n");
    // argv[0] is the path as given.
    let status = run(
        &mut c,
        json!({"path": "sh", "arg": ["-c", "echo $0"], "capture-output": true}),
    );
    assert_eq!(decode(&status["out-data"]), b"sh\n");
}

#[test]
fn exit_codes_and_signals() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for code in [0, 1, 3, 255] {
        let status = run(&mut c, sh(&format!("exit {code}")));
        assert_eq!(status, json!({"exitcode": code, "exited": true}));
    }
    let pid = exec(&mut c, sh("kill -9 $$"));
    assert_eq!(
        show_short(&wait_raw(&mut c, pid), 300),
        show_short(b"{\"return\": {\"signal\": 9, \"exited\": true}}\n", 300)
    );
    let pid = exec(
        &mut c,
        with(
            sh("echo o; echo e >&2; kill -TERM $$"),
            "capture-output",
            json!(true),
        ),
    );
    assert_eq!(
        show_short(&wait_raw(&mut c, pid), 300),
        show_short(
            b"{\"return\": {\"err-data\": \"ZQo=\", \"out-data\": \"bwo=\", \"err-truncated\": false, \
              \"signal\": 15, \"out-truncated\": false, \"exited\": true}}\n",
            300
        )
    );
    // Still running: exited false, asked as often as wanted.
    let pid = exec(&mut c, json!({"path": "sleep", "arg": ["30"]}));
    for _ in 0..3 {
        assert_eq!(status_raw(&mut c, pid), b"{\"return\": {\"exited\": false}}\n");
    }
    rustix::process::kill_process(pid_of(pid as u32), rustix::process::Signal::KILL).unwrap();
    assert_eq!(wait(&mut c, pid), json!({"signal": 9, "exited": true}));
}

#[test]
fn output_is_truncated_beyond_16_mib() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let cases = [
        (
            format!("head -c {MAX_OUTPUT} /dev/zero"),
            "out",
            MAX_OUTPUT,
            false,
        ),
        (
            format!("head -c {} /dev/zero", MAX_OUTPUT + 1),
            "out",
            MAX_OUTPUT,
            true,
        ),
        (
            format!("head -c {} /dev/zero >&2", MAX_OUTPUT + (5 << 20)),
            "err",
            MAX_OUTPUT,
            true,
        ),
    ];
    for (script, stream, kept, truncated) in cases {
        let status = run(&mut c, with(sh(&script), "capture-output", json!(true)));
        let data = decode(&status[format!("{stream}-data")]);
        assert_eq!(
            (data.len(), data.iter().all(|&b| b == 0)),
            (kept, true),
            "{script}"
        );
        assert_eq!(status[format!("{stream}-truncated")], truncated, "{script}");
        assert_eq!(
            status["exitcode"], 0,
            "{script}: the writer was drained to its end"
        );
    }
}

#[test]
fn a_status_is_handed_out_once() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let pid = exec(&mut c, with(sh("echo once"), "capture-output", json!(true)));
    assert_eq!(decode(&wait(&mut c, pid)["out-data"]), b"once\n");
    assert_eq!(
        show_short(&status_raw(&mut c, pid), 300),
        show_short(UNKNOWN_PID, 300)
    );
    for pid in [0, -1, i64::MAX, i64::from(std::process::id())] {
        assert_eq!(status_raw(&mut c, pid), UNKNOWN_PID, "pid {pid}");
    }
    // The table outlives the connection: the next host connection
    // collects what the previous one started.
    let pid = exec(&mut c, sh("exit 2"));
    drop(c);
    let mut c = agent.connect();
    assert_eq!(wait(&mut c, pid)["exitcode"], 2);
    assert_eq!(status_raw(&mut c, pid), UNKNOWN_PID);
}

#[test]
fn the_child_starts_clean() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // SIGPIPE at its default action, no signal blocked.
    let status = run(
        &mut c,
        json!({"path": "cat", "arg": ["/proc/self/status"], "capture-output": true}),
    );
    let text = String::from_utf8(decode(&status["out-data"])).unwrap();
    let mask = |name: &str| {
        let line = text
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name}"));
        u64::from_str_radix(line[name.len()..].trim(), 16).unwrap()
    };
    assert_eq!(
        mask("SigIgn:") & (1 << (13 - 1)),
        0,
        "SIGPIPE ignored in the child:\n{text}"
    );
    assert_eq!(mask("SigBlk:"), 0, "signals blocked in the child:\n{text}");
    // Only 0, 1 and 2 are inherited (3 is ls's own directory handle).
    let status = run(
        &mut c,
        json!({"path": "ls", "arg": ["/proc/self/fd"], "capture-output": true}),
    );
    let fds: BTreeSet<String> = String::from_utf8(decode(&status["out-data"]))
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        fds.len() <= 4 && ["0", "1", "2"].iter().all(|f| fds.contains(*f)),
        "{fds:?}"
    );
    // Working directory: the agent's.
    let status = run(&mut c, json!({"path": "pwd", "capture-output": true}));
    let cwd = std::fs::canonicalize(agent.dir()).unwrap();
    assert_eq!(
        decode(&status["out-data"]),
        format!("{}\n", cwd.display()).as_bytes()
    );
}

/// Descriptors the agent holds.
fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).map_or(0, |d| d.count())
}

/// The agent's children (live or zombie), from every thread.
fn children(pid: u32) -> Vec<String> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn no_zombies_and_no_descriptor_leaks() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // Warm up: the I/O thread and its eventfd exist from the first exec on.
    run(&mut c, with(sh("exit 0"), "capture-output", json!(true)));
    let baseline = fd_count(agent.pid());
    let modes = [
        json!(false),
        json!(true),
        json!("stdout"),
        json!("stderr"),
        json!("merged"),
    ];
    let mut collect = Vec::new();
    for i in 0..300 {
        let mut arguments = with(
            sh("echo out; echo err >&2; read x; exit 7"),
            "capture-output",
            modes[i % 5].clone(),
        );
        if i % 3 == 0 {
            arguments["input-data"] = json!("eAo=");
        }
        let pid = exec(&mut c, arguments);
        // Every other status is never collected.
        if i % 2 == 0 {
            collect.push(pid);
        }
    }
    let start = Instant::now();
    loop {
        let (kids, fds) = (children(agent.pid()), fd_count(agent.pid()));
        if kids.is_empty() && fds == baseline {
            break;
        }
        assert!(
            start.elapsed() < FINISH_TIMEOUT,
            "after 300 execs the agent still has children {kids:?} and {fds} descriptors (baseline {baseline})"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in collect {
        let status = wait(&mut c, pid);
        assert_eq!(status["exitcode"], 7);
    }
    assert_eq!(fd_count(agent.pid()), baseline);
}

#[test]
fn running_processes_are_bounded() {
    const MAX_RUNNING: usize = 128;
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let pids: Vec<i64> = (0..MAX_RUNNING)
        .map(|_| exec(&mut c, json!({"path": "sleep", "arg": ["60"]})))
        .collect();
    let reply = call_within(&mut c, &exec_request(json!({"path": "true"})), REPLY_TIMEOUT);
    let desc = reply["error"]["desc"].as_str().unwrap_or_default().to_string();
    assert!(
        desc.starts_with("too many processes started by guest-exec are still running"),
        "{reply}"
    );
    for &pid in &pids {
        let _ = rustix::process::kill_process(pid_of(pid as u32), rustix::process::Signal::KILL);
    }
    for pid in pids {
        assert_eq!(wait(&mut c, pid), json!({"signal": 9, "exited": true}));
    }
    assert_eq!(run(&mut c, json!({"path": "true"}))["exitcode"], 0);
}

/// The guest-exec cases of QEMU's own tests (tests/unit/test-qga.c), sent
/// as they send them.
#[test]
fn qemu_upstream_test_expectations() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let call_raw = |c: &mut Client, request: &str| -> Value {
        c.send(request.as_bytes());
        serde_json::from_slice(&c.read_line()).unwrap()
    };
    let finish = |c: &mut Client, reply: Value| -> Value {
        let pid = reply["return"]["pid"]
            .as_i64()
            .unwrap_or_else(|| panic!("{reply}"));
        assert!(pid > 0);
        wait(c, pid)
    };
    // /qga/guest-exec
    let reply = call_raw(
        &mut c,
        "{'execute': 'guest-exec', 'arguments': { 'path': 'echo', 'arg': [ '-n', '\" test_str \"' ], \
         'capture-output': true } }",
    );
    let status = finish(&mut c, reply);
    assert_eq!(status["exitcode"], 0);
    assert_eq!(decode(&status["out-data"]), b"\" test_str \"");
    // /qga/guest-exec-separated and /qga/guest-exec-merged
    let script = "for i in $(seq 4); do if (( $i % 2 )); then echo stdout; else echo stderr 1>&2; fi; done;";
    for mode in ["separated", "merged"] {
        let reply = call_raw(
            &mut c,
            &format!(
                "{{'execute': 'guest-exec', 'arguments': {{ 'path': 'bash', 'arg': [ '-c', '{script}' ], \
                 'capture-output': '{mode}' }} }}"
            ),
        );
        let status = finish(&mut c, reply);
        assert_eq!(status["exitcode"], 0);
        if mode == "separated" {
            assert_eq!(decode(&status["out-data"]), b"stdout\nstdout\n");
            assert_eq!(decode(&status["err-data"]), b"stderr\nstderr\n");
        } else {
            assert_eq!(decode(&status["out-data"]), b"stdout\nstderr\nstdout\nstderr\n");
            assert!(status.get("err-data").is_none());
        }
    }
    // /qga/guest-exec-invalid
    for request in [
        "{'execute': 'guest-exec', 'arguments': { 'path': '/bin/invalid-cmd42' } }",
        "{'execute': 'guest-exec-status', 'arguments': {'pid': 0}}",
    ] {
        let reply = call_raw(&mut c, request);
        assert_eq!(reply["error"]["class"], "GenericError", "{reply}");
        assert!(!reply["error"]["desc"].as_str().unwrap_or_default().is_empty());
    }
}

/// Runs `arguments` on an agent to its end; the raw final status line.
fn final_status(agent: &Agent, arguments: &Value) -> Vec<u8> {
    let mut c = agent.connect();
    let pid = exec(&mut c, arguments.clone());
    wait_raw(&mut c, pid)
}

#[test]
fn exec_matches_qemu_7_2() {
    let Some(debian) = differential::debian() else {
        return;
    };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    let big = vec![b'z'; 200_000];
    let cases = [
        sh("echo hi; echo err >&2; exit 3"),
        with(sh("echo hi; echo err >&2; exit 3"), "capture-output", json!(true)),
        with(
            sh("echo hi; echo err >&2; exit 3"),
            "capture-output",
            json!(false),
        ),
        with(sh("echo err >&2"), "capture-output", json!(true)),
        with(sh("kill -9 $$"), "capture-output", json!(true)),
        with(
            sh("echo o; echo e >&2; kill -TERM $$"),
            "capture-output",
            json!(true),
        ),
        json!({"path": "cat", "input-data": "aGVsbG8=", "capture-output": true}),
        json!({"path": "cat", "input-data": "aGVsbG8", "capture-output": true}),
        json!({"path": "cat", "input-data": "", "capture-output": true}),
        json!({"path": "cat", "input-data": b64(&big), "capture-output": true}),
        json!({"path": "env", "env": ["A=1"], "capture-output": true}),
        json!({"path": "env", "env": [], "capture-output": true}),
        // The environment exactly as listed: order, repeats, no '='.
        json!({"path": "env", "env": ["Z=1", "A=2", "Z=3", "NOEQUALS", "=x", "B=a=b"],
               "capture-output": true}),
        // U+0000 reaches the program as C0 80, in env and arguments.
        json!({"path": "env", "env": ["A=1\u{0}B=2"], "capture-output": true}),
        json!({"path": "printf", "arg": ["%s", "x\u{0}y"], "capture-output": true}),
        json!({"path": "sh", "arg": ["-c", "echo $0 \"$@\""], "capture-output": true}),
        with(
            sh("head -c 100000 /dev/zero; exit 1"),
            "capture-output",
            json!(true),
        ),
    ];
    let mut differences = Vec::new();
    for case in &cases {
        let (expected, actual) = (final_status(&theirs, case), final_status(&ours, case));
        if expected != actual {
            differences.push(format!(
                "{case}\n    qemu: {}\n    ours: {}",
                show_short(&expected, 300),
                show_short(&actual, 300)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "final statuses differ:\n{}",
        differences.join("\n")
    );

    // Argument errors, byte for byte.
    differential::compare(
        &[],
        &[
            req("guest-exec", "{}"),
            req("guest-exec", r#"{"path":1}"#),
            req("guest-exec", r#"{"path":"sh","foo":1}"#),
            req("guest-exec", r#"{"path":"sh","arg":"x"}"#),
            req("guest-exec", r#"{"path":"sh","arg":[1]}"#),
            req("guest-exec", r#"{"path":"sh","env":{}}"#),
            req("guest-exec", r#"{"path":"sh","input-data":null}"#),
            req("guest-exec", r#"{"path":"/nonexistent","input-data":"!"}"#),
            req("guest-exec", r#"{"path":"/nonexistent","input-data":"aGk=\r\n"}"#),
            req("guest-exec-status", "{}"),
            req("guest-exec-status", r#"{"pid":"1"}"#),
            req("guest-exec-status", r#"{"pid":1.5}"#),
            req("guest-exec-status", r#"{"pid":1,"x":2}"#),
        ],
    );
}

/// Where QEMU 10 words things differently from Debian's 7.2 (we follow 10).
#[test]
fn known_differences_from_qemu_7_2() {
    let Some(debian) = differential::debian() else {
        return;
    };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    let ask = |agent: &Agent, request: Value| call_within(&mut agent.connect(), &request, REPLY_TIMEOUT);
    let status = json!({"execute": "guest-exec-status", "arguments": {"pid": 0}});
    assert_eq!(
        ask(&theirs, status.clone())["error"]["desc"],
        "Invalid parameter 'pid'"
    );
    assert_eq!(ask(&ours, status)["error"]["desc"], "PID ld does not exist");
    let missing = exec_request(json!({"path": "/bin/invalid-cmd42"}));
    let glib =
        "Failed to execute child process \u{201C}/bin/invalid-cmd42\u{201D} (No such file or directory)";
    assert_eq!(
        ask(&theirs, missing.clone())["error"]["desc"],
        format!("Guest agent command failed, error was '{glib}'")
    );
    assert_eq!(ask(&ours, missing)["error"]["desc"], glib);
    // The same with U+0000 in the path (the program looked for is
    // "/bin/tr" C0 80 "x"; the message gives the character back).
    let nul = exec_request(json!({"path": "/bin/tr\u{0}x"}));
    let glib = "Failed to execute child process \u{201C}/bin/tr\u{0}x\u{201D} (No such file or directory)";
    assert_eq!(
        ask(&theirs, nul.clone())["error"]["desc"],
        format!("Guest agent command failed, error was '{glib}'")
    );
    assert_eq!(ask(&ours, nul)["error"]["desc"], glib);
    // 7.2 takes only the boolean form of capture-output.
    let merged = exec_request(with(sh("exit 0"), "capture-output", json!("merged")));
    assert_eq!(
        ask(&theirs, merged.clone())["error"]["desc"],
        "Invalid parameter type for 'capture-output', expected: boolean"
    );
    assert!(ask(&ours, merged)["return"]["pid"].is_i64());
}

/// Checks run inside the VM of the end-to-end test (`vm.rs`), on a
/// synchronized virtio-serial connection to the guest's agent: commands
/// that change the system are tested here, never on the test machine.
/// The guest is a busybox initramfs with users root and tester (uid 1000,
/// home /home/tester), busybox's applets (hwclock, chpasswd, ...) and a
/// scratch ext4 disk mounted with discard at /mnt/scratch.
pub fn vm_checks(c: &mut Client) {
    let status = run(
        c,
        json!({"path": "/bin/sh", "arg": ["-c", "echo hi; id -u; echo oops >&2; exit 5"], "capture-output": true}),
    );
    assert_eq!(decode(&status["out-data"]), b"hi\n0\n", "{status}");
    assert_eq!(decode(&status["err-data"]), b"oops\n", "{status}");
    assert_eq!(status["exitcode"], 5, "{status}");
    // PATH search with a replaced environment, and input-data.
    let status = run(
        c,
        json!({"path": "cat", "env": ["PATH=/nonexistent:/bin:/sbin"], "input-data": "Z3Vlc3QK",
               "capture-output": "merged"}),
    );
    assert_eq!(decode(&status["out-data"]), b"guest\n", "{status}");
    let reply = call_within(
        c,
        &json!({"execute": "guest-exec-status", "arguments": {"pid": 1}}),
        REPLY_TIMEOUT,
    );
    assert_eq!(reply["error"]["desc"], "PID ld does not exist", "{reply}");
}
