//! Serving a Unix socket: replies byte for byte, ordering, the sync
//! handshakes, bad input, reconnecting clients, command lists and signals.

use std::io::Write;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;

use crate::util::{
    generic, generic_id, not_found, ping, ping_reply, show_short, sync, sync_reply, Agent, EXIT_TIMEOUT,
    STRAY_FF,
};

#[test]
fn replies_are_byte_identical_to_qemu() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.expect(br#"{"execute":"guest-ping"}"#, b"{\"return\": {}}\n");
    c.expect(
        br#"{"execute":"guest-ping","id":"abc"}"#,
        b"{\"return\": {}, \"id\": \"abc\"}\n",
    );
    c.expect(
        br#"{"execute":"nope","id":5}"#,
        &not_found(Some("5"), "The command nope has not been found"),
    );
    c.expect(b"\xff", STRAY_FF);
    c.expect(
        br#"{"execute":"guest-sync-delimited","arguments":{"id":123}}"#,
        b"\xff{\"return\": 123}\n",
    );
    // Only the reply to guest-sync-delimited carries the 0xFF.
    c.expect(
        br#"{"execute":"guest-sync","arguments":{"id":123}}"#,
        b"{\"return\": 123}\n",
    );
    c.expect(br#"{"execute":"guest-ping"}"#, b"{\"return\": {}}\n");
}

#[test]
fn thousand_pipelined_requests_are_answered_in_order() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let mut batch = Vec::new();
    for id in 0..1000 {
        batch.extend_from_slice(&ping(id));
    }
    // Write from another thread so a full socket buffer cannot deadlock
    // the test while it is not reading yet.
    let mut writer = c.stream().try_clone().expect("clone stream");
    let sender = thread::spawn(move || writer.write_all(&batch));
    let lines = c.read_lines(1000);
    sender.join().expect("writer thread").expect("write batch");
    for (id, line) in (0..).zip(&lines) {
        assert_eq!(line, &ping_reply(id), "reply #{id}: {}", show_short(line, 200));
    }
    c.assert_silent(Duration::from_millis(50));
}

#[test]
fn sync_delimited_handshake() {
    let agent = Agent::start(&[]);
    for id in [123_i64, 0, -1, 1_234_567_890_123, i64::MAX, i64::MIN] {
        let mut c = agent.connect();
        // What a host does: 0xFF to reset the parser, then the handshake,
        // then skip everything up to the agent's 0xFF.
        let mut request = vec![0xFF];
        request.extend_from_slice(
            format!("{{\"execute\":\"guest-sync-delimited\",\"arguments\":{{\"id\":{id}}}}}").as_bytes(),
        );
        c.send(&request);
        let skipped = c.read_until(b"\xff");
        assert_eq!(skipped, [STRAY_FF, b"\xff"].concat(), "id {id}");
        assert_eq!(c.read_line(), sync_reply(id), "id {id}");
        c.assert_alive(id.wrapping_add(1));
    }
}

#[test]
fn sync_echoes_large_and_negative_ids() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for id in [
        1_234_567_890_123_i64,
        -1_234_567_890_123,
        -5,
        0,
        i64::MAX,
        i64::MIN,
    ] {
        c.expect(&sync(id), &sync_reply(id));
    }
    // The id may also ride on the request itself.
    c.expect(
        br#"{"execute":"guest-sync","arguments":{"id":-1},"id":"x"}"#,
        b"{\"return\": -1, \"id\": \"x\"}\n",
    );
}

#[test]
fn request_ids_of_every_type_are_echoed() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for id in [
        r#""abc""#,
        r#""""#,
        r#"{"x": [1]}"#,
        r#"{"a": [1, {"b": null}]}"#,
        r#"[1, "a", null, true]"#,
        "[]",
        "{}",
        "null",
        "true",
        "false",
        "-7",
        "1234567890123",
        "18446744073709551615",
        "1.5",
        r#""\u00E9\n\"""#,
    ] {
        let request = format!("{{\"execute\":\"guest-ping\",\"id\":{id}}}");
        c.expect(
            request.as_bytes(),
            format!("{{\"return\": {{}}, \"id\": {id}}}\n").as_bytes(),
        );
    }
    // Also on errors, once the request was read far enough.
    c.expect(
        br#"{"execute":"nope","id":{"x":[1]}}"#,
        &not_found(Some(r#"{"x": [1]}"#), "The command nope has not been found"),
    );
    c.expect(
        br#"{"execute":"guest-ping","arguments":{"x":1},"id":[7]}"#,
        &generic_id("[7]", "Parameter 'x' is unexpected"),
    );
}

/// Bad input and the exact reply to it; the agent must keep serving after
/// each (checked with a ping).
fn bad_inputs() -> Vec<(&'static str, Vec<u8>, Vec<u8>)> {
    let depth_error = generic("JSON nesting depth limit exceeded");
    let expecting_value = generic("JSON parse error, expecting value");
    let mut over_deep = vec![b'['; 1025];
    over_deep.extend_from_slice(&[b']'; 1025]);
    let mut over_deep_reply = depth_error.clone();
    for _ in 0..1025 {
        over_deep_reply.extend_from_slice(&expecting_value);
    }
    let mut deepest = vec![b'['; 1024];
    deepest.extend_from_slice(&[b']'; 1024]);
    let mut over_deep_objects = vec![b'{'; 1025];
    over_deep_objects.extend_from_slice(&[b'}'; 1025]);
    let c = |s: &'static str| s.as_bytes().to_vec();
    vec![
        ("array", c("[]"), generic("QMP input must be a JSON object")),
        ("scalar", c("42 "), generic("QMP input must be a JSON object")),
        ("string", c(r#""s" "#), generic("QMP input must be a JSON object")),
        ("no execute", c("{}"), generic("QMP input lacks member 'execute'")),
        (
            "no execute, id",
            c(r#"{"id":1}"#),
            generic_id("1", "QMP input lacks member 'execute'"),
        ),
        (
            "execute not a string",
            c(r#"{"execute":1,"id":1}"#),
            generic_id("1", "QMP input member 'execute' must be a string"),
        ),
        (
            "arguments an array",
            c(r#"{"execute":"guest-ping","arguments":[]}"#),
            generic("QMP input member 'arguments' must be an object"),
        ),
        (
            "arguments null",
            c(r#"{"execute":"guest-ping","arguments":null}"#),
            generic("QMP input member 'arguments' must be an object"),
        ),
        (
            "unexpected member",
            c(r#"{"execute":"guest-ping","foo":1}"#),
            generic("QMP input member 'foo' is unexpected"),
        ),
        (
            "exec-oob",
            c(r#"{"execute":"guest-ping","exec-oob":"guest-ping"}"#),
            generic("QMP input member 'exec-oob' is unexpected"),
        ),
        (
            "exec-oob alone",
            c(r#"{"exec-oob":"guest-ping"}"#),
            generic("QMP input member 'exec-oob' is unexpected"),
        ),
        (
            "unknown command",
            c(r#"{"execute":"nope","id":5}"#),
            not_found(Some("5"), "The command nope has not been found"),
        ),
        (
            "command names are case-sensitive",
            c(r#"{"execute":"Guest-Ping"}"#),
            not_found(None, "The command Guest-Ping has not been found"),
        ),
        (
            "missing argument",
            c(r#"{"execute":"guest-sync"}"#),
            generic("Parameter 'id' is missing"),
        ),
        (
            "missing argument, empty arguments",
            c(r#"{"execute":"guest-sync","arguments":{},"id":2}"#),
            generic_id("2", "Parameter 'id' is missing"),
        ),
        (
            "unexpected argument",
            c(r#"{"execute":"guest-ping","arguments":{"x":1}}"#),
            generic("Parameter 'x' is unexpected"),
        ),
        (
            "unexpected argument beside a good one",
            c(r#"{"execute":"guest-sync","arguments":{"id":1,"x":2}}"#),
            generic("Parameter 'x' is unexpected"),
        ),
        (
            "argument of the wrong type",
            c(r#"{"execute":"guest-sync","arguments":{"id":"1"}}"#),
            generic("Invalid parameter type for 'id', expected: integer"),
        ),
        (
            "float argument",
            c(r#"{"execute":"guest-sync","arguments":{"id":1.0}}"#),
            generic("Invalid parameter type for 'id', expected: integer"),
        ),
        (
            "argument out of int64",
            c(r#"{"execute":"guest-sync","arguments":{"id":9223372036854775808}}"#),
            generic("Invalid parameter type for 'id', expected: integer"),
        ),
        (
            "delimited sync with a bad argument has no 0xFF",
            c(r#"{"execute":"guest-sync-delimited","arguments":{"id":null},"id":3}"#),
            generic_id("3", "Invalid parameter type for 'id', expected: integer"),
        ),
        (
            "missing colon",
            c(r#"{"execute" "guest-ping"}"#),
            generic("JSON parse error, missing : in object pair"),
        ),
        (
            "trailing comma",
            c(r#"{"execute":"guest-ping",}"#),
            expecting_value.clone(),
        ),
        (
            "missing separator",
            c("[1 2]"),
            generic("JSON parse error, expected separator in list"),
        ),
        (
            "duplicate key",
            c(r#"{"a":1,"a":2}"#),
            generic("JSON parse error, duplicate key"),
        ),
        (
            "non-string key",
            c("{1:2}"),
            generic("JSON parse error, key is not a string in object"),
        ),
        (
            "invalid keyword",
            c(r#"{"execute":tru}"#),
            generic("JSON parse error, invalid keyword 'tru'"),
        ),
        (
            "invalid escape",
            c(r#"{"execute":"\q"}"#),
            generic("JSON parse error, invalid escape sequence in string"),
        ),
        (
            "lone surrogate",
            c(r#"{"execute":"\uD800"}"#),
            generic("JSON parse error, \\\\uD800 is not a valid Unicode character"),
        ),
        (
            "invalid UTF-8",
            b"{\"execute\":\"\xc3\x28\"}".to_vec(),
            generic("JSON parse error, invalid UTF-8 sequence in string"),
        ),
        ("stray @", c("@"), generic("JSON parse error, stray '@'")),
        ("stray %", c("%"), generic("JSON parse error, stray '%'")),
        (
            "stray control",
            c("\x01"),
            generic("JSON parse error, stray '\\u0001'"),
        ),
        ("leading zero", c("01"), generic("JSON parse error, stray '01'")),
        ("bad number", c("-x"), generic("JSON parse error, stray '-x'")),
        ("bad fraction", c("1.x"), generic("JSON parse error, stray '1.x'")),
        (
            "high byte",
            b"\x80".to_vec(),
            generic("JSON parse error, stray '\\uFFFD'"),
        ),
        ("0xFE", b"\xfe".to_vec(), STRAY_FF.to_vec()),
        ("0xFF", b"\xff".to_vec(), STRAY_FF.to_vec()),
        ("unbalanced }", c("}"), expecting_value.clone()),
        ("unbalanced ]", c("]"), expecting_value.clone()),
        (
            "extra } after a message",
            c(r#"{"execute":"guest-ping"}}"#),
            [&b"{\"return\": {}}\n"[..], &expecting_value].concat(),
        ),
        (
            "0xFF inside a message drops it",
            b"{\"execute\":\"guest-ping\"\xff{\"execute\":\"guest-ping\",\"id\":9}".to_vec(),
            [STRAY_FF, &ping_reply(9)].concat(),
        ),
        ("1025 levels of arrays", over_deep, over_deep_reply),
        (
            "1025 levels of objects",
            over_deep_objects,
            [depth_error, expecting_value.repeat(1025)].concat(),
        ),
        (
            "1024 levels are fine",
            deepest,
            generic("QMP input must be a JSON object"),
        ),
    ]
}

#[test]
fn bad_input_gets_qemus_error_and_the_agent_keeps_serving() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for (i, (name, input, reply)) in (1000..).zip(bad_inputs()) {
        c.send(&input);
        c.send(&ping(i));
        let got = c.read_until(&ping_reply(i));
        let expected = [reply, ping_reply(i)].concat();
        assert!(
            got == expected,
            "{name}: input {}\n  expected: {}\n    actual: {}",
            show_short(&input, 200),
            show_short(&expected, 600),
            show_short(&got, 600)
        );
    }
    // And on a fresh connection too (one client at a time: leave first).
    drop(c);
    agent.connect().assert_alive(1);
}

#[test]
fn messages_may_span_writes() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"#);
    c.assert_silent(Duration::from_millis(50));
    c.send(br#""guest-ping","#);
    c.send(br#""id":1"#);
    c.assert_silent(Duration::from_millis(50));
    c.expect(b"}", &ping_reply(1));
    // A top-level number is complete only once the next byte arrives.
    c.send(b"42");
    c.assert_silent(Duration::from_millis(50));
    c.expect(b" ", &generic("QMP input must be a JSON object"));
    // One byte at a time.
    for &b in ping(2).iter() {
        c.send(&[b]);
    }
    assert_eq!(c.read_line(), ping_reply(2));
}

#[test]
fn client_leaving_mid_message_does_not_affect_the_next() {
    let agent = Agent::start(&[]);
    let mut first = agent.connect();
    first.assert_alive(1);
    first.send(br#"{"execute":"guest-sync","arguments":{"id":"#);
    drop(first);
    // Ours forgets the partial message: the next client's first message is
    // read afresh (QEMU would glue it to the partial one).
    let mut second = agent.connect();
    second.assert_alive(2);
    drop(second);

    // Also inside a string, where a `{` would not even start a new message.
    let mut third = agent.connect();
    third.send(br#"{"execute":"guest-ping","id":"unterminated"#);
    drop(third);
    let mut fourth = agent.connect();
    fourth.assert_alive(4);
}

#[test]
fn client_leaving_with_unread_replies_does_not_affect_the_next() {
    let agent = Agent::start(&[]);
    let mut first = agent.connect();
    let mut batch = Vec::new();
    for id in 0..2000 {
        batch.extend_from_slice(&ping(id));
    }
    first.send(&batch);
    drop(first);
    let mut second = agent.connect();
    second.assert_alive(5000);
}

#[test]
fn many_sequential_connections_are_served() {
    let agent = Agent::start(&[]);
    for id in 0..200 {
        let mut c = agent.connect();
        c.assert_alive(id);
    }
    // Connections that send nothing, or only garbage, change nothing.
    for _ in 0..20 {
        drop(agent.connect());
        let mut c = agent.connect();
        c.send(b"@@@");
    }
    agent.connect().assert_alive(1);
}

#[test]
fn a_second_client_waits_for_the_first() {
    let agent = Agent::start(&[]);
    let mut first = agent.connect();
    first.assert_alive(1);
    let mut second = agent.connect();
    second.send(&ping(2));
    // One client at a time: the second is not served while the first stays.
    second.assert_silent(Duration::from_millis(200));
    first.assert_alive(3);
    drop(first);
    assert_eq!(second.read_line(), ping_reply(2));
}

fn info(c: &mut crate::util::Client) -> Value {
    c.send(br#"{"execute":"guest-info"}"#);
    let line = c.read_line();
    let reply: Value = serde_json::from_slice(&line).expect("guest-info reply is JSON");
    reply["return"].clone()
}

fn enabled(info: &Value, name: &str) -> bool {
    let commands = info["supported_commands"].as_array().expect("supported_commands");
    let entry = commands
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in guest-info: {info}"));
    entry["enabled"].as_bool().expect("enabled is a bool")
}

#[test]
fn guest_info_lists_the_core_commands() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let info = info(&mut c);
    assert_eq!(info["version"], "10.1.0");
    for name in ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info"] {
        assert!(enabled(&info, name), "{name}");
        let commands = info["supported_commands"].as_array().expect("list");
        let entry = commands.iter().find(|c| c["name"] == name).expect("listed");
        assert_eq!(entry["success-response"], true, "{name}");
        assert_eq!(entry.as_object().expect("object").len(), 3, "{entry}");
    }
}

#[test]
fn blocked_command_is_disabled() {
    let agent = Agent::start(&["-b", "guest-ping"]);
    let mut c = agent.connect();
    c.expect(
        br#"{"execute":"guest-ping"}"#,
        &not_found(None, "Command guest-ping has been disabled"),
    );
    c.expect(
        br#"{"execute":"guest-ping","id":1}"#,
        &not_found(Some("1"), "Command guest-ping has been disabled"),
    );
    let info = info(&mut c);
    assert!(!enabled(&info, "guest-ping"));
    assert!(enabled(&info, "guest-sync"));
    assert!(enabled(&info, "guest-info"));
    c.expect(&sync(7), &sync_reply(7));
}

#[test]
fn block_lists_accumulate() {
    let agent = Agent::start(&[
        "-b",
        "guest-ping,guest-sync",
        "--block-rpcs",
        "guest-sync-delimited",
    ]);
    let mut c = agent.connect();
    for name in ["guest-ping", "guest-sync", "guest-sync-delimited"] {
        c.expect(
            format!("{{\"execute\":\"{name}\",\"arguments\":{{}}}}").as_bytes(),
            &not_found(None, &format!("Command {name} has been disabled")),
        );
    }
    let info = info(&mut c);
    assert!(!enabled(&info, "guest-ping"));
    assert!(!enabled(&info, "guest-sync"));
    assert!(!enabled(&info, "guest-sync-delimited"));
    assert!(enabled(&info, "guest-info"));
}

#[test]
fn command_outside_the_allow_list_is_disabled() {
    let agent = Agent::start(&["-a", "guest-info,guest-sync"]);
    let mut c = agent.connect();
    c.expect(
        br#"{"execute":"guest-ping","id":"p"}"#,
        &not_found(
            Some("\"p\""),
            "Command guest-ping has been disabled: the command is not allowed",
        ),
    );
    c.expect(&sync(3), &sync_reply(3));
    let info = info(&mut c);
    assert!(!enabled(&info, "guest-ping"));
    assert!(!enabled(&info, "guest-sync-delimited"));
    assert!(enabled(&info, "guest-sync"));
    assert!(enabled(&info, "guest-info"));
    // Unknown commands are still "not found", not "disabled".
    c.expect(
        br#"{"execute":"nope"}"#,
        &not_found(None, "The command nope has not been found"),
    );
}

#[track_caller]
fn assert_stops_cleanly(agent: &mut Agent, signal: Signal) {
    let started = Instant::now();
    agent.signal(signal);
    let status = agent.wait_exit(EXIT_TIMEOUT);
    assert_eq!(
        status.code(),
        Some(0),
        "{signal:?}: {status}; stderr:\n{}",
        agent.stderr()
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{signal:?}: took {:?}",
        started.elapsed()
    );
    assert!(!agent.socket().exists(), "{signal:?}: socket file left behind");
}

#[test]
fn sigterm_exits_0_and_removes_the_socket() {
    let mut agent = Agent::start(&[]);
    agent.connect().assert_alive(1);
    assert_stops_cleanly(&mut agent, Signal::TERM);
}

#[test]
fn sigint_exits_0_and_removes_the_socket() {
    let mut agent = Agent::start(&[]);
    agent.connect().assert_alive(1);
    assert_stops_cleanly(&mut agent, Signal::INT);
}

#[test]
fn sigterm_with_an_idle_client_connected() {
    let mut agent = Agent::start(&[]);
    let mut c = agent.connect();
    c.assert_alive(1);
    assert_stops_cleanly(&mut agent, Signal::TERM);
    assert!(c.expect_eof(EXIT_TIMEOUT).is_empty());
}

#[test]
fn sigterm_with_a_partial_message_pending() {
    let mut agent = Agent::start(&["-v"]);
    let mut c = agent.connect();
    c.assert_alive(1);
    c.send(br#"{"execute":"guest-ping""#);
    assert_stops_cleanly(&mut agent, Signal::TERM);
    assert!(c.expect_eof(EXIT_TIMEOUT).is_empty());
}

#[test]
fn sigint_right_after_start() {
    let mut agent = Agent::start(&[]);
    assert_stops_cleanly(&mut agent, Signal::INT);
}
