//! Shared helpers: start an agent in a temporary directory, talk to it over
//! its socket with bounded reads, and make sure every process started here
//! is gone when a test ends, whether it passes or panics.

use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};
use tempfile::TempDir;

/// The agent under test.
pub const OURS: &str = env!("CARGO_BIN_EXE_qemu-ga");

/// How long an agent may take to start accepting on its socket.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a reply may take to arrive.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a process may take to exit once asked to.
pub const EXIT_TIMEOUT: Duration = Duration::from_secs(10);
/// The pause between two checks of a condition being waited for.
const POLL: Duration = Duration::from_millis(5);

/// The reply to a 0xFF byte from the client.
pub const STRAY_FF: &[u8] =
    b"{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, stray '\\uFFFD'\"}}\n";

/// A `GenericError` reply without an id; `desc` as it appears on the wire
/// (already JSON-escaped).
pub fn generic(desc: &str) -> Vec<u8> {
    format!("{{\"error\": {{\"class\": \"GenericError\", \"desc\": \"{desc}\"}}}}\n").into_bytes()
}

/// A `GenericError` reply echoing `id` (JSON text).
pub fn generic_id(id: &str, desc: &str) -> Vec<u8> {
    format!("{{\"id\": {id}, \"error\": {{\"class\": \"GenericError\", \"desc\": \"{desc}\"}}}}\n")
        .into_bytes()
}

/// A `CommandNotFound` reply, with the id (JSON text) if given.
pub fn not_found(id: Option<&str>, desc: &str) -> Vec<u8> {
    let error = format!("\"error\": {{\"class\": \"CommandNotFound\", \"desc\": \"{desc}\"}}");
    match id {
        Some(id) => format!("{{\"id\": {id}, {error}}}\n").into_bytes(),
        None => format!("{{{error}}}\n").into_bytes(),
    }
}

/// A guest-ping request with an integer id.
pub fn ping(id: i64) -> Vec<u8> {
    format!("{{\"execute\":\"guest-ping\",\"id\":{id}}}").into_bytes()
}

/// The reply to [`ping`].
pub fn ping_reply(id: i64) -> Vec<u8> {
    format!("{{\"return\": {{}}, \"id\": {id}}}\n").into_bytes()
}

/// A guest-sync request.
pub fn sync(id: i64) -> Vec<u8> {
    format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{id}}}}}").into_bytes()
}

/// The reply to [`sync`].
pub fn sync_reply(id: i64) -> Vec<u8> {
    format!("{{\"return\": {id}}}\n").into_bytes()
}

/// Bytes made readable: printable ASCII as is, the rest escaped.
pub fn show(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Like [`show`], cut to `max` characters.
pub fn show_short(bytes: &[u8], max: usize) -> String {
    let text = show(bytes);
    if text.len() <= max {
        text
    } else {
        let cut = (0..=max).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        format!("{}... ({} bytes)", &text[..cut], bytes.len())
    }
}

/// Asserts two byte strings are equal, printing them readably if not.
#[track_caller]
pub fn assert_bytes(actual: &[u8], expected: &[u8], what: &str) {
    assert!(
        actual == expected,
        "{what}:\n  expected: {}\n    actual: {}",
        show_short(expected, 2000),
        show_short(actual, 2000)
    );
}

/// Polls `done` until it is true or `timeout` passes; returns whether it
/// became true.
pub fn wait_until(timeout: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if done() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        thread::sleep(POLL);
    }
}

/// A process id as rustix wants it.
pub fn pid_of(raw: u32) -> Pid {
    Pid::from_raw(i32::try_from(raw).expect("pid fits i32")).expect("pid is not 0")
}

/// An agent process serving `unix-listen` on `<dir>/sock`, killed on drop.
pub struct Agent {
    child: Child,
    dir: TempDir,
    socket: PathBuf,
    program: String,
}

impl Agent {
    /// Starts our agent with `args` after the channel options and waits
    /// until it accepts connections.
    pub fn start(args: &[&str]) -> Agent {
        Agent::start_program(OURS, args)
    }

    /// Starts `program` (an agent taking QEMU's options) the same way.
    pub fn start_program(program: &str, args: &[&str]) -> Agent {
        let dir = tempdir();
        let socket = dir.path().join("sock");
        Agent::start_at(program, dir, socket, args)
    }

    /// Starts `program` in `dir` (its cwd and state directory), listening on
    /// `socket`, and waits until it accepts connections.
    pub fn start_at(program: &str, dir: TempDir, socket: PathBuf, args: &[&str]) -> Agent {
        Agent::start_with_env(program, dir, socket, args, &[])
    }

    /// Starts our agent in `dir` (reused, e.g. after [`Agent::stop`]) with
    /// extra environment variables.
    pub fn restart_in(dir: TempDir, args: &[&str], env: &[(&str, &Path)]) -> Agent {
        let socket = dir.path().join("sock");
        Agent::start_with_env(OURS, dir, socket, args, env)
    }

    /// [`Agent::start_at`] with extra environment variables.
    pub fn start_with_env(
        program: &str,
        dir: TempDir,
        socket: PathBuf,
        args: &[&str],
        env: &[(&str, &Path)],
    ) -> Agent {
        let stderr = File::options()
            .create(true)
            .append(true)
            .open(dir.path().join("stderr.log"))
            .expect("create stderr log");
        let child = Command::new(program)
            .envs(env.iter().copied())
            .arg("-m")
            .arg("unix-listen")
            .arg("-p")
            .arg(&socket)
            .arg("-t")
            .arg(dir.path())
            .args(args)
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {program}: {e}"));
        let mut agent = Agent {
            child,
            dir,
            socket,
            program: program.to_string(),
        };
        agent.wait_ready();
        agent
    }

    /// Waits until a connection to the socket succeeds (and drops that
    /// connection; the agent goes back to accepting).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                panic!(
                    "{} exited during start-up ({status}); stderr:\n{}",
                    self.program,
                    self.stderr()
                );
            }
            if UnixStream::connect(&self.socket).is_ok() {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} did not accept on {} within {START_TIMEOUT:?}; stderr:\n{}",
                self.program,
                self.socket.display(),
                self.stderr()
            );
            thread::sleep(POLL);
        }
    }

    /// The agent's directory: its cwd and state directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stops the agent with SIGTERM, asserts a clean exit, and hands back
    /// its directory for a restart.
    pub fn stop(mut self) -> TempDir {
        self.signal(Signal::TERM);
        let status = self.wait_exit(EXIT_TIMEOUT);
        assert!(
            status.success(),
            "agent exited with {status}; stderr:\n{}",
            self.stderr()
        );
        std::mem::replace(&mut self.dir, tempdir())
    }

    /// The directory of an agent that has exited, for a restart.
    pub fn into_dir(mut self) -> TempDir {
        std::mem::replace(&mut self.dir, tempdir())
    }

    /// A new connection to the agent.
    pub fn connect(&self) -> Client {
        Client::connect(&self.socket)
    }

    /// The socket path.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the agent wrote to standard error so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// Sends `signal` to the agent.
    pub fn signal(&self, signal: Signal) {
        rustix::process::kill_process(pid_of(self.pid()), signal).expect("kill");
    }

    /// Waits for the agent to exit; panics after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let mut status = None;
        let exited = wait_until(timeout, || {
            status = self.child.try_wait().expect("try_wait");
            status.is_some()
        });
        assert!(
            exited,
            "{} still running {timeout:?} after being asked to stop; stderr:\n{}",
            self.program,
            self.stderr()
        );
        status.expect("exited")
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A temporary directory for one agent, with a short path (socket paths
/// are limited to 107 bytes).
pub fn tempdir() -> TempDir {
    tempfile::Builder::new()
        .prefix("qga-test-")
        .tempdir_in(std::env::temp_dir())
        .expect("create temp dir")
}

/// One connection to an agent, with bounded reads.
pub struct Client {
    stream: UnixStream,
    /// Bytes read but not yet handed out.
    buf: Vec<u8>,
    eof: bool,
}

/// Why a bounded read ended early.
#[derive(Debug)]
pub enum Short {
    /// Nothing more arrived in time.
    TimedOut(Vec<u8>),
    /// The agent closed the connection.
    Eof(Vec<u8>),
}

impl Short {
    /// What had arrived, with a marker for how the read ended.
    pub fn into_marked(self) -> Vec<u8> {
        let (mut bytes, marker) = match self {
            Short::TimedOut(b) => (b, &b"<timed out>"[..]),
            Short::Eof(b) => (b, &b"<eof>"[..]),
        };
        bytes.extend_from_slice(marker);
        bytes
    }
}

impl Client {
    /// The pid of the process serving this connection.
    pub fn peer_pid(&self) -> i32 {
        let cred = rustix::net::sockopt::socket_peercred(&self.stream).expect("SO_PEERCRED");
        cred.pid.as_raw_nonzero().get()
    }

    /// Connects to `socket`.
    pub fn connect(socket: &Path) -> Client {
        let stream = UnixStream::connect(socket)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", socket.display()));
        Client {
            stream,
            buf: Vec::new(),
            eof: false,
        }
    }

    /// The underlying socket.
    pub fn stream(&self) -> &UnixStream {
        &self.stream
    }

    /// Sends `bytes` in one write.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("send to agent");
    }

    /// Reads more into `buf`, waiting at most until `deadline`. Returns
    /// false on time-out or end of file.
    fn fill(&mut self, deadline: Instant) -> bool {
        if self.eof {
            return false;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        self.stream
            .set_read_timeout(Some(left))
            .expect("set_read_timeout");
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.eof = true;
                    return false;
                }
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return true;
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => return false,
                Err(e) if e.kind() == ErrorKind::ConnectionReset => {
                    self.eof = true;
                    return false;
                }
                Err(e) => panic!("reading from the agent failed: {e}"),
            }
        }
    }

    /// Everything up to and including the first `end`, waiting at most
    /// `timeout`; on time-out or end of file, what arrived.
    pub fn try_read_until(&mut self, end: &[u8], timeout: Duration) -> Result<Vec<u8>, Short> {
        let deadline = Instant::now() + timeout;
        let mut searched = 0;
        loop {
            if let Some(at) = find(&self.buf[searched..], end) {
                let cut = searched + at + end.len();
                return Ok(self.buf.drain(..cut).collect());
            }
            searched = self.buf.len().saturating_sub(end.len().saturating_sub(1));
            if !self.fill(deadline) {
                let rest = std::mem::take(&mut self.buf);
                return Err(if self.eof {
                    Short::Eof(rest)
                } else {
                    Short::TimedOut(rest)
                });
            }
        }
    }

    /// Everything up to and including the first `end`; panics if it does
    /// not arrive within [`REPLY_TIMEOUT`].
    #[track_caller]
    pub fn read_until(&mut self, end: &[u8]) -> Vec<u8> {
        match self.try_read_until(end, REPLY_TIMEOUT) {
            Ok(bytes) => bytes,
            Err(short) => panic!(
                "waiting for {}: got {}",
                show(end),
                show_short(&short.into_marked(), 4000)
            ),
        }
    }

    /// The next reply line, newline included.
    #[track_caller]
    pub fn read_line(&mut self) -> Vec<u8> {
        self.read_until(b"\n")
    }

    /// The next `n` reply lines.
    #[track_caller]
    pub fn read_lines(&mut self, n: usize) -> Vec<Vec<u8>> {
        (0..n).map(|_| self.read_line()).collect()
    }

    /// Sends `request` and asserts the next reply lines are exactly
    /// `reply` (as many lines as `reply` has).
    #[track_caller]
    pub fn expect(&mut self, request: &[u8], reply: &[u8]) {
        self.send(request);
        let lines = reply.iter().filter(|&&b| b == b'\n').count();
        let got = self.read_lines(lines).concat();
        assert_bytes(&got, reply, &format!("reply to {}", show_short(request, 200)));
    }

    /// Asserts the agent still answers: a ping with `id` gets its reply as
    /// the very next bytes.
    #[track_caller]
    pub fn assert_alive(&mut self, id: i64) {
        self.expect(&ping(id), &ping_reply(id));
    }

    /// Asserts nothing more arrives within `quiet`, nor was pending.
    #[track_caller]
    pub fn assert_silent(&mut self, quiet: Duration) {
        let deadline = Instant::now() + quiet;
        while self.fill(deadline) {}
        assert!(
            self.buf.is_empty(),
            "unexpected bytes from the agent: {}",
            show_short(&self.buf, 2000)
        );
    }

    /// Waits for the agent to close the connection; returns what arrived
    /// before, or panics after `timeout`.
    #[track_caller]
    pub fn expect_eof(&mut self, timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        while self.fill(deadline) {}
        assert!(
            self.eof,
            "the agent did not close the connection within {timeout:?}"
        );
        std::mem::take(&mut self.buf)
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return Some(0);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Runs our agent with `args` in a fresh directory (its cwd) and returns
/// its output; kills it and panics if it does not exit within
/// [`EXIT_TIMEOUT`].
pub fn run(args: &[&str]) -> Output {
    let dir = tempdir();
    run_in(dir.path(), args)
}

/// Fake system roots for an agent (`qga_commands::SystemRoots`): a
/// configuration file whose `[system-roots]` group points the agent at
/// them, named by [`FakeRoots::args`]. Kept alive as long as the agent.
pub struct FakeRoots {
    dir: TempDir,
    conf: String,
}

impl FakeRoots {
    /// Roots whose mount table is `mountinfo` (a fake proc root whose
    /// `self/mountinfo` links to it, so later changes show) and, with
    /// `sbin`, whose system programs are there.
    pub fn new(mountinfo: Option<&Path>, sbin: Option<&Path>) -> FakeRoots {
        let dir = tempdir();
        let mut group = String::from("[system-roots]\n");
        if let Some(mountinfo) = mountinfo {
            let proc = dir.path().join("proc");
            std::fs::create_dir_all(proc.join("self")).unwrap();
            std::os::unix::fs::symlink(mountinfo, proc.join("self/mountinfo")).unwrap();
            group.push_str(&format!("proc={}\n", proc.display()));
        }
        if let Some(sbin) = sbin {
            group.push_str(&format!("sbin={}\n", sbin.display()));
        }
        let conf = dir.path().join("roots.conf");
        std::fs::write(&conf, group).unwrap();
        let conf = conf.to_str().expect("utf-8 path").to_string();
        FakeRoots { dir, conf }
    }

    /// Roots whose mount table is `mountinfo`.
    pub fn mounts(mountinfo: &Path) -> FakeRoots {
        FakeRoots::new(Some(mountinfo), None)
    }

    /// The mount table as the agent reads it (through the fake proc root).
    pub fn mountinfo(&self) -> PathBuf {
        self.dir.path().join("proc/self/mountinfo")
    }

    /// The arguments naming the configuration file, followed by `args`.
    pub fn args<'a>(&'a self, args: &[&'a str]) -> Vec<&'a str> {
        [&["-c", self.conf.as_str()][..], args].concat()
    }
}

/// Like [`run`], in `cwd`.
pub fn run_in(cwd: &Path, args: &[&str]) -> Output {
    run_in_with_env(cwd, args, &[])
}

/// Like [`run_in`], with `env` added to the environment.
pub fn run_in_with_env(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> Output {
    let child = Command::new(OURS)
        .args(args)
        .envs(env.iter().copied())
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start qemu-ga");
    let pid = pid_of(child.id());
    let (tx, rx) = mpsc::channel();
    let waiter = thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(EXIT_TIMEOUT) {
        Ok(output) => {
            let _ = waiter.join();
            output.expect("wait for qemu-ga")
        }
        Err(_) => {
            let _ = rustix::process::kill_process(pid, Signal::KILL);
            let _ = waiter.join();
            panic!("qemu-ga {args:?} did not exit within {EXIT_TIMEOUT:?}");
        }
    }
}

/// Text of a process's standard output or error.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A process this test did not start directly (a daemon), killed on drop.
pub struct ProcessGuard {
    pid: Pid,
}

impl ProcessGuard {
    /// Guards process `pid`.
    pub fn new(pid: i32) -> ProcessGuard {
        ProcessGuard {
            pid: Pid::from_raw(pid).expect("pid is not 0"),
        }
    }

    /// The guarded pid.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: Signal) {
        rustix::process::kill_process(self.pid, signal).expect("kill daemon");
    }

    /// Whether the process has exited (is gone or a zombie).
    pub fn is_gone(&self) -> bool {
        match proc_stat(self.pid.as_raw_nonzero().get()) {
            None => true,
            Some(fields) => matches!(fields.first().map(String::as_str), Some("Z" | "X")),
        }
    }
}

impl Drop for ProcessGuard {
    fn drop(&mut self) {
        if !self.is_gone() {
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
        }
    }
}

/// The fields of `/proc/PID/stat` after the command name: index 0 is the
/// state (field 3), index 3 the session id (field 6). `None` if the
/// process does not exist.
pub fn proc_stat(pid: i32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 1..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// The session id of process `pid`.
pub fn session_of(pid: i32) -> i32 {
    let fields = proc_stat(pid).unwrap_or_else(|| panic!("no process {pid}"));
    fields[3].parse().expect("session id")
}

/// The pid of a process that has exited and been reaped.
pub fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().expect("run true");
    let pid = child.id();
    child.wait().expect("wait for true");
    pid
}

/// Sends one request (a JSON value) and parses its one-line reply, waiting
/// at most `timeout`.
#[track_caller]
pub fn call_within(client: &mut Client, request: &serde_json::Value, timeout: Duration) -> serde_json::Value {
    client.send(request.to_string().as_bytes());
    let line = client
        .try_read_until(b"\n", timeout)
        .unwrap_or_else(|s| panic!("no reply to {request}: {}", show_short(&s.into_marked(), 500)));
    serde_json::from_slice(&line).unwrap_or_else(|e| panic!("bad reply {} to {request}: {e}", show(&line)))
}

/// The `return` member of the reply to `request`; panics on an error reply.
#[track_caller]
pub fn return_within(
    client: &mut Client,
    request: serde_json::Value,
    timeout: Duration,
) -> serde_json::Value {
    let reply = call_within(client, &request, timeout);
    reply
        .get("return")
        .cloned()
        .unwrap_or_else(|| panic!("{request} failed: {reply}"))
}

/// [`call_within`] with [`REPLY_TIMEOUT`].
#[track_caller]
pub fn call(client: &mut Client, request: &serde_json::Value) -> serde_json::Value {
    call_within(client, request, REPLY_TIMEOUT)
}

/// [`return_within`] with [`REPLY_TIMEOUT`].
#[track_caller]
pub fn ret(client: &mut Client, request: serde_json::Value) -> serde_json::Value {
    return_within(client, request, REPLY_TIMEOUT)
}

/// The `desc` of the error reply to `request`; panics if it succeeds.
#[track_caller]
pub fn error_desc(client: &mut Client, request: serde_json::Value) -> String {
    let reply = call(client, &request);
    reply["error"]["desc"]
        .as_str()
        .unwrap_or_else(|| panic!("{request} did not fail: {reply}"))
        .to_string()
}

/// `data` in base64 with padding, as hosts send it.
pub fn b64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

/// Decodes base64 the agent sent; panics on anything else.
#[track_caller]
pub fn unb64(text: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap_or_else(|e| {
            panic!(
                "the agent sent bad base64 ({e}): {}",
                show_short(text.as_bytes(), 200)
            )
        })
}
