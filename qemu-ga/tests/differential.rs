//! Differential tests: the same bytes to Debian's `qemu-ga` (QEMU 7.2) and
//! to ours, replies compared byte for byte.
//!
//! Each case runs on a fresh connection and starts with one 0xFF byte:
//! both agents answer it with the same stray-byte error, and it resets
//! QEMU's parser, whose state otherwise carries over between connections.
//! Each case ends with a `guest-sync` with a unique id, and the replies are
//! read up to the answer to it, however many replies the case produced.
//!
//! Needs `/usr/sbin/qemu-ga` (`apt-get install -y qemu-guest-agent`). When
//! it is missing the tests print a notice and pass, unless the environment
//! variable `CI` is set, in which case they fail.

use std::path::Path;

use serde_json::Value;

use crate::util::{show_short, sync, sync_reply, Agent, Client, REPLY_TIMEOUT, STRAY_FF};

const DEBIAN: &str = "/usr/sbin/qemu-ga";

/// Debian's agent, if installed.
pub(crate) fn debian() -> Option<&'static str> {
    if Path::new(DEBIAN).exists() {
        return Some(DEBIAN);
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{DEBIAN} is missing (apt-get install -y qemu-guest-agent); it is required when CI is set"
    );
    eprintln!("notice: {DEBIAN} not found, differential test skipped (apt-get install -y qemu-guest-agent)");
    None
}

/// Sends 0xFF, `input` and a guest-sync with `end_id` on a fresh
/// connection; returns everything up to and including the sync's reply
/// (or what arrived, marked, if it does not come).
pub(crate) fn exchange(agent: &Agent, input: &[u8], end_id: i64) -> Vec<u8> {
    let mut c = agent.connect();
    c.send(&[&[0xFF][..], input, &sync(end_id)].concat());
    match c.try_read_until(&sync_reply(end_id), REPLY_TIMEOUT) {
        Ok(bytes) => bytes,
        Err(short) => short.into_marked(),
    }
}

/// Runs every case on both agents (started with `args`) and fails listing
/// every case whose replies differ.
pub(crate) fn compare(args: &[&str], cases: &[Vec<u8>]) {
    let Some(debian) = debian() else { return };
    let theirs = Agent::start_program(debian, args);
    let ours = Agent::start(args);
    let mut differences = Vec::new();
    for (i, input) in (0..).zip(cases) {
        let end_id = 900_000 + i;
        let expected = exchange(&theirs, input, end_id);
        // Each case must be complete: QEMU answers the 0xFF first and the
        // final guest-sync last.
        assert!(
            expected.starts_with(STRAY_FF) && expected.ends_with(&sync_reply(end_id)),
            "case #{i} {} is not self-contained; QEMU wrote {}",
            show_short(input, 200),
            show_short(&expected, 1000)
        );
        let actual = exchange(&ours, input, end_id);
        if actual != expected {
            differences.push(format!(
                "case #{i} {}\n    qemu: {}\n    ours: {}",
                show_short(input, 200),
                show_short(&expected, 1000),
                show_short(&actual, 1000)
            ));
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {} cases differ from QEMU's agent:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}

/// `n` times `open` followed by `n` times `close`.
fn nested(open: u8, close: u8, n: usize) -> Vec<u8> {
    [vec![open; n], vec![close; n]].concat()
}

fn ping_with_id(id: &[u8]) -> Vec<u8> {
    [&br#"{"execute":"guest-ping","id":"#[..], id, b"}"].concat()
}

fn sync_with_arguments(arguments: &[u8]) -> Vec<u8> {
    [&br#"{"execute":"guest-sync","arguments":"#[..], arguments, b"}"].concat()
}

fn execute(name: &[u8]) -> Vec<u8> {
    [&br#"{"execute":""#[..], name, br#""}"#].concat()
}

/// The cases both agents answer identically.
fn cases() -> Vec<Vec<u8>> {
    let mut cases: Vec<Vec<u8>> = Vec::new();
    let mut add = |bytes: &[u8]| cases.push(bytes.to_vec());

    // Sync handshakes.
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":123}}"#);
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":-9223372036854775808}}"#);
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":1}}{"execute":"guest-sync-delimited","arguments":{"id":2}}"#);
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":1},"id":"x"}"#);
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":1}}{"execute":"guest-ping"}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":1234567890123}}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":-5}}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":9223372036854775807}}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":0}}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":-0}}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":-1}, "id": -1}"#);
    add(br#"{"execute":"guest-sync","arguments":{"id":1},"id":{"a":[1,{"b":null}]}}"#);

    // guest-ping with every type of id.
    for id in [
        &br#""abc""#[..],
        br#""""#,
        br#"{"x":[1]}"#,
        br#"[1,"a",null,true]"#,
        b"{}",
        b"[]",
        b"null",
        b"true",
        b"false",
        b"5",
        b"-7",
        b"18446744073709551615",
        b"18446744073709551616",
        b"-9223372036854775808",
        b"-9223372036854775809",
        b"111111111111111111111111111111",
        b"-111111111111111111111111111111",
        b"123456789012345678901234567890.5",
        // Floats, printed as QEMU prints them.
        b"1.0",
        b"1.5e300",
        b"0.1",
        b"-0.0",
        b"1E5",
        b"5e-324",
        b"2.2250738585072014e-308",
        b"0.30000000000000004",
        b"1e22",
        b"1e21",
        b"123456789.125",
        b"-1.5",
        b"100.0",
        b"1e-400",
        // Non-ASCII and escapes in ids: output escaping.
        b"\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"",
        br#""a\u00e9\n\t\"\\\/\u0001\u007f""#,
        b"\"\x7f\"",
        br#""\ud83d\ude00""#,
        br#""\u0000""#,
        br#""a\u0000b""#,
        br#""\u0080""#,
        br#""\uFDF0""#,
        br#""\/""#,
        br#""\b\f""#,
    ] {
        add(&ping_with_id(id));
    }
    add(&ping_with_id(format!("\"{}\"", "x".repeat(70_000)).as_bytes()));

    // Single-quoted strings.
    add(b"{'execute':'guest-ping','id':'x'}");
    add(b"{'execute':'guest-sync','arguments':{'id':42}}");
    add(b"{'execute':'guest-ping','id':'a\"b'}");
    add(b"{\"execute\":'guest-ping',\"id\":'it\\'s'}");
    add(br#"{"execute":"guest-ping","id":"\'"}"#);

    // Request shapes.
    for request in [
        &b"[]"[..],
        b"[1]",
        b"{}",
        br#"{"id":1}"#,
        br#"{"execute":1}"#,
        br#"{"execute":null}"#,
        br#"{"execute":["guest-ping"]}"#,
        br#"{"execute":"guest-ping","arguments":[]}"#,
        br#"{"execute":"guest-ping","arguments":null}"#,
        br#"{"execute":"guest-ping","arguments":"x"}"#,
        br#"{"execute":"guest-ping","arguments":1}"#,
        br#"{"execute":"guest-ping","arguments":{},"id":[]}"#,
        br#"{"execute":"guest-ping","foo":1}"#,
        br#"{"execute":"guest-ping","control":{}}"#,
        br#"{"execute":"guest-ping","exec-oob":"guest-ping"}"#,
        br#"{"execute":"guest-ping","exec-oob":"guest-ping","id":3}"#,
        br#"{"exec-oob":"guest-ping"}"#,
        br#"{"exec-oob":"guest-ping","id":3}"#,
        br#"{"execute":"nope","id":5}"#,
        br#"{"id":1,"execute":"nope"}"#,
        br#"{"id":1,"execute":"guest-ping"}"#,
        br#"{"execute":"Guest-Ping"}"#,
        br#"{"execute":""}"#,
        br#"{"foo":1,"id":3}"#,
        br#"{"execute":1,"foo":1,"id":3}"#,
        br#"{"execute":1,"arguments":[],"id":3}"#,
        br#"{"execute":"guest-ping","arguments":{},"foo":1,"id":3}"#,
        br#"{"foo":1,"execute":"guest-ping","id":3}"#,
        br#"{"execute":"\u0067uest-ping","id":1}"#,
        br#"  {  "execute"  :  "guest-ping"  }  "#,
        b"\r\n\t {\"execute\":\"guest-ping\"}\r\n",
        br#"{"execute":"guest-ping" , "id" : 1 }"#,
    ] {
        add(request);
    }

    // Argument errors.
    add(br#"{"execute":"guest-sync"}"#);
    for arguments in [
        &b"{}"[..],
        br#"{"id":1,"x":2}"#,
        br#"{"id":"s","x":2}"#,
        br#"{"id":1.0}"#,
        br#"{"id":1.5}"#,
        br#"{"id":1e3}"#,
        br#"{"id":"1"}"#,
        br#"{"id":true}"#,
        br#"{"id":null}"#,
        br#"{"id":[1]}"#,
        br#"{"id":{}}"#,
        br#"{"id":9223372036854775808}"#,
        br#"{"id":18446744073709551615}"#,
        br#"{"id":-9223372036854775808}"#,
        br#"{"id":-9223372036854775809}"#,
        br#"{"id":1,"id":2}"#,
    ] {
        add(&sync_with_arguments(arguments));
    }
    add(br#"{"execute":"guest-ping","arguments":{"x":1}}"#);
    add(br#"{"execute":"guest-ping","arguments":{"x":1},"id":7}"#);
    add(br#"{"execute":"guest-ping","arguments":{"id":1}}"#);
    add(br#"{"execute":"guest-ping","arguments":{}}"#);
    add(br#"{"execute":"guest-info","arguments":{"x":1}}"#);
    add(br#"{"execute":"guest-sync-delimited","arguments":{"id":"s"},"id":3}"#);

    // JSON syntax errors.
    for text in [
        // Expecting a value.
        &br#"{"execute":"guest-ping",}"#[..],
        br#"{"a":}"#,
        b"[,1]",
        br#"{"a":1,}"#,
        br#"{"a":[1,2,]}"#,
        br#"{"a":1,,}"#,
        b"[1,:]",
        // Separators.
        b"[1 2]",
        br#"{"execute":"guest-ping" "id":1}"#,
        b"{,}",
        // Missing colon.
        br#"{"execute" "guest-ping"}"#,
        br#"{"a"}"#,
        br#"{"a"::1}"#,
        // Non-string key.
        b"{1:2}",
        // Duplicate keys.
        br#"{"a":1,"a":2}"#,
        br#"{"execute":"guest-ping","execute":"guest-ping"}"#,
        // Keywords.
        br#"{"execute":tru}"#,
        br#"{"execute":nul}"#,
        br#"{"execute":"guest-ping","id":falsey}"#,
        br#"{"execute":"guest-ping","id":nulll}"#,
        b"nulll ",
        b"True ",
        b"NULL ",
    ] {
        add(text);
    }
    // Escapes.
    for name in [
        &br#"\q"#[..],
        br#"\x41"#,
        br#"\u12"#,
        br#"\u00"#,
        br#"\u12345"#,
        br#"\uD800"#,
        br#"\uDC00"#,
        br#"\ud83dx"#,
        br#"\udc00\ud800"#,
        br#"\u0000"#,
        // Invalid UTF-8 and control characters inside strings.
        b"\xc3\x28",
        b"\xe2\x82",
        b"\xc0\xaf",
        b"\xed\xa0\x80",
        b"\xf8\x88\x80\x80\x80",
        b"\xf4\x90\x80\x80",
        b"\xf0\x9f\x98",
        b"\xe0\x80\x80",
        b"\x80",
        b"\xc3",
        b"a\tb",
        b"a\nb",
        b"a\x1fb",
        b"a\x01b",
        b"\xfe",
        // Non-ASCII command names.
        b"gu\xc3\xa9st",
    ] {
        add(&execute(name));
    }
    add(br#"{"execute":"guest-ping","id":"\uD800"}"#);

    // Stray bytes.
    for text in [
        &b"@"[..],
        b"%",
        b"\x01",
        b"\x00",
        b"\x1b",
        b"\x7f",
        b"\t",
        b"01",
        b"00 ",
        b"-01 ",
        b"-x",
        b"- ",
        b"1.x",
        b"1e ",
        b"1e+ ",
        b".5 ",
        b"+1 ",
        b"0x10 ",
        b"\x80",
        b"\xc3\xa9",
        b"\xfe",
        b"\"\xff\"",
        br#"{"execute":"guest-ping" @ }"#,
        br#"{"execute":"guest-ping"} garbage {"execute":"guest-ping","id":1}"#,
        b"{\"execute\":\"guest-ping\"\xff{\"execute\":\"guest-ping\",\"id\":9}",
    ] {
        add(text);
    }

    // Unbalanced.
    for text in [
        &b"}"[..],
        b"]",
        br#"{"a":1}}"#,
        b"[]]",
        br#"{"execute":"guest-ping"}}"#,
        br#"{"execute":"guest-ping"]"#,
        br#"["execute"}"#,
    ] {
        add(text);
    }

    // Top-level scalars, complete once the space arrives.
    for text in [
        &b"42 "[..],
        b"\"s\" ",
        b"true ",
        b"null ",
        b"1.5 ",
        b"-0 ",
        b"111111111111111111111111111111 ",
        b"-0.0e-5 ",
        br#"{"a":1} 1 "#,
    ] {
        add(text);
    }

    // Several messages in one write.
    add(br#"{"execute":"guest-ping"}{"execute":"guest-ping","id":2}"#);
    add(b"{\"execute\":\"guest-ping\",\"id\":1}\n{\"execute\":\"nope\",\"id\":2}\r\n[]\t{}");

    // Nesting.
    add(&nested(b'[', b']', 1100));
    add(&nested(b'{', b'}', 1025));
    add(&nested(b'[', b']', 1025));
    add(&nested(b'[', b']', 1024));

    cases
}

#[test]
fn replies_match_qemu_byte_for_byte() {
    let cases = cases();
    assert!(cases.len() >= 40, "{}", cases.len());
    compare(&[], &cases);
}

#[test]
fn blocked_command_replies_match_qemu() {
    compare(
        &["-b", "guest-ping"],
        &[
            br#"{"execute":"guest-ping"}"#.to_vec(),
            br#"{"execute":"guest-ping","id":"p"}"#.to_vec(),
            br#"{"execute":"guest-ping","arguments":{"x":1}}"#.to_vec(),
            br#"{"execute":"guest-sync-delimited","arguments":{"id":4}}"#.to_vec(),
        ],
    );
}

/// `guest-info` from `agent`, started with `args`.
fn info(agent: &Agent) -> Value {
    let mut c: Client = agent.connect();
    c.send(br#"{"execute":"guest-info"}"#);
    let line = c.read_line();
    let reply: Value = serde_json::from_slice(&line)
        .unwrap_or_else(|e| panic!("guest-info reply {}: {e}", show_short(&line, 500)));
    reply["return"].clone()
}

#[track_caller]
fn assert_core_commands(info: &Value, who: &str, blocked: &[&str]) {
    assert!(info["version"].is_string(), "{who}: {info}");
    let commands = info["supported_commands"].as_array().expect("supported_commands");
    for name in ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info"] {
        let entry = commands
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{who}: {name} not listed"));
        let enabled = !blocked.contains(&name);
        assert_eq!(entry["enabled"], enabled, "{who}: {entry}");
        assert_eq!(entry["success-response"], true, "{who}: {entry}");
    }
}

#[test]
fn guest_info_agrees_on_the_core_commands() {
    let Some(debian) = debian() else { return };
    for blocked in [&[][..], &["guest-ping"]] {
        let args: Vec<&str> = if blocked.is_empty() {
            Vec::new()
        } else {
            vec!["-b", blocked[0]]
        };
        let theirs = Agent::start_program(debian, &args);
        let ours = Agent::start(&args);
        assert_core_commands(&info(&theirs), "qemu", blocked);
        assert_core_commands(&info(&ours), "ours", blocked);
    }
}

// Known differences. Each test below holds cases where our replies differ
// from QEMU's; they are ignored until the non-test code is fixed (or the
// difference is accepted), and name the difference.

#[test]
fn matches_qemu_recovery_resumes_at_colon_and_comma() {
    compare(
        &[],
        &[
            b":".to_vec(),
            b",".to_vec(),
            b"@,{\"execute\":\"guest-ping\",\"id\":1}".to_vec(),
            b"{\"execute\":\"guest-ping\" @ ,\"id\":1}".to_vec(),
            b"{\"execute\":\"gu\xfeest-ping\",\"id\":1}".to_vec(),
        ],
    );
}

#[test]
fn matches_qemu_noncharacters_are_rejected() {
    let mut cases = Vec::new();
    for id in [
        &br#""\uFFFF""#[..],
        br#""\uFFFE""#,
        br#""\uFDD0""#,
        br#""\uFDEF""#,
        br#""\ud83f\udfff""#,
        br#""\udbff\udfff""#,
        b"\"\xef\xbf\xbf\"",
        b"\"\xef\xbf\xbe\"",
        b"\"\xef\xb7\x90\"",
        b"\"\xf0\x9f\xbf\xbf\"",
    ] {
        cases.push(ping_with_id(id));
    }
    compare(&[], &cases);
}

#[test]
fn matches_qemu_modified_utf8_nul() {
    compare(&[], &[ping_with_id(b"\"\xc0\x80\"")]);
}

#[test]
fn matches_qemu_bad_unicode_escape_text() {
    compare(&[], &[ping_with_id(br#""\uzzzz""#), ping_with_id(br#""\u0zzz""#)]);
}

#[test]
fn matches_qemu_lead_surrogate_text() {
    compare(&[], &[ping_with_id(br#""\ud800\u0041""#)]);
}

#[test]
fn matches_qemu_declared_arguments_are_checked_first() {
    compare(
        &[],
        &[
            sync_with_arguments(br#"{"x":2}"#),
            sync_with_arguments(br#"{"x":2,"id":"s"}"#),
        ],
    );
}

#[test]
#[ignore = "by design: QEMU walks objects in hash order (QDict / GHashTable), so which bad member it reports and \
            the member order of an echoed object id differ from ours (input order)"]
fn known_difference_hash_order() {
    compare(
        &[],
        &[
            br#"{"foo":1,"execute":1,"id":3}"#.to_vec(),
            br#"{"arguments":[],"execute":1,"id":3}"#.to_vec(),
            br#"{"execute":"guest-ping","arguments":{"x":1,"y":2}}"#.to_vec(),
            ping_with_id(br#"{"b":1,"a":2}"#),
        ],
    );
}

#[test]
#[ignore = "by design: QEMU echoes an id of 1e400 as `inf` (not JSON); we reject it with \
            'JSON parse error, number out of range'"]
fn known_difference_infinite_float() {
    compare(&[], &[ping_with_id(b"1e400"), ping_with_id(b"-1e400")]);
}

/// One request as bytes.
pub(crate) fn req(execute: &str, arguments: &str) -> Vec<u8> {
    format!("{{\"execute\":\"{execute}\",\"arguments\":{arguments}}}").into_bytes()
}

#[test]
fn file_freeze_and_shutdown_commands_match_qemu() {
    // The agents thaw the machine's own filesystems: none may be a loop
    // filesystem another test has frozen.
    let _no_loop_fs = qga_commands::testing::MachineThawGuard::acquire();
    // Relative paths: both agents run in their own directory, so replies
    // that name a path are the same bytes. Only freeze-list of a mount
    // point that does not exist is sent: Debian's agent must never freeze
    // this machine's filesystems.
    let cases: Vec<Vec<u8>> = vec![
        req("guest-file-open", r#"{"path":"f","mode":"w+"}"#),
        req(
            "guest-file-write",
            r#"{"handle":1000,"buf-b64":"aGVsbG8gd29ybGQ="}"#,
        ),
        req(
            "guest-file-write",
            r#"{"handle":1000,"buf-b64":"aGVsbG8=","count":2}"#,
        ),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":"aGVsbG8"}"#),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":"aGVs\nbG8=\n"}"#),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":"!!!"}"#),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":"aGVs bG8="}"#),
        req(
            "guest-file-write",
            r#"{"handle":1000,"buf-b64":"aGVsbG8=","count":-1}"#,
        ),
        req(
            "guest-file-write",
            r#"{"handle":1000,"buf-b64":"aGVsbG8=","count":6}"#,
        ),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":""}"#),
        req("guest-file-read", r#"{"handle":1000}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":0}"#),
        req("guest-file-read", r#"{"handle":1000,"count":2}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":2,"whence":1}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":-3,"whence":2}"#),
        req("guest-file-read", r#"{"handle":1000}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":1,"whence":"set"}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":1,"whence":"cur"}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":"end"}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":7}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":-1}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":true}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":1.5}"#),
        req(
            "guest-file-seek",
            r#"{"handle":1000,"offset":0,"whence":"bogus"}"#,
        ),
        req("guest-file-seek", r#"{"handle":1000,"offset":-5,"whence":0}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0}"#),
        req("guest-file-read", r#"{"handle":1000,"count":0}"#),
        req("guest-file-read", r#"{"handle":1000,"count":-1}"#),
        req("guest-file-read", r#"{"handle":1000,"count":50331649}"#),
        req("guest-file-read", r#"{"handle":1000,"count":"2"}"#),
        req("guest-file-flush", r#"{"handle":1000}"#),
        req("guest-file-close", r#"{"handle":1000}"#),
        req("guest-file-close", r#"{"handle":1000}"#),
        req("guest-file-read", r#"{"handle":1000}"#),
        req("guest-file-write", r#"{"handle":1000,"buf-b64":"aGk="}"#),
        req("guest-file-flush", r#"{"handle":1000}"#),
        req("guest-file-seek", r#"{"handle":1000,"offset":0,"whence":0}"#),
        req("guest-file-open", r#"{"path":"missing"}"#),
        req("guest-file-open", r#"{"path":"missing","mode":"r+"}"#),
        req("guest-file-open", r#"{"path":"f","mode":"rw"}"#),
        req("guest-file-open", r#"{"path":"f","mode":""}"#),
        req("guest-file-open", r#"{"mode":"r"}"#),
        req("guest-file-open", r#"{"path":"f","mode":"r","x":1}"#),
        req("guest-file-open", r#"{"path":"f"}"#),
        req("guest-file-read", r#"{"handle":1001,"count":100}"#),
        req("guest-file-write", r#"{"handle":1001,"buf-b64":"aGk="}"#),
        req("guest-file-open", r#"{"path":"f","mode":"a"}"#),
        req("guest-file-write", r#"{"handle":1002,"buf-b64":"IQ=="}"#),
        req("guest-file-read", r#"{"handle":1002}"#),
        req("guest-file-open", r#"{"path":"f","mode":"a+b"}"#),
        req("guest-file-read", r#"{"handle":1003}"#),
        req("guest-file-open", r#"{"path":"f","mode":"r+b"}"#),
        req("guest-file-write", r#"{"handle":1004,"buf-b64":"WA=="}"#),
        req("guest-file-read", r#"{"handle":1004}"#),
        req("guest-file-open", r#"{"path":"g","mode":"wb"}"#),
        req("guest-file-open", r#"{"path":"."}"#),
        req("guest-file-read", r#"{"handle":1006}"#),
        req("guest-file-open", r#"{"path":"nodir/x","mode":"w"}"#),
        // U+0000 is part of the name (C0 80), not its end.
        req("guest-file-open", r#"{"path":"n\u0000l","mode":"w"}"#),
        req("guest-file-write", r#"{"handle":1007,"buf-b64":"Tg=="}"#),
        req("guest-file-close", r#"{"handle":1007}"#),
        req("guest-file-open", r#"{"path":"n\u0000l"}"#),
        req("guest-file-read", r#"{"handle":1008}"#),
        req("guest-file-open", r#"{"path":"n"}"#),
        req("guest-shutdown", r#"{"mode":"x"}"#),
        req("guest-shutdown", r#"{"mode":1}"#),
        req("guest-shutdown", r#"{"x":1}"#),
        b"{\"execute\":\"guest-fsfreeze-status\"}".to_vec(),
        req(
            "guest-fsfreeze-freeze-list",
            r#"{"mountpoints":["/no/such/mount"]}"#,
        ),
        req("guest-fsfreeze-freeze-list", r#"{"mountpoints":"/x"}"#),
        req("guest-fsfreeze-freeze-list", r#"{"mountpoints":[1]}"#),
        b"{\"execute\":\"guest-fsfreeze-status\"}".to_vec(),
        b"{\"execute\":\"guest-fsfreeze-thaw\"}".to_vec(),
        req("guest-fsfreeze-status", r#"{"x":1}"#),
    ];
    compare(&[], &cases);
}
