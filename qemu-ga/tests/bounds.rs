//! Hostile input of a size that matters: 8 MiB command names, member names,
//! stray tokens, enum values and paths. Each gets one short error line, and
//! the agent goes on serving.

use serde_json::{json, Value};

use crate::util::{call, show_short, Agent, Client};

/// Bytes of host text in each hostile request.
const HUGE: usize = 8 << 20;

/// Most bytes a reply to a malformed request may take: an echo of at most
/// 1 KiB, each byte escaped to at most six (`\u007F`), in a fixed sentence.
const FEW_KIB: usize = 8 * 1024;

/// The echo of a one-byte `unit` repeated past the cut.
fn cut(unit: &str) -> String {
    format!("{}...", unit.repeat(qapi_core::ECHO_MAX / unit.len()))
}

/// Sends `request` and returns the one error line it gets, checking it is
/// short; the agent must then answer a ping as its very next reply.
#[track_caller]
fn one_short_error(client: &mut Client, request: &[u8], limit: usize, id: i64) -> String {
    client.send(request);
    let line = client.read_line();
    assert!(
        line.len() <= limit,
        "a {}-byte reply: {}",
        line.len(),
        show_short(&line, 300)
    );
    let reply: Value =
        serde_json::from_slice(&line).unwrap_or_else(|e| panic!("{e}: {}", show_short(&line, 300)));
    let desc = reply["error"]["desc"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error: {}", show_short(&line, 300)))
        .to_string();
    client.assert_alive(id);
    desc
}

/// A memory figure of process `pid` from `/proc/<pid>/status`, in KiB
/// (`field` is `VmRSS:`, `VmHWM:`, ...).
fn vm_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn bounds_huge_command_name_of_del_bytes() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.assert_alive(1);
    let before = vm_kib(agent.pid(), "VmRSS:");
    let name = "\u{7f}".repeat(HUGE);
    let request = format!("{{\"execute\":\"{name}\",\"id\":2}}");
    c.send(request.as_bytes());
    let line = c.read_line();
    // 1 KiB of DEL, each written as six bytes.
    let echo = "\\u007F".repeat(qapi_core::ECHO_MAX);
    let expected = format!(
        "{{\"id\": 2, \"error\": {{\"class\": \"CommandNotFound\", \"desc\": \"The command {echo}... has not been found\"}}}}\n"
    );
    assert_eq!(String::from_utf8_lossy(&line), expected);
    assert!(line.len() <= FEW_KIB, "{} bytes", line.len());
    c.assert_alive(3);
    let after = vm_kib(agent.pid(), "VmRSS:");
    let peak = vm_kib(agent.pid(), "VmHWM:");
    println!(
        "agent VmRSS before: {before:?} KiB, after an 8 MiB command name: {after:?} KiB (peak {peak:?} KiB)"
    );
    // The request is held a few times over while it is framed and decoded
    // (about 20 MiB at the peak); a 48 MiB reply, as QEMU's agent writes,
    // would be more than twice that.
    let peak = peak.expect("VmHWM");
    assert!(peak < 40 * 1024, "peak {peak} KiB for an 8 MiB request");
}

#[test]
fn bounds_huge_unknown_member_name() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let member = "m".repeat(HUGE);
    // A member of the request itself.
    let request = format!("{{\"execute\":\"guest-ping\",\"{member}\":1}}");
    let desc = one_short_error(&mut c, request.as_bytes(), FEW_KIB, 1);
    assert_eq!(desc, format!("QMP input member '{}' is unexpected", cut("m")));
    // A member of the arguments.
    let request = format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":1,\"{member}\":1}}}}");
    let desc = one_short_error(&mut c, request.as_bytes(), FEW_KIB, 2);
    assert_eq!(desc, format!("Parameter '{}' is unexpected", cut("m")));
}

#[test]
fn bounds_huge_stray_token() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // A string of 8 MiB, then a control character inside it.
    let mut request = b"{\"execute\":\"".to_vec();
    request.extend_from_slice(&b"s".repeat(HUGE));
    request.push(0x01);
    let desc = one_short_error(&mut c, &request, FEW_KIB, 1);
    // 1 KiB in all: the quote, the first letters, the mark, the bad byte.
    let head = "s".repeat(1024 - 5);
    assert_eq!(desc, format!("JSON parse error, stray '\"{head}...\u{1}'"));
    // A number of 8 MiB digits whose exponent has no digit.
    let mut request = b"[0.".to_vec();
    request.extend_from_slice(&b"7".repeat(HUGE));
    request.extend_from_slice(b"e!");
    let desc = one_short_error(&mut c, &request, FEW_KIB, 2);
    assert!(desc.starts_with("JSON parse error, stray '0.777"), "{desc}");
    assert!(desc.ends_with("7...!'"), "{desc}");
    // A keyword of 8 MiB letters.
    let request = format!("{{\"execute\":{}}}", "k".repeat(HUGE));
    let desc = one_short_error(&mut c, request.as_bytes(), FEW_KIB, 3);
    assert_eq!(desc, format!("JSON parse error, invalid keyword '{}'", cut("k")));
}

#[test]
fn bounds_huge_enum_value() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let value = "\u{7f}".repeat(HUGE);
    let request =
        json!({"execute": "guest-file-seek", "arguments": {"handle": 1, "offset": 0, "whence": value}});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 1);
    assert_eq!(
        desc,
        format!("Parameter 'whence' does not accept value '{}'", cut("\u{7f}"))
    );
    let request = json!({"execute": "guest-exec", "arguments": {"path": "true", "capture-output": value}});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 2);
    assert!(desc.starts_with("Parameter 'capture-output' does not accept value '\u{7f}"));
    assert!(desc.len() <= qapi_core::ECHO_MAX + 64, "{} bytes", desc.len());
}

#[test]
fn bounds_huge_path_to_guest_file_open() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let path = format!("/{}", "p".repeat(HUGE));
    let request = json!({"execute": "guest-file-open", "arguments": {"path": path, "mode": "r"}});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 1);
    assert!(
        desc.starts_with("failed to open file '/ppp"),
        "{}",
        show_short(desc.as_bytes(), 200)
    );
    println!("guest-file-open with an 8 MiB path: a {}-byte desc", desc.len());
    // guest-exec quotes the path as GLib does, cut, and keeps the reason.
    let request = json!({"execute": "guest-exec", "arguments": {"path": path}});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 2);
    assert!(desc.len() <= qapi_core::ECHO_MAX + 64, "{} bytes", desc.len());
    assert!(
        desc.ends_with("...\u{201D} (File name too long)"),
        "{}",
        show_short(desc.as_bytes(), 200)
    );
}

#[test]
fn bounds_huge_id_is_refused_not_echoed() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let id = "\u{7f}".repeat(HUGE);
    let request = json!({"execute": "guest-ping", "id": id});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 1);
    assert_eq!(desc, "QMP input member 'id' is longer than 1048576 bytes");
}

#[test]
fn bounds_commands_that_overran_their_deadline_are_capped() {
    use std::os::unix::fs::PermissionsExt;
    // A shutdown program that hangs: every guest-shutdown overruns the
    // one-second deadline and goes on in the background.
    let sbin = crate::util::tempdir();
    let poweroff = sbin.path().join("poweroff");
    std::fs::write(&poweroff, "#!/bin/sh\nexec sleep 20\n").unwrap();
    std::fs::set_permissions(&poweroff, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mounts = sbin.path().join("mountinfo");
    std::fs::write(&mounts, "").unwrap();
    let roots = crate::util::FakeRoots::new(Some(&mounts), Some(sbin.path()));
    let agent = Agent::restart_in(
        crate::util::tempdir(),
        &roots.args(&["--command-timeout", "1"]),
        &[],
    );
    let mut c = agent.connect();
    let cap = qapi_core::MAX_ABANDONED;
    let mut burst = Vec::new();
    for id in 0..cap {
        burst.extend_from_slice(format!("{{\"execute\":\"guest-shutdown\",\"id\":{id}}}").as_bytes());
    }
    c.send(&burst);
    for id in 0..cap {
        let line = c
            .try_read_until(b"\n", std::time::Duration::from_secs(30))
            .unwrap_or_else(|s| panic!("no reply {id}: {}", show_short(&s.into_marked(), 300)));
        let reply: Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(reply["id"], id);
        assert!(
            reply["error"]["desc"].as_str().unwrap().contains("timed out"),
            "{reply}"
        );
    }
    let started = std::time::Instant::now();
    let reply = call(&mut c, &json!({"execute": "guest-shutdown"}));
    assert!(started.elapsed() < std::time::Duration::from_millis(500));
    assert_eq!(
        reply["error"]["desc"],
        format!(
            "Command guest-shutdown was not started: {cap} commands that overran their deadline are \
             still running (at most {cap}); try again when they have ended"
        )
    );
    // What must always run still runs.
    c.assert_alive(100);
    assert_eq!(
        call(&mut c, &json!({"execute": "guest-fsfreeze-status"}))["return"],
        "thawed"
    );
    assert_eq!(
        call(&mut c, &json!({"execute": "guest-fsfreeze-thaw"}))["return"],
        0
    );
    let threads = std::fs::read_dir(format!("/proc/{}/task", agent.pid()))
        .unwrap()
        .count();
    assert!(threads <= cap + 4, "{threads} threads");
    println!("agent threads with {cap} abandoned commands: {threads}");
}
