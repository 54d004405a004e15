//! Hostile input of a size that matters: 8 MiB command names, member names,
//! stray tokens, enum values and paths. Each gets one short error line, and
//! the agent goes on serving. Also: the list of commands the argument fuzz
//! target and property tests decode for is the agent's own.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::util::{call, show_short, Agent, Client};

#[path = "../../qapi-core/tests/support/commands.rs"]
mod commands;

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
    // For information only: what the agent held for an 8 MiB request, and
    // what it kept after.
    println!(
        "agent VmRSS before: {before:?} KiB, after an 8 MiB command name: {after:?} KiB (peak {peak:?} KiB)"
    );
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
    // The file commands' own messages are not cut at 1 KiB yet; the cap on
    // every error desc (64 KiB) bounds them.
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), 64 * 1024 + 256, 1);
    assert!(
        desc.starts_with("failed to open file '/ppp"),
        "{}",
        show_short(desc.as_bytes(), 200)
    );
    println!("guest-file-open with an 8 MiB path: a {}-byte desc", desc.len());
    // guest-exec quotes the path as GLib does, cut.
    let request = json!({"execute": "guest-exec", "arguments": {"path": path}});
    let desc = one_short_error(&mut c, request.to_string().as_bytes(), FEW_KIB, 2);
    assert!(desc.len() <= qapi_core::ECHO_MAX + 3, "{} bytes", desc.len());
}

#[test]
fn bounds_fuzzed_command_list_is_the_agents() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let info = call(&mut c, &json!({"execute": "guest-info"}));
    let registered: BTreeSet<String> = info["return"]["supported_commands"]
        .as_array()
        .expect("a command list")
        .iter()
        .filter_map(|cmd| cmd["name"].as_str().map(String::from))
        .collect();
    let listed: BTreeSet<String> = commands::COMMANDS.iter().map(|s| s.to_string()).collect();
    assert_eq!(
        registered, listed,
        "qapi-core/tests/support/commands.rs must list every command"
    );
}
