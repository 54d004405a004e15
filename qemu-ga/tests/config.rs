//! Daemon parity: the configuration file, `-D`, command-line precedence,
//! option errors, SIGHUP log reopening and the shipped unit file, compared
//! with Debian's qemu-ga where it has the feature.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use rustix::process::Signal;

use crate::differential::debian;
use crate::util::{tempdir, text, wait_until, Agent, OURS};

/// Runs an agent binary as `qemu-ga` (argv[0]) with `args` and `env`.
fn run_as(program: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(program)
        .arg0("qemu-ga")
        .args(args)
        .env_remove("QGA_CONF")
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .expect("run the agent")
}

fn dump(program: &str, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = run_as(program, args, env);
    assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "", "-D writes nothing to standard error");
    text(&out.stdout)
}

/// QEMU's upstream fixture, `tests/data/test-qga-config`.
const UPSTREAM_FIXTURE: &str =
    "[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\n\
    pidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
    block-rpcs=guest-ping,guest-get-time\n";

#[test]
fn dump_conf_prints_the_effective_configuration() {
    let dir = tempdir();
    let conf = dir.path().join("qga.conf");
    std::fs::write(&conf, UPSTREAM_FIXTURE).unwrap();
    let conf = conf.to_str().unwrap();
    let expected = "[general]\ndaemon=false\nmethod=virtio-serial\npath=/path/to/org.qemu.guest_agent.0\n\
        pidfile=/var/foo/qemu-ga.pid\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
        block-rpcs=guest-get-time,guest-ping\nallow-rpcs=\n";
    assert_eq!(dump(OURS, &["-c", conf, "-D"], &[]), expected);
    assert_eq!(dump(OURS, &["-D"], &[("QGA_CONF", conf)]), expected);
    // The command line wins; lists are joined.
    assert_eq!(
        dump(
            OURS,
            &[
                "-c",
                conf,
                "-D",
                "-m",
                "unix-listen",
                "-p",
                "/x",
                "-l",
                "/l",
                "-F",
                "-b",
                "guest-info",
                "-d"
            ],
            &[]
        ),
        "[general]\ndaemon=true\nmethod=unix-listen\npath=/x\nlogfile=/l\npidfile=/var/foo/qemu-ga.pid\n\
         fsfreeze-hook=/etc/qemu/fsfreeze-hook\nstatedir=/var/state\nverbose=true\nretry-path=false\n\
         block-rpcs=guest-get-time,guest-ping,guest-info\nallow-rpcs=\n"
    );
    // What -D prints, -c reads back as the same configuration.
    let printed = dir.path().join("printed.conf");
    std::fs::write(
        &printed,
        dump(
            OURS,
            &["-c", conf, "-D", "-r", "-a", "guest-ping,guest-info"],
            &[],
        ),
    )
    .unwrap();
    let again = dump(OURS, &["-c", printed.to_str().unwrap(), "-D"], &[]);
    assert!(
        again.contains("retry-path=true\n") && again.contains("verbose=true\n"),
        "{again}"
    );
    assert!(again.contains("allow-rpcs=guest-ping,guest-info\n"), "{again}");
}

#[test]
fn dump_conf_matches_qemu() {
    let Some(debian) = debian() else { return };
    let dir = tempdir();
    let conf = dir.path().join("qga.conf");
    std::fs::write(&conf, UPSTREAM_FIXTURE).unwrap();
    let conf = conf.to_str().unwrap();
    // Debian's 7.2 predates allow-rpcs (8.1) and -c; current QEMU prints
    // allow-rpcs too.
    let without_allow = |s: String| s.replace("allow-rpcs=\n", "");
    for (args, env) in [
        (vec!["-D"], vec![]),
        (vec!["-D"], vec![("QGA_CONF", conf)]),
        (
            vec![
                "-D",
                "-m",
                "unix-listen",
                "-p",
                "/x",
                "-l",
                "/l",
                "-F",
                "-b",
                "guest-info,guest-ping",
            ],
            vec![],
        ),
        (
            vec![
                "-D",
                "-m",
                "isa-serial",
                "-v",
                "-r",
                "-t",
                "/s",
                "-f",
                "/p",
                "-F/h",
            ],
            vec![("QGA_CONF", conf)],
        ),
    ] {
        assert_eq!(
            without_allow(dump(OURS, &args, &env)),
            dump(debian, &args, &env),
            "{args:?} {env:?}"
        );
    }
}

#[test]
fn option_errors_match_qemu() {
    let Some(debian) = debian() else { return };
    for args in [
        &["-x"][..],
        &["--bogus"],
        &["-m"],
        &["--method"],
        &["-vx"],
        &["-t"],
    ] {
        let ours = run_as(OURS, args, &[]);
        let theirs = run_as(debian, args, &[]);
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        assert_eq!(text(&ours.stderr), text(&theirs.stderr), "{args:?}");
        assert_eq!(text(&ours.stdout), text(&theirs.stdout), "{args:?}");
    }
}

#[test]
fn bad_configuration_files_are_clear_errors() {
    let dir = tempdir();
    let write = |name: &str, body: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, body).unwrap();
        path.to_str().unwrap().to_string()
    };
    for (file, message) in [
        (write("a.conf", "[general\n"), "line 1"),
        (write("b.conf", "[general]\nverbose=maybe\n"), "'verbose'"),
        (
            "/no/such/file".to_string(),
            "failed to read config file /no/such/file",
        ),
    ] {
        let out = run_as(OURS, &["-c", &file, "-D"], &[]);
        assert_eq!(out.status.code(), Some(1), "{file}");
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(message) && stderr.lines().count() == 1,
            "{file}: {stderr}"
        );
    }
    let both = write(
        "c.conf",
        "[general]\nblock-rpcs=guest-ping\nallow-rpcs=guest-info\n",
    );
    let sock = dir.path().join("s");
    let out = run_as(
        OURS,
        &[
            "-c",
            &both,
            "-m",
            "unix-listen",
            "-p",
            sock.to_str().unwrap(),
            "-t",
            "/tmp",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("cannot be used together"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_configuration_file_configures_the_agent() {
    let dir = tempdir();
    let conf = dir.path().join("qga.conf");
    std::fs::write(&conf, "[general]\nblock-rpcs=guest-ping\nverbose=true\n").unwrap();
    let agent = Agent::start(&["-c", conf.to_str().unwrap()]);
    let mut c = agent.connect();
    c.expect(
        b"{\"execute\":\"guest-ping\"}",
        b"{\"error\": {\"class\": \"CommandNotFound\", \"desc\": \"Command guest-ping has been disabled\"}}\n",
    );
    c.expect(
        b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":3}}",
        b"{\"return\": 3}\n",
    );
    assert!(
        agent.stderr().contains("guest-sync: ok"),
        "verbose from the file: {}",
        agent.stderr()
    );
}

#[test]
fn sighup_reopens_the_log_file() {
    let dir = tempdir();
    let log = dir.path().join("agent.log");
    let agent = Agent::start(&["-v", "-l", log.to_str().unwrap()]);
    let mut c = agent.connect();
    c.expect(
        b"{\"execute\":\"guest-sync\",\"arguments\":{\"id\":1}}",
        b"{\"return\": 1}\n",
    );
    assert!(wait_until(Duration::from_secs(5), || std::fs::read_to_string(
        &log
    )
    .unwrap_or_default()
    .contains("guest-sync: ok")));
    let rotated = dir.path().join("agent.log.1");
    std::fs::rename(&log, &rotated).unwrap();
    agent.signal(Signal::HUP);
    std::thread::sleep(Duration::from_millis(200));
    c.expect(b"{\"execute\":\"guest-ping\"}", b"{\"return\": {}}\n");
    assert!(
        wait_until(Duration::from_secs(5), || std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("guest-ping: ok")),
        "no new log file after SIGHUP"
    );
    assert!(
        !std::fs::read_to_string(&rotated).unwrap().contains("guest-ping"),
        "kept writing the rotated file"
    );
    c.assert_alive(9);
}

#[test]
fn the_unit_file_verifies() {
    let unit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/qemu-guest-agent.service");
    assert!(unit.exists());
    let Ok(out) = Command::new("systemd-analyze").arg("verify").arg(&unit).output() else {
        eprintln!("skipping: systemd-analyze is not installed");
        return;
    };
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
}
