//! The character-device channels, with a pseudo-terminal standing in for
//! the serial port (the VM test covers the real virtio-serial port), and
//! `--retry-path` with a device that appears late and one that goes away.

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};

use crate::util::{tempdir, wait_until, OURS};

/// The host end of a pseudo-terminal; the agent gets the other end.
struct Pty {
    master: std::fs::File,
    slave: PathBuf,
}

impl Pty {
    fn new() -> Pty {
        // Close-on-exec: agents other tests start must not keep it open.
        let master: OwnedFd = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).unwrap();
        // Raw, like a virtio-serial port: no line buffering, no echo.
        let mut tio = rustix::termios::tcgetattr(&master).unwrap();
        tio.make_raw();
        rustix::termios::tcsetattr(&master, rustix::termios::OptionalActions::Now, &tio).unwrap();
        grantpt(&master).unwrap();
        unlockpt(&master).unwrap();
        let slave = PathBuf::from(ptsname(&master, Vec::new()).unwrap().into_string().unwrap());
        Pty {
            master: std::fs::File::from(master),
            slave,
        }
    }

    /// Reads until `end` arrives, within `timeout`.
    fn read_until(&mut self, end: &[u8], timeout: Duration) -> Vec<u8> {
        let deadline = Instant::now() + timeout;
        let mut got = Vec::new();
        let fd = rustix::fs::fcntl_getfl(&self.master).unwrap();
        rustix::fs::fcntl_setfl(&self.master, fd | rustix::fs::OFlags::NONBLOCK).unwrap();
        while !got.windows(end.len()).any(|w| w == end) {
            assert!(
                Instant::now() < deadline,
                "waiting for {:?}, got {:?}",
                String::from_utf8_lossy(end),
                String::from_utf8_lossy(&got)
            );
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        got
    }

    fn send(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
    }
}

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(method: &str, path: &Path, statedir: &Path, extra: &[&str]) -> Running {
    Running(
        Command::new(OURS)
            .args(["-m", method, "-p"])
            .arg(path)
            .arg("-t")
            .arg(statedir)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn isa_serial_serves_in_raw_mode() {
    let dir = tempdir();
    let mut pty = Pty::new();
    let _agent = start("isa-serial", &pty.slave, dir.path(), &[]);
    // The agent flushes pending input when it opens the port, so resend
    // the handshake until it answers.
    let mut answered = Vec::new();
    for attempt in 0..50 {
        pty.send(
            format!("\u{ff}{{\"execute\":\"guest-sync-delimited\",\"arguments\":{{\"id\":{attempt}}}}}")
                .as_bytes(),
        );
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 4096];
        let fl = rustix::fs::fcntl_getfl(&pty.master).unwrap();
        rustix::fs::fcntl_setfl(&pty.master, fl | rustix::fs::OFlags::NONBLOCK).unwrap();
        if let Ok(n) = pty.master.read(&mut buf) {
            answered.extend_from_slice(&buf[..n]);
            if answered.contains(&0xFF) {
                break;
            }
        }
    }
    assert!(
        answered.contains(&0xFF),
        "no delimited reply: {:?}",
        String::from_utf8_lossy(&answered)
    );
    pty.send(b"{\"execute\":\"guest-ping\",\"id\":\"serial\"}");
    let reply = pty.read_until(b"\"serial\"}\n", Duration::from_secs(10));
    // Raw mode: no echo of the request, no CR inserted before the newline.
    let text = String::from_utf8_lossy(&reply);
    assert!(
        text.ends_with("{\"return\": {}, \"id\": \"serial\"}\n"),
        "{text:?}"
    );
    assert!(
        !text.contains("guest-ping"),
        "the tty echoed the request: {text:?}"
    );
    assert!(!text.contains('\r'), "the tty translated newlines: {text:?}");
}

#[test]
fn retry_path_waits_for_the_device_and_for_it_to_come_back() {
    let dir = tempdir();
    let link = dir.path().join("port");
    let mut agent = start("virtio-serial", &link, dir.path(), &["-r"]);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent gave up on a missing device"
    );

    // The device appears: the agent opens it within the retry interval.
    let mut pty = Pty::new();
    std::os::unix::fs::symlink(&pty.slave, &link).unwrap();
    let ping = b"{\"execute\":\"guest-ping\",\"id\":1}";
    let served = wait_until(Duration::from_secs(15), || {
        pty.send(ping);
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = [0u8; 4096];
        matches!(pty.master.read(&mut buf), Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("\"id\": 1}"))
    });
    assert!(served, "the agent did not open the device once it appeared");

    // The device goes away (hot-unplug) and comes back as another one.
    drop(pty);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        agent.0.try_wait().unwrap().is_none(),
        "the agent exited when the device went away"
    );
    let mut pty = Pty::new();
    std::fs::remove_file(&link).unwrap();
    std::os::unix::fs::symlink(&pty.slave, &link).unwrap();
    let served = wait_until(Duration::from_secs(20), || {
        pty.send(b"{\"execute\":\"guest-ping\",\"id\":2}");
        std::thread::sleep(Duration::from_millis(200));
        let mut buf = [0u8; 4096];
        matches!(pty.master.read(&mut buf), Ok(n) if String::from_utf8_lossy(&buf[..n]).contains("\"id\": 2}"))
    });
    assert!(served, "the agent did not reopen the device");
}

#[test]
fn without_retry_a_vanished_device_ends_the_agent() {
    let dir = tempdir();
    let pty = Pty::new();
    let mut agent = start("isa-serial", &pty.slave, dir.path(), &[]);
    std::thread::sleep(Duration::from_millis(300));
    drop(pty);
    assert!(
        wait_until(Duration::from_secs(10), || agent.0.try_wait().unwrap().is_some()),
        "the agent kept running on a dead device without -r"
    );
    let status = agent.0.wait().unwrap();
    assert_eq!(status.code(), Some(1));
}

/// A vsock connection to the local host (CID 1), or why there is none.
fn vsock_connect_local(port: u32) -> Result<OwnedFd, String> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::VSOCK,
        SocketType::STREAM,
        SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|e| format!("no vsock sockets: {e}"))?;
    match rustix::net::connect(&fd, &qga_transport::VsockAddr { cid: 1, port }) {
        Ok(()) => {}
        Err(rustix::io::Errno::INPROGRESS) => {
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let timeout = Timespec {
                tv_sec: 2,
                tv_nsec: 0,
            };
            if poll(&mut fds, Some(&timeout)).map_err(|e| e.to_string())? == 0 {
                return Err("vsock loopback connection timed out".into());
            }
            if let Err(e) = rustix::net::sockopt::socket_error(&fd).map_err(|e| e.to_string())? {
                return Err(format!("vsock loopback refused: {e}"));
            }
        }
        Err(e) => return Err(format!("vsock loopback unavailable: {e}")),
    }
    let flags = rustix::fs::fcntl_getfl(&fd).map_err(|e| e.to_string())?;
    rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK).map_err(|e| e.to_string())?;
    Ok(fd)
}

#[test]
fn vsock_listen_serves_over_loopback_where_available() {
    let dir = tempdir();
    let port = 20_000 + std::process::id() % 20_000;
    let address = format!("4294967295:{port}");
    // The loopback peer (CID 1) is not the host: it must be allowed.
    let mut agent = start(
        "vsock-listen",
        Path::new(&address),
        dir.path(),
        &["--vsock-allow-cids=1"],
    );
    std::thread::sleep(Duration::from_millis(300));
    if let Some(status) = agent.0.try_wait().unwrap() {
        // No vsock transport in this kernel at all: binding failed.
        eprintln!("skipping: the agent could not listen on vsock here ({status})");
        return;
    }
    let fd = match vsock_connect_local(port) {
        Ok(fd) => fd,
        Err(why) => {
            eprintln!("skipping the vsock round trip: {why}");
            return;
        }
    };
    let mut stream = std::fs::File::from(fd);
    stream
        .write_all(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":77}}")
        .unwrap();
    let mut reply = [0u8; 64];
    let n = stream.read(&mut reply).unwrap();
    assert_eq!(&reply[..n], b"{\"return\": 77}\n");
}

#[test]
fn systemd_socket_activation_serves_the_passed_socket() {
    use std::os::fd::AsRawFd;
    let dir = tempdir();
    let path = dir.path().join("activated.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    // Hand the socket down as descriptor 3, the way systemd does, with
    // LISTEN_PID naming the agent (the shell execs it, keeping its pid).
    rustix::io::fcntl_setfd(&listener, rustix::io::FdFlags::empty()).unwrap();
    let script = format!(
        "exec 3<&{fd}; LISTEN_PID=$$ LISTEN_FDS=1 exec \"$0\" -t \"$1\"",
        fd = listener.as_raw_fd()
    );
    let child = Command::new("sh")
        .arg("-c")
        .arg(&script)
        .arg(OURS)
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _agent = Running(child);
    drop(listener);
    // No -m and no -p: the default virtio-serial would fail; the passed
    // Unix socket is served instead.
    let mut client = crate::util::Client::connect(&path);
    client.expect(
        b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":5}}",
        b"{\"return\": 5}\n",
    );
    client.assert_alive(6);
}

#[test]
fn more_than_one_activation_socket_is_refused() {
    let dir = tempdir();
    let out = Command::new("sh")
        .arg("-c")
        .arg("LISTEN_PID=$$ LISTEN_FDS=2 exec \"$0\" -t \"$1\"")
        .arg(OURS)
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("qemu-ga only supports listening on one socket"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
