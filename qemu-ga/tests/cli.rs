//! The command line: informational options, start-up errors and their exit
//! codes.

use std::os::unix::net::UnixListener;

use crate::util::{run, run_in, tempdir, text, Agent, OURS};

/// The four commands every build registers.
const CORE: [&str; 4] = ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info"];

#[test]
fn version_prints_the_qemu_version() {
    for flag in ["-V", "--version"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        assert_eq!(text(&out.stdout), "QEMU Guest Agent 10.1.0\n", "{flag}");
        assert_eq!(text(&out.stderr), "", "{flag}");
    }
}

#[test]
fn help_prints_usage_and_exits_0() {
    for flag in ["-h", "--help"] {
        let out = run(&[flag]);
        assert_eq!(out.status.code(), Some(0), "{flag}");
        let stdout = text(&out.stdout);
        assert!(stdout.starts_with("Usage: qemu-ga "), "{flag}: {stdout}");
        for option in [
            "-m, --method",
            "-p, --path",
            "-t, --statedir",
            "-d, --daemonize",
            "-f, --pidfile",
            "-b, --block-rpcs",
            "-a, --allow-rpcs",
            "-V, --version",
            "-h, --help",
        ] {
            assert!(stdout.contains(option), "{flag}: no {option} in\n{stdout}");
        }
        assert_eq!(text(&out.stderr), "", "{flag}");
    }
}

#[test]
fn rpcs_help_lists_commands_one_per_line() {
    for args in [
        &["-b", "help"][..],
        &["-a", "help"],
        &["--block-rpcs=help"],
        &["--allow-rpcs=help"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = text(&out.stdout);
        let lines: Vec<&str> = stdout.lines().collect();
        for command in CORE {
            assert!(
                lines.contains(&command),
                "{args:?}: {command} not listed in\n{stdout}"
            );
        }
        for line in &lines {
            assert!(
                !line.is_empty() && line.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                "{args:?}: not a command name: {line:?}"
            );
        }
        assert!(stdout.ends_with('\n'));
        assert_eq!(text(&out.stderr), "", "{args:?}");
    }
}

#[track_caller]
fn assert_fails(args: &[&str], message: &str) -> String {
    let dir = tempdir();
    let out = run_in(dir.path(), args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{args:?}: stderr {stderr}");
    assert!(
        stderr.contains(message),
        "{args:?}: stderr {stderr:?} lacks {message:?}"
    );
    assert_eq!(text(&out.stdout), "", "{args:?}");
    // A failed start leaves nothing behind in its working directory.
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("read dir").collect();
    assert!(left.is_empty(), "{args:?} left files behind: {left:?}");
    stderr
}

#[test]
fn unknown_option_is_reported_as_qemu_reports_it() {
    for (option, line) in [
        ("--bogus", "qemu-ga: unrecognized option '--bogus'"),
        ("-x", "qemu-ga: invalid option -- 'x'"),
    ] {
        let out = run(&[option]);
        assert_eq!(out.status.code(), Some(1), "{option}");
        assert_eq!(text(&out.stderr).trim_end(), line);
        assert!(
            text(&out.stdout).starts_with("Unknown option, try '"),
            "{option}: {}",
            text(&out.stdout)
        );
    }
}

#[test]
fn unknown_method_is_rejected() {
    let stderr = assert_fails(
        &["-m", "bogus", "-p", "sock"],
        "unsupported channel method/type: bogus",
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

#[test]
fn unix_listen_needs_a_path() {
    let dir = tempdir();
    let statedir = dir.path().to_str().expect("utf-8 path");
    assert_fails(
        &["-m", "unix-listen", "-t", statedir],
        "must specify a path for this channel",
    );
}

#[test]
fn a_missing_channel_device_is_a_clear_error() {
    let dir = tempdir();
    let statedir = dir.path().to_str().expect("utf-8 path");
    let missing = dir.path().join("no-such-device");
    let missing = missing.to_str().expect("utf-8 path");
    for method in ["virtio-serial", "isa-serial"] {
        let stderr = assert_fails(
            &["-m", method, "-p", missing, "-t", statedir],
            "failed to open channel",
        );
        assert!(
            stderr.contains(missing) && stderr.contains("No such file or directory"),
            "{method}: {stderr}"
        );
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    // virtio-serial is the default method.
    assert_fails(&["-p", missing, "-t", statedir], "failed to open channel");
    for bad in ["3", "x:1", "3:"] {
        assert_fails(
            &["-m", "vsock-listen", "-p", bad, "-t", statedir],
            "invalid vsock address",
        );
    }
    assert_fails(
        &["-m", "vsock-listen", "-t", statedir],
        "must specify a path for this channel",
    );
}

#[test]
fn allow_and_block_lists_are_exclusive() {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    let socket = socket.to_str().expect("utf-8 path");
    let statedir = dir.path().to_str().expect("utf-8 path");
    let out = run_in(
        dir.path(),
        &[
            "-m",
            "unix-listen",
            "-p",
            socket,
            "-t",
            statedir,
            "-a",
            "guest-ping",
            "-b",
            "guest-info",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot be used together"),
        "{}",
        text(&out.stderr)
    );
    assert!(!dir.path().join("sock").exists());
}

#[test]
fn missing_state_directory_is_an_error() {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    let statedir = dir.path().join("absent");
    let out = run_in(
        dir.path(),
        &[
            "-m",
            "unix-listen",
            "-p",
            socket.to_str().expect("utf-8"),
            "-t",
            statedir.to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("state directory"),
        "{}",
        text(&out.stderr)
    );
    assert!(!socket.exists());
}

#[test]
fn socket_of_a_live_agent_is_not_taken_over() {
    let first = Agent::start(&[]);
    let dir = tempdir();
    let out = run_in(
        dir.path(),
        &[
            "-m",
            "unix-listen",
            "-p",
            first.socket().to_str().expect("utf-8"),
            "-t",
            dir.path().to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("in use"), "{}", text(&out.stderr));
    // The first agent keeps its socket and keeps serving.
    first.connect().assert_alive(1);
}

#[test]
fn stale_socket_file_is_replaced() {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    // A socket file nobody listens on any more.
    drop(UnixListener::bind(&socket).expect("bind"));
    assert!(socket.exists());
    let agent = Agent::start_at(OURS, dir, socket, &[]);
    agent.connect().assert_alive(1);
}
