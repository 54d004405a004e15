//! `-d`: the daemon detaches, writes and locks its pidfile, serves, and
//! cleans up on SIGTERM; a second daemon on the same pidfile is refused.

use std::path::{Path, PathBuf};

use rustix::fs::{flock, FlockOperation};
use rustix::process::Signal;
use tempfile::TempDir;

use crate::util::{
    dead_pid, ret, run_in, run_in_with_env, session_of, tempdir, text, wait_until, Client, ProcessGuard,
    EXIT_TIMEOUT,
};

/// A daemon started by a test, killed on drop.
struct Daemon {
    guard: ProcessGuard,
    socket: PathBuf,
    pidfile: PathBuf,
}

/// Starts `qemu-ga -d` listening on `socket` with `pidfile`, in `dir`;
/// asserts the starting process exits 0 and returns the daemon, found
/// through its pidfile.
fn start_daemon(dir: &Path, socket: &Path, pidfile: &Path) -> Daemon {
    let out = run_in(dir, &daemon_args(dir, socket, pidfile));
    assert_eq!(
        out.status.code(),
        Some(0),
        "qemu-ga -d failed: stderr {}",
        text(&out.stderr)
    );
    assert_eq!(text(&out.stderr), "");
    assert_eq!(text(&out.stdout), "");
    let content = std::fs::read_to_string(pidfile).expect("pidfile written before the parent exits");
    assert!(content.ends_with('\n'), "pidfile {content:?}");
    let pid: i32 = content
        .trim()
        .parse()
        .unwrap_or_else(|_| panic!("pidfile {content:?}"));
    let guard = ProcessGuard::new(pid);
    assert!(!guard.is_gone(), "daemon {pid} is not running");
    Daemon {
        guard,
        socket: socket.to_path_buf(),
        pidfile: pidfile.to_path_buf(),
    }
}

fn daemon_args<'a>(dir: &'a Path, socket: &'a Path, pidfile: &'a Path) -> Vec<&'a str> {
    vec![
        "-d",
        "-f",
        pidfile.to_str().expect("utf-8"),
        "-m",
        "unix-listen",
        "-p",
        socket.to_str().expect("utf-8"),
        "-t",
        dir.to_str().expect("utf-8"),
    ]
}

impl Daemon {
    fn pid(&self) -> i32 {
        self.guard.pid().as_raw_nonzero().get()
    }

    /// SIGTERM, then wait for it to be gone with its pidfile and socket.
    fn stop(&self) {
        self.guard.signal(Signal::TERM);
        assert!(
            wait_until(EXIT_TIMEOUT, || self.guard.is_gone()),
            "daemon {} still running after SIGTERM",
            self.pid()
        );
        assert!(
            wait_until(EXIT_TIMEOUT, || !self.pidfile.exists()),
            "pidfile left behind"
        );
        assert!(!self.socket.exists(), "socket left behind");
    }
}

fn paths() -> (TempDir, PathBuf, PathBuf) {
    let dir = tempdir();
    let socket = dir.path().join("sock");
    let pidfile = dir.path().join("qemu-ga.pid");
    (dir, socket, pidfile)
}

#[test]
fn daemon_writes_pidfile_detaches_and_serves() {
    let (dir, socket, pidfile) = paths();
    let daemon = start_daemon(dir.path(), &socket, &pidfile);
    let pid = daemon.pid();

    // Detached: a session of its own, not ours; working directory `/`.
    // Read from /proc, not getsid(): in a PID namespace whose session leader
    // is outside it, the test's own session id is 0.
    let ours = session_of(i32::try_from(std::process::id()).expect("pid fits i32"));
    let session = session_of(pid);
    assert_ne!(session, ours, "daemon {pid} is still in the test's session");
    assert_eq!(session, pid, "daemon {pid} does not lead its session");
    let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).expect("daemon cwd");
    assert_eq!(cwd, Path::new("/"));

    // The pidfile is locked while the daemon runs.
    let file = std::fs::File::open(&pidfile).expect("open pidfile");
    assert!(
        flock(&file, FlockOperation::NonBlockingLockShared).is_err(),
        "pidfile is not locked"
    );

    let mut c = Client::connect(&socket);
    c.assert_alive(1);
    c.expect(
        br#"{"execute":"guest-sync-delimited","arguments":{"id":77}}"#,
        b"\xff{\"return\": 77}\n",
    );
    drop(c);

    daemon.stop();
}

#[test]
fn a_daemon_started_frozen_writes_its_pidfile_and_log_after_the_thaw() {
    let (dir, socket, pidfile) = paths();
    std::fs::write(dir.path().join("qga.state.isfrozen"), "").expect("frozen marker");
    // Nothing real to thaw.
    let mountinfo = dir.path().join("mountinfo");
    std::fs::write(&mountinfo, "").expect("empty mount table");
    let log = dir.path().join("qga.log");
    let mut args = daemon_args(dir.path(), &socket, &pidfile);
    args.extend(["-v", "-l", log.to_str().expect("utf-8")]);
    let roots = crate::util::FakeRoots::mounts(&mountinfo);
    let out = run_in_with_env(dir.path(), &roots.args(&args), &[]);
    assert_eq!(out.status.code(), Some(0), "stderr {}", text(&out.stderr));

    // The daemon, found by its socket, is killed whatever happens next.
    let mut c = Client::connect(&socket);
    let pid = c.peer_pid();
    let daemon = Daemon {
        guard: ProcessGuard::new(pid),
        socket: socket.clone(),
        pidfile: pidfile.clone(),
    };
    assert_eq!(session_of(pid), pid, "not the detached daemon");
    c.assert_alive(1);
    assert_eq!(
        ret(&mut c, serde_json::json!({"execute": "guest-fsfreeze-status"})),
        "frozen"
    );
    assert!(!pidfile.exists(), "pidfile written while frozen");
    assert!(!log.exists(), "log file created while frozen");

    assert_eq!(
        ret(&mut c, serde_json::json!({"execute": "guest-fsfreeze-thaw"})),
        0
    );
    assert!(
        wait_until(EXIT_TIMEOUT, || std::fs::read_to_string(&pidfile)
            .is_ok_and(|p| p.ends_with('\n') && !p.trim().is_empty())),
        "no pidfile after the thaw"
    );
    assert_eq!(
        std::fs::read_to_string(&pidfile).expect("pidfile").trim(),
        pid.to_string(),
        "the pidfile names the daemon"
    );
    c.assert_alive(2);
    assert!(
        wait_until(EXIT_TIMEOUT, || std::fs::read_to_string(&log)
            .is_ok_and(|l| l.contains("guest-ping"))),
        "nothing logged after the thaw: {:?}",
        std::fs::read_to_string(&log)
    );
    drop(c);
    daemon.stop();
}

#[test]
fn second_daemon_on_the_same_pidfile_fails() {
    let (dir, socket, pidfile) = paths();
    let first = start_daemon(dir.path(), &socket, &pidfile);

    let other_socket = dir.path().join("sock2");
    let out = run_in(dir.path(), &daemon_args(dir.path(), &other_socket, &pidfile));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "second daemon: stderr {stderr}");
    assert!(
        stderr.contains(pidfile.to_str().expect("utf-8")),
        "the error does not name the pidfile: {stderr:?}"
    );
    assert!(!other_socket.exists(), "the second daemon left a socket");

    // The first one is untouched.
    let content = std::fs::read_to_string(&pidfile).expect("pidfile");
    assert_eq!(content, format!("{}\n", first.pid()));
    Client::connect(&socket).assert_alive(1);

    first.stop();
}

#[test]
fn stale_pidfile_is_replaced() {
    let (dir, socket, pidfile) = paths();
    let stale = dead_pid();
    std::fs::write(&pidfile, format!("{stale}\n")).expect("write stale pidfile");

    let daemon = start_daemon(dir.path(), &socket, &pidfile);
    assert_ne!(u32::try_from(daemon.pid()).expect("pid"), stale);
    Client::connect(&socket).assert_alive(1);

    daemon.stop();
}

#[test]
fn daemon_start_failure_is_reported_by_the_parent() {
    let (dir, _, pidfile) = paths();
    // A socket path in a directory that does not exist.
    let socket = dir.path().join("absent").join("sock");
    let out = run_in(dir.path(), &daemon_args(dir.path(), &socket, &pidfile));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr {stderr}");
    assert!(stderr.starts_with("qemu-ga: "), "{stderr:?}");
    assert!(
        wait_until(EXIT_TIMEOUT, || !pidfile.exists()),
        "pidfile left behind by a failed daemon"
    );
}
