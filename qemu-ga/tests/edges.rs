//! Least privilege at the agent's edges (issue #10): what a guest user
//! could plant or catch around a root agent. Children inherit no agent
//! descriptor or variable; the pidfile and the state files follow no
//! planted symbolic link; the Unix socket is never reachable by others,
//! not even while it is being set up; vsock serves only the allowed peers.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use qga_commands::testing::GuestUser;
use rustix::process::Signal;
use serde_json::json;

use crate::util::{
    ret, run_in, tempdir, text, unb64, wait_until, Agent, Client, ProcessGuard, EXIT_TIMEOUT, OURS,
    START_TIMEOUT,
};

/// A process started here, killed on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `path` with `args` through `guest-exec`, output captured; returns
/// its exit code and standard output.
fn guest_exec(c: &mut Client, path: &str, args: &[&str]) -> (i64, String) {
    let started = ret(
        c,
        json!({"execute": "guest-exec",
               "arguments": {"path": path, "arg": args, "capture-output": true}}),
    );
    let pid = started["pid"].as_i64().expect("guest-exec pid");
    let deadline = Instant::now() + EXIT_TIMEOUT;
    loop {
        let status = ret(
            c,
            json!({"execute": "guest-exec-status", "arguments": {"pid": pid}}),
        );
        if status["exited"] == json!(true) {
            let out = unb64(status["out-data"].as_str().unwrap_or(""));
            return (
                status["exitcode"].as_i64().unwrap_or(-1),
                String::from_utf8_lossy(&out).into_owned(),
            );
        }
        assert!(Instant::now() < deadline, "{path} did not exit");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The descriptors `ls -l /proc/self/fd` listed, other than ls's own
/// handle on that directory: (number, target).
fn listed_fds(listing: &str) -> Vec<(String, String)> {
    listing
        .lines()
        .filter_map(|line| line.split_once(" -> "))
        .map(|(left, target)| {
            let fd = left.split_whitespace().last().unwrap_or_default();
            (fd.to_string(), target.to_string())
        })
        .filter(|(_, target)| !(target.starts_with("/proc/") && target.ends_with("/fd")))
        .collect()
}

/// Asserts that a child of the agent serving `socket` sees none of the
/// agent's variables and no descriptor but 0, 1 and 2.
fn assert_children_get_nothing(socket: &Path, marker: &Path) {
    let mut c = Client::connect(socket);
    let (code, env) = guest_exec(&mut c, "/usr/bin/env", &[]);
    assert_eq!(code, 0, "{env}");
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
    let leaked: Vec<&str> = env
        .lines()
        .filter(|l| l.starts_with("QGA_") || l.starts_with("LISTEN_"))
        .collect();
    assert!(leaked.is_empty(), "agent variables reached the child: {leaked:?}");

    let (code, listing) = guest_exec(&mut c, "/bin/ls", &["-l", "/proc/self/fd"]);
    assert_eq!(code, 0, "{listing}");
    let fds = listed_fds(&listing);
    let numbers: BTreeSet<&str> = fds.iter().map(|(fd, _)| fd.as_str()).collect();
    assert_eq!(
        numbers,
        BTreeSet::from(["0", "1", "2"]),
        "descriptors of the child:\n{listing}"
    );
    let marker = marker.to_string_lossy();
    assert!(
        !fds.iter().any(|(_, target)| target.contains(marker.as_ref())),
        "the inherited file reached the child:\n{listing}"
    );
}

/// A command running `OURS` with `args` through `sh`, which first opens
/// `marker` as descriptor 7 without close-on-exec (as a careless parent
/// would leave one), with agent-looking variables set.
fn agent_with_inherited_fd(marker: &Path, cwd: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg("exec 7<\"$1\"; shift; exec \"$@\"")
        .arg("sh")
        .arg(marker)
        .arg(OURS)
        .args(args)
        .env("QGA_TEST_LEAK", "1")
        // Socket activation meant for another process.
        .env("LISTEN_PID", "1")
        .env("LISTEN_FDS", "1")
        .env("LISTEN_FDNAMES", "qga-test-leak")
        .current_dir(cwd)
        .stdin(Stdio::null());
    command
}

#[test]
fn a_daemons_children_inherit_no_agent_descriptors_or_variables() {
    let dir = tempdir();
    let marker = dir.path().join("inherited-marker");
    std::fs::write(&marker, "").unwrap();
    let socket = dir.path().join("sock");
    let pidfile = dir.path().join("qemu-ga.pid");
    let d = dir.path().to_str().unwrap();
    let out = agent_with_inherited_fd(
        &marker,
        dir.path(),
        &[
            "-d",
            "-f",
            pidfile.to_str().unwrap(),
            "-m",
            "unix-listen",
            "-p",
            socket.to_str().unwrap(),
            "-t",
            d,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(0), "stderr {}", text(&out.stderr));
    let pid: i32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let daemon = ProcessGuard::new(pid);

    assert_children_get_nothing(&socket, &marker);

    daemon.signal(Signal::TERM);
    assert!(
        wait_until(EXIT_TIMEOUT, || daemon.is_gone()),
        "daemon still running"
    );
}

#[test]
fn an_agents_children_do_not_get_the_descriptors_it_inherited() {
    let dir = tempdir();
    let marker = dir.path().join("inherited-marker");
    std::fs::write(&marker, "").unwrap();
    let socket = dir.path().join("sock");
    let child = agent_with_inherited_fd(
        &marker,
        dir.path(),
        &[
            "-m",
            "unix-listen",
            "-p",
            socket.to_str().unwrap(),
            "-t",
            dir.path().to_str().unwrap(),
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let agent = Running(child);
    assert!(
        wait_until(START_TIMEOUT, || UnixStream::connect(&socket).is_ok()),
        "the agent did not start"
    );
    // The agent itself holds the inherited descriptor: the test's set-up
    // is what it claims.
    let held = std::fs::read_link(format!("/proc/{}/fd/7", agent.0.id())).unwrap();
    assert_eq!(held, marker);

    assert_children_get_nothing(&socket, &marker);
}

/// A directory a guest user can enter (the test's temporary directories
/// are private), with a world-writable sticky directory in it, as `/tmp`.
fn shared_dirs() -> (tempfile::TempDir, PathBuf) {
    let dir = tempdir();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sticky = dir.path().join("sticky");
    std::fs::create_dir(&sticky).unwrap();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    (dir, sticky)
}

#[test]
fn a_pidfile_path_planted_as_a_symlink_is_refused() {
    let Some(user) = GuestUser::new("pidlink") else {
        return;
    };
    let (dir, sticky) = shared_dirs();
    let victim = dir.path().join("victim");
    std::fs::write(&victim, "precious\n").unwrap();
    let absent = dir.path().join("absent");
    let socket = dir.path().join("sock");
    let planted = [
        (sticky.join("to-victim.pid"), &victim),
        (sticky.join("dangling.pid"), &absent),
        // Where the kernel's protected_symlinks does not apply: a directory
        // of the user's own.
        (user.home().join("qemu-ga.pid"), &victim),
    ];
    for (link, target) in &planted {
        user.sh(&format!("ln -s '{}' '{}'", target.display(), link.display()));
        let out = run_in(
            dir.path(),
            &[
                "-d",
                "-f",
                link.to_str().unwrap(),
                "-m",
                "unix-listen",
                "-p",
                socket.to_str().unwrap(),
                "-t",
                dir.path().to_str().unwrap(),
            ],
        );
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{}: stderr {stderr}", link.display());
        assert!(stderr.contains("symbolic link"), "{stderr}");
        assert!(
            std::fs::symlink_metadata(link).unwrap().file_type().is_symlink(),
            "the planted link is gone"
        );
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
        assert!(!absent.exists(), "a file was created through the dangling link");
        assert!(!socket.exists());
    }
    let left: Vec<_> = std::fs::read_dir(&sticky).unwrap().collect();
    assert_eq!(left.len(), 2, "temporary files left behind: {left:?}");
}

#[test]
fn state_file_symlinks_are_never_followed() {
    let agent = Agent::start(&[]);
    let dir = agent.dir().to_path_buf();
    let victim = dir.join("victim");
    let victim_of_temp = dir.join("victim-of-temp");
    std::fs::write(&victim, "precious\n").unwrap();
    std::fs::write(&victim_of_temp, "precious too\n").unwrap();
    let state = dir.join("qga.state");
    std::fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    // The temporary name earlier versions used, predictable from the pid.
    std::os::unix::fs::symlink(&victim_of_temp, dir.join(format!("qga.state.{}", agent.pid()))).unwrap();

    let mut c = agent.connect();
    let opened = dir.join("opened");
    let handle = ret(
        &mut c,
        json!({"execute": "guest-file-open",
               "arguments": {"path": opened.to_str().unwrap(), "mode": "w"}}),
    );
    ret(
        &mut c,
        json!({"execute": "guest-file-close", "arguments": {"handle": handle}}),
    );

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    assert_eq!(
        std::fs::read_to_string(&victim_of_temp).unwrap(),
        "precious too\n"
    );
    let meta = std::fs::symlink_metadata(&state).unwrap();
    assert!(meta.file_type().is_file(), "qga.state is not a regular file now");
    let next = handle.as_i64().unwrap() + 1;
    assert_eq!(
        std::fs::read_to_string(&state).unwrap(),
        format!("[global]\nfd_counter={next}\n")
    );
    drop(c);
    let dir_handle = agent.stop();

    // An agent starting on a state file that is a symbolic link refuses it.
    std::fs::remove_file(&state).unwrap();
    std::os::unix::fs::symlink(&victim, &state).unwrap();
    let socket = dir.join("sock2");
    let out = run_in(
        &dir,
        &[
            "-m",
            "unix-listen",
            "-p",
            socket.to_str().unwrap(),
            "-t",
            dir.to_str().unwrap(),
        ],
    );
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr {stderr}");
    assert!(stderr.contains("not a regular file"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious\n");
    drop(dir_handle);
}

#[test]
fn the_socket_is_never_reachable_with_a_wider_mode() {
    let Some(user) = GuestUser::new("sockmode") else {
        return;
    };
    let (dir, _) = shared_dirs();
    let socket = dir.path().join("sock");
    let stop = dir.path().join("stop");
    let started = user.home().join("started");

    // The guest user tries to connect all along.
    let script = format!(
        "import os, socket, sys, time\n\
         open({started:?}, 'w').close()\n\
         end = time.time() + 60\n\
         while time.time() < end and not os.path.exists({stop:?}):\n\
         \x20   s = socket.socket(socket.AF_UNIX)\n\
         \x20   try:\n\
         \x20       s.connect({socket:?})\n\
         \x20   except OSError:\n\
         \x20       pass\n\
         \x20   else:\n\
         \x20       print('connected'); sys.exit(1)\n\
         \x20   finally:\n\
         \x20       s.close()\n",
        started = started.to_str().unwrap(),
        stop = stop.to_str().unwrap(),
        socket = socket.to_str().unwrap(),
    );
    let connector = {
        let script = script.clone();
        let user_script = format!("exec /usr/bin/python3 -c '{}'", script.replace('\'', "'\\''"));
        let user = Arc::new(user);
        let for_thread = Arc::clone(&user);
        (std::thread::spawn(move || for_thread.try_sh(&user_script)), user)
    };
    assert!(
        wait_until(START_TIMEOUT, || started.exists()),
        "the guest user's connector did not start"
    );

    // The path is watched as closely as can be: by the kernel, which
    // reports a change of the socket's mode once it is at its path (as
    // binding there and then changing the mode would), and by stat-ing it
    // over and over.
    use rustix::fs::inotify;
    let events = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
    inotify::add_watch(
        &events,
        dir.path(),
        inotify::WatchFlags::CREATE | inotify::WatchFlags::ATTRIB | inotify::WatchFlags::MOVED_TO,
    )
    .unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (done, socket) = (Arc::clone(&done), socket.clone());
        std::thread::spawn(move || {
            let mut modes = BTreeSet::new();
            let mut sightings = 0u64;
            while !done.load(Ordering::Relaxed) {
                if let Ok(meta) = std::fs::symlink_metadata(&socket) {
                    if meta.file_type().is_socket() {
                        modes.insert(meta.permissions().mode() & 0o7777);
                        sightings += 1;
                    }
                }
            }
            (modes, sightings)
        })
    };

    for _ in 0..10 {
        // With every permission the umask can leave.
        let child = Command::new("sh")
            .arg("-c")
            .arg("umask 0; exec \"$0\" \"$@\"")
            .arg(OURS)
            .args(["-m", "unix-listen", "-p"])
            .arg(&socket)
            .arg("-t")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut agent = Running(child);
        assert!(
            wait_until(START_TIMEOUT, || UnixStream::connect(&socket).is_ok()),
            "the agent did not start"
        );
        rustix::process::kill_process(crate::util::pid_of(agent.0.id()), Signal::TERM).unwrap();
        assert!(agent.0.wait().unwrap().success());
        assert!(!socket.exists());
    }
    std::thread::sleep(Duration::from_millis(100));
    std::fs::write(&stop, "").unwrap();
    done.store(true, Ordering::Relaxed);
    let (modes, sightings) = watcher.join().unwrap();
    let (thread, _user) = connector;
    let never_connected = thread.join().unwrap();
    let mut buf = vec![std::mem::MaybeUninit::uninit(); 64 * 1024];
    let mut reader = inotify::Reader::new(&events, &mut buf);
    let mut socket_events = Vec::new();
    loop {
        match reader.next() {
            Ok(event) => {
                if event.file_name().is_some_and(|n| n.to_bytes() == b"sock") {
                    socket_events.push(event.events());
                }
            }
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("reading inotify events: {e}"),
        }
    }
    assert!(
        socket_events
            .iter()
            .all(|e| !e.contains(inotify::ReadFlags::ATTRIB)),
        "the socket's mode changed while it was at its path: {socket_events:?}"
    );

    assert!(sightings > 0, "the socket was never seen");
    let shown: Vec<String> = modes.iter().map(|m| format!("{m:o}")).collect();
    assert_eq!(modes, BTreeSet::from([0o600]), "modes seen: {shown:?}");
    assert!(never_connected, "the guest user connected to the agent's socket");
    // Nothing left beside it (the private directory is gone).
    let left: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.iter().filter(|n| n.starts_with('.')).count(), 0, "{left:?}");
}

/// Why vsock connections from this guest to itself (CID 1) cannot be
/// made here, if they cannot. Looks at the kernel only: no connection
/// leaves the guest.
fn vsock_loopback_missing() -> Option<String> {
    let _ = Command::new("modprobe")
        .arg("vsock_loopback")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if Path::new("/sys/module/vsock_loopback").exists() {
        return None;
    }
    let symbols = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
    if symbols.contains("vsock_loopback") {
        return None;
    }
    Some("the kernel has no vsock loopback transport (vsock_loopback)".into())
}

/// A vsock connection from this guest to itself (CID 1), to `port`.
fn vsock_connect_loopback(port: u32) -> OwnedFd {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    use rustix::net::{AddressFamily, SocketFlags, SocketType};
    let fd = rustix::net::socket_with(
        AddressFamily::VSOCK,
        SocketType::STREAM,
        SocketFlags::NONBLOCK | SocketFlags::CLOEXEC,
        None,
    )
    .unwrap();
    match rustix::net::connect(&fd, &qga_transport::VsockAddr { cid: 1, port }) {
        Ok(()) => {}
        Err(rustix::io::Errno::INPROGRESS) => {
            let mut fds = [PollFd::new(&fd, PollFlags::OUT)];
            let timeout = Timespec {
                tv_sec: 5,
                tv_nsec: 0,
            };
            assert_eq!(
                poll(&mut fds, Some(&timeout)).unwrap(),
                1,
                "vsock connect timed out"
            );
            if let Err(e) = rustix::net::sockopt::socket_error(&fd).unwrap() {
                panic!("vsock connect to port {port} failed: {e}");
            }
        }
        Err(e) => panic!("vsock connect to port {port} failed: {e}"),
    }
    let flags = rustix::fs::fcntl_getfl(&fd).unwrap();
    rustix::fs::fcntl_setfl(&fd, flags - rustix::fs::OFlags::NONBLOCK).unwrap();
    rustix::net::sockopt::set_socket_timeout(
        &fd,
        rustix::net::sockopt::Timeout::Recv,
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    fd
}

/// What the agent on `port` answers to a `guest-sync` over a loopback
/// vsock connection: the reply, or nothing if it closed the connection.
fn vsock_sync(port: u32) -> Vec<u8> {
    let mut stream = std::fs::File::from(vsock_connect_loopback(port));
    // A refused connection may be closed before the request is written.
    let _ = stream.write_all(b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":77}}");
    let mut reply = Vec::new();
    let mut chunk = [0u8; 256];
    while !reply.ends_with(b"\n") {
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => reply.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("reading the vsock reply failed: {e}"),
        }
    }
    reply
}

#[test]
fn vsock_serves_only_the_allowed_peers() {
    if let Some(why) = vsock_loopback_missing() {
        eprintln!("skipping the vsock peer test: {why}");
        return;
    }
    let dir = tempdir();
    let base = 40_000 + std::process::id() % 20_000;
    let cases: [(&[&str], bool); 4] = [
        (&[], false),
        (&["--vsock-allow-cids=2,3"], false),
        (&["--vsock-allow-cids=1"], true),
        (&["--vsock-allow-cids=any"], true),
    ];
    for (i, (extra, allowed)) in cases.into_iter().enumerate() {
        let port = base + u32::try_from(i).unwrap();
        let log = dir.path().join(format!("log{i}"));
        let child = Command::new(OURS)
            .args(["-m", "vsock-listen", "-p", &format!("4294967295:{port}")])
            .arg("-t")
            .arg(dir.path())
            .args(["-v", "-l", log.to_str().unwrap()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut agent = Running(child);
        let serving = wait_until(START_TIMEOUT, || {
            std::fs::read_to_string(&log).is_ok_and(|l| l.contains("serving on"))
        });
        assert!(
            serving,
            "the agent ({:?}) did not start: {:?}; log: {:?}",
            extra,
            agent.0.try_wait(),
            std::fs::read_to_string(&log)
        );
        for _ in 0..3 {
            let reply = vsock_sync(port);
            if allowed {
                assert_eq!(text(&reply), "{\"return\": 77}\n", "{extra:?}");
            } else {
                assert_eq!(text(&reply), "", "{extra:?}: a refused peer got an answer");
            }
        }
        assert!(agent.0.try_wait().unwrap().is_none(), "the agent exited");
        let logged = std::fs::read_to_string(&log).unwrap();
        let refusals = logged.matches("refused a vsock connection from CID 1").count();
        assert_eq!(refusals, usize::from(!allowed), "{extra:?}: log:\n{logged}");
    }
}
