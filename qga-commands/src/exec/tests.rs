use std::time::{Duration, Instant};

use qga_protocol::schema::{GuestExecCaptureOutput, GuestExecCaptureOutputMode as Mode};

use super::*;
use qga_sys::base64;

fn args(path: &str, arg: &[&str]) -> GuestExecArgs {
    GuestExecArgs {
        path: path.into(),
        arg: Some(arg.iter().map(|s| s.to_string()).collect()),
        env: None,
        input_data: None,
        capture_output: None,
    }
}

fn sh(script: &str, mode: Option<Mode>) -> GuestExecArgs {
    GuestExecArgs {
        capture_output: mode.map(GuestExecCaptureOutput::Mode),
        ..args("sh", &["-c", script])
    }
}

/// Polls until the process has finished.
fn wait(table: &ExecTable, pid: i64) -> GuestExecStatus {
    let start = Instant::now();
    loop {
        let status = table.status(pid).unwrap();
        if status.exited {
            return status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pid {pid} did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Polls until the process has finished, without collecting its status.
fn wait_uncollected(table: &ExecTable, pid: i64) {
    let start = Instant::now();
    while !table.processes().by_pid[&pid].finished() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "pid {pid} did not finish"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A process printing `n` zero bytes, its standard output captured.
fn zeros(n: usize) -> GuestExecArgs {
    sh(&format!("head -c {n} /dev/zero"), Some(Mode::Stdout))
}

fn run(table: &ExecTable, request: &GuestExecArgs) -> GuestExecStatus {
    let pid = table.exec(request).unwrap().pid;
    wait(table, pid)
}

fn b64(s: &str) -> Option<String> {
    Some(base64::encode(s.as_bytes()))
}

#[test]
fn capture_keeps_the_first_16_mib() {
    let mut c = Capture::default();
    let mut room = usize::MAX;
    c.keep(&vec![1u8; MAX_OUTPUT - 1], &mut room);
    assert!(!c.truncated);
    c.keep(&[2], &mut room);
    assert_eq!(c.data.len(), MAX_OUTPUT);
    assert!(!c.truncated, "exactly the limit is not truncation");
    assert!(c.data.capacity() <= MAX_OUTPUT);
    assert_eq!(room, usize::MAX - c.data.capacity());
    c.keep(&[], &mut room);
    assert!(!c.truncated);
    c.keep(&[3], &mut room);
    assert!(c.truncated);
    assert_eq!(c.data.len(), MAX_OUTPUT);
    assert_eq!(c.data.last(), Some(&2));
}

#[test]
fn capture_grows_only_into_its_room() {
    let mut c = Capture::default();
    let mut room = 10;
    c.keep(b"abcd", &mut room);
    assert_eq!((c.data.as_slice(), room), (&b"abcd"[..], 6));
    // Doubling would want 8; the room allows exactly what is written.
    c.keep(b"efgh", &mut room);
    assert_eq!(c.data.capacity() + room, 10);
    c.keep(b"ijklmn", &mut room);
    assert_eq!((c.data.as_slice(), room), (&b"abcdefghij"[..], 0));
    assert!(c.truncated);
    assert_eq!(c.data.capacity(), 10);
    // What fits in capacity already taken needs no room.
    let mut c = Capture::default();
    let mut room = 8;
    c.keep(b"ab", &mut room);
    let spare = c.data.capacity() - c.data.len();
    let mut none = 0;
    c.keep(&vec![b'x'; spare + 1], &mut none);
    assert_eq!(c.data.len(), 2 + spare);
    assert!(c.truncated);
}

#[test]
fn every_capture_mode() {
    let table = ExecTable::new();
    let script = "echo out; echo err >&2; exit 3";
    let status = run(&table, &sh(script, None));
    assert_eq!(
        status,
        GuestExecStatus {
            exitcode: Some(3),
            exited: true,
            ..Default::default()
        }
    );
    let both = GuestExecStatus {
        exitcode: Some(3),
        out_data: b64("out\n"),
        out_truncated: Some(false),
        err_data: b64("err\n"),
        err_truncated: Some(false),
        exited: true,
        ..Default::default()
    };
    assert_eq!(run(&table, &sh(script, Some(Mode::Separated))), both);
    let flag = GuestExecArgs {
        capture_output: Some(GuestExecCaptureOutput::Flag(true)),
        ..sh(script, None)
    };
    assert_eq!(run(&table, &flag), both);
    let off = GuestExecArgs {
        capture_output: Some(GuestExecCaptureOutput::Flag(false)),
        ..sh(script, None)
    };
    assert_eq!(run(&table, &off).out_data, None);
    assert_eq!(run(&table, &sh(script, Some(Mode::None))).out_data, None);
    let stdout = run(&table, &sh(script, Some(Mode::Stdout)));
    assert_eq!((stdout.out_data, stdout.err_data), (b64("out\n"), None));
    let stderr = run(&table, &sh(script, Some(Mode::Stderr)));
    assert_eq!((stderr.out_data, stderr.err_data), (None, b64("err\n")));
    let merged = run(&table, &sh("echo 1; echo 2 >&2; echo 3", Some(Mode::Merged)));
    assert_eq!((merged.out_data, merged.err_data), (b64("1\n2\n3\n"), None));
    assert_eq!(table.len(), 0);
}

#[test]
fn status_is_handed_out_once() {
    let table = ExecTable::new();
    let pid = table
        .exec(&sh("sleep 0.5; read line && exit 5; exit 1", None))
        .unwrap()
        .pid;
    assert_eq!(table.status(pid).unwrap(), GuestExecStatus::default());
    // Standard input is /dev/null: `read` fails at once.
    assert_eq!(wait(&table, pid).exitcode, Some(1));
    assert_eq!(
        table.status(pid).unwrap_err().to_string(),
        "PID ld does not exist"
    );
    assert_eq!(table.status(0).unwrap_err().to_string(), "PID ld does not exist");
    assert_eq!(table.status(-1).unwrap_err().to_string(), "PID ld does not exist");
}

#[test]
fn signals_and_input() {
    let table = ExecTable::new();
    let killed = run(&table, &sh("echo o; kill -9 $$", Some(Mode::Separated)));
    assert_eq!((killed.signal, killed.exitcode), (Some(9), None));
    assert_eq!(killed.out_data, b64("o\n"));
    let cat = GuestExecArgs {
        input_data: Some("aGVsbG8=".into()),
        capture_output: Some(GuestExecCaptureOutput::Flag(true)),
        ..args("cat", &[])
    };
    assert_eq!(run(&table, &cat).out_data, b64("hello"));
    let bad = GuestExecArgs {
        input_data: Some("!!".into()),
        ..args("/nonexistent", &[])
    };
    assert_eq!(
        table.exec(&bad).unwrap_err().to_string(),
        "Base64 data contains invalid characters"
    );
    // Input larger than a pipe holds, to a process that reads only some.
    let big = vec![b'x'; 1 << 20];
    let head = GuestExecArgs {
        input_data: Some(base64::encode(&big)),
        capture_output: Some(GuestExecCaptureOutput::Flag(true)),
        ..args("head", &["-c", "3"])
    };
    let status = run(&table, &head);
    assert_eq!((status.exitcode, status.out_data), (Some(0), b64("xxx")));
    let wc = GuestExecArgs {
        input_data: Some(base64::encode(&big)),
        capture_output: Some(GuestExecCaptureOutput::Flag(true)),
        ..args("wc", &["-c"])
    };
    assert_eq!(run(&table, &wc).out_data, b64(&format!("{}\n", big.len())));
}

#[test]
fn exited_waits_for_the_pipes() {
    let table = ExecTable::new();
    // The shell exits at once; a background child keeps the pipe open.
    let pid = table
        .exec(&sh("(sleep 1; echo late) & echo early", Some(Mode::Stdout)))
        .unwrap()
        .pid;
    std::thread::sleep(Duration::from_millis(300));
    assert!(!table.status(pid).unwrap().exited);
    let status = wait(&table, pid);
    assert_eq!(status.out_data, b64("early\nlate\n"));
    // The shell itself was reaped long before: no zombie stayed.
}

#[test]
fn the_shell_is_reaped_without_status_calls() {
    let table = ExecTable::new();
    let pid = table.exec(&sh("exit 0", None)).unwrap().pid;
    let gone = || {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
            s.rsplit(')')
                .next()
                .is_some_and(|rest| !rest.trim_start().starts_with('Z'))
        })
    };
    let start = Instant::now();
    while !gone() || std::path::Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} stayed a zombie"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(wait(&table, pid).exitcode, Some(0));
}

#[test]
fn limits_running_processes() {
    let table = ExecTable::new();
    let mut pids = Vec::new();
    for _ in 0..MAX_RUNNING {
        pids.push(table.exec(&args("sleep", &["30"])).unwrap().pid);
    }
    let error = table.exec(&args("true", &[])).unwrap_err().to_string();
    assert!(
        error.starts_with("too many processes started by guest-exec"),
        "{error}"
    );
    for &pid in &pids {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(pid as i32).unwrap(),
            rustix::process::Signal::KILL,
        );
    }
    for pid in pids {
        assert_eq!(wait(&table, pid).signal, Some(9));
    }
    assert_eq!(table.len(), 0);
    assert_eq!(run(&table, &args("true", &[])).exitcode, Some(0));
}

#[test]
fn forgets_the_oldest_finished_when_full() {
    let mut processes = Processes::default();
    let table = ExecTable::new();
    for _ in 0..3 {
        let pid = table.exec(&args("true", &[])).unwrap().pid;
        let start = Instant::now();
        loop {
            let mut all = table.processes();
            let p = all.by_pid.get_mut(&pid).unwrap();
            p.reap();
            if p.finished() {
                let p = all.by_pid.remove(&pid).unwrap();
                processes.by_pid.insert(pid, p);
                break;
            }
            drop(all);
            assert!(start.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let oldest = processes
        .by_pid
        .iter()
        .min_by_key(|(_, p)| p.serial)
        .map(|(&pid, _)| pid);
    processes.forget_past(2);
    assert_eq!(processes.by_pid.len(), 2);
    assert!(!processes.by_pid.contains_key(&oldest.unwrap()));
}

#[test]
fn captured_output_has_a_total_budget() {
    let table = ExecTable::new();
    // A budget of 1 MiB for this table: the first process's 768 KiB fits
    // whole; the second's does not until the first is forgotten.
    table.processes().budget = 1024 * 1024;
    let first = table.exec(&zeros(768 * 1024)).unwrap().pid;
    wait_uncollected(&table, first);
    assert!(table.processes().held_bytes() <= 1024 * 1024);
    let second = wait(&table, table.exec(&zeros(768 * 1024)).unwrap().pid);
    assert_eq!(
        second.out_truncated,
        Some(false),
        "the uncollected first gave way"
    );
    assert_eq!(
        table.status(first).unwrap_err().to_string(),
        "PID ld does not exist"
    );

    // Output of one unfinished process alone past the budget is dropped.
    let third = wait(&table, table.exec(&zeros(3 * 1024 * 1024 / 2)).unwrap().pid);
    assert_eq!(third.out_truncated, Some(true));
    let kept = base64::decode(third.out_data.as_deref().unwrap()).unwrap();
    assert!(
        kept.len() <= 1024 * 1024 && kept.len() >= 512 * 1024,
        "{}",
        kept.len()
    );
    assert_eq!(table.len(), 0);
}

#[test]
fn reaps_on_a_timer_without_pidfds() {
    let table = ExecTable::new();
    let pid = table.exec(&sh("sleep 0.2", None)).unwrap().pid;
    // As on a kernel without pidfd_open(2).
    table.processes().by_pid.get_mut(&pid).unwrap().pidfd = None;
    table.shared.wake();
    let start = Instant::now();
    while table.processes().by_pid[&pid].ended.is_none() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "pid {pid} was not reaped"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert_eq!(wait(&table, pid).exitcode, Some(0));
}

#[test]
fn a_full_capture_makes_no_room_at_others_expense() {
    let table = ExecTable::new();
    let first = table.exec(&zeros(512 * 1024)).unwrap().pid;
    wait_uncollected(&table, first);
    // Room for what the first holds and one full stream.
    let held = table.processes().held_bytes();
    table.processes().budget = held + MAX_OUTPUT;
    // Fills its capture to the limit, then goes on printing: its further
    // output needs no room, so the first's status must stay.
    let second = wait(
        &table,
        table.exec(&zeros(MAX_OUTPUT + 4 * 1024 * 1024)).unwrap().pid,
    );
    assert_eq!(second.out_truncated, Some(true));
    let first = wait(&table, first);
    assert_eq!(first.out_truncated, Some(false));
    assert_eq!(
        base64::decode(first.out_data.as_deref().unwrap()).unwrap().len(),
        512 * 1024
    );
}

/// A process given `len` bytes of input, running `script`.
fn with_input(script: &str, len: usize, mode: Option<Mode>) -> GuestExecArgs {
    GuestExecArgs {
        input_data: Some(base64::encode(&vec![b'i'; len])),
        ..sh(script, mode)
    }
}

fn kill(pid: i64) {
    let _ = rustix::process::kill_process(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::Signal::KILL,
    );
}

/// Polls until `done` holds for the table's processes.
fn wait_for(table: &ExecTable, what: &str, done: impl Fn(&Processes) -> bool) {
    let start = Instant::now();
    while !done(&table.processes()) {
        assert!(start.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn input_counts_against_the_budget() {
    let table = ExecTable::new();
    table.processes().budget = 1024 * 1024;
    // Reads nothing: its 768 KiB of input stay held (all but a pipeful).
    let reader = table.exec(&with_input("sleep 30", 768 * 1024, None)).unwrap().pid;
    assert!(table.processes().held_bytes() >= 768 * 1024);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("started");
    let script = format!("touch '{}'", marker.display());
    let error = table
        .exec(&with_input(&script, 512 * 1024, None))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with("guest-exec: input-data of 524288 bytes does not fit in the 1 MiB"),
        "{error}"
    );
    // Refused before anything started, and nothing stays reserved.
    std::thread::sleep(Duration::from_millis(200));
    assert!(!marker.exists(), "the refused process ran");
    assert_eq!(table.len(), 1);
    assert_eq!(table.processes().reserved, 0);
    // Smaller input still fits.
    let small = run(&table, &with_input("cat", 1000, Some(Mode::Stdout)));
    assert_eq!(small.out_data, Some(base64::encode(&[b'i'; 1000])));
    kill(reader);
    assert_eq!(wait(&table, reader).signal, Some(9));
    assert_eq!(table.processes().held_bytes(), 0);
}

#[test]
fn input_makes_room_as_output_does() {
    let table = ExecTable::new();
    table.processes().budget = 1024 * 1024;
    let first = table.exec(&zeros(768 * 1024)).unwrap().pid;
    wait_uncollected(&table, first);
    // The uncollected first gives way to the input.
    let cat = wait(
        &table,
        table
            .exec(&with_input("wc -c", 512 * 1024, Some(Mode::Stdout)))
            .unwrap()
            .pid,
    );
    assert_eq!(cat.out_data, b64("524288\n"));
    assert_eq!(
        table.status(first).unwrap_err().to_string(),
        "PID ld does not exist"
    );
    // Input that cannot fit at all, even in an empty table.
    let error = table
        .exec(&with_input("true", 1024 * 1024 + 1, None))
        .unwrap_err()
        .to_string();
    assert!(error.contains("does not fit in the 1 MiB"), "{error}");
    assert_eq!(table.len(), 0);
}

#[test]
fn written_input_is_given_back() {
    let table = ExecTable::new();
    let len = 1024 * 1024;
    // Reads a little over half of its input, then stops reading.
    let pid = table
        .exec(&with_input("head -c 600000 >/dev/null; sleep 30", len, None))
        .unwrap()
        .pid;
    wait_for(&table, "the written half was not given back", |p| {
        p.held_bytes() <= len - 512 * 1024
    });
    let held = table.processes().held_bytes();
    assert!(held > 0, "input not yet read is held");
    kill(pid);
    assert_eq!(wait(&table, pid).signal, Some(9));
    // Read to the end: nothing held once the pipe is closed.
    let pid = table
        .exec(&with_input("cat >/dev/null; sleep 30", len, None))
        .unwrap()
        .pid;
    wait_for(&table, "input still held after it was all written", |p| {
        p.by_pid.get(&pid).is_some_and(|p| p.input.is_none()) && p.held_bytes() == 0
    });
    kill(pid);
    assert_eq!(wait(&table, pid).signal, Some(9));
}

#[test]
fn the_input_error_names_the_limit() {
    let text = input_too_large(300 << 20, 0, MAX_TOTAL_OUTPUT).to_string();
    assert!(text.contains("does not fit in the 256 MiB"), "{text}");
    assert!(text.contains("guest-exec-status"), "{text}");
}

#[test]
fn a_huge_path_gets_a_short_error() {
    let table = ExecTable::new();
    let path = format!("/nonexistent/{}", "p".repeat(8 << 20));
    let error = table.exec(&args(&path, &[])).unwrap_err().to_string();
    assert!(error.len() <= qapi_core::ECHO_MAX + 64, "{} bytes", error.len());
    // The path is cut; GLib's reason is kept.
    assert!(
        error.ends_with("pp...\u{201D} (File name too long)"),
        "{}",
        &error[..80]
    );
}
