//! Integration tests: Time, identity and statistics: guest-get-time, guest-set-time, guest-get-host-name, guest-get-users, guest-get-timezone, guest-get-osinfo, guest-get-diskstats, guest-get-cpustats, guest-get-load.
//!
//! Read commands are checked against what the system reports (`date`,
//! `uname`, `/proc`) and against Debian's `qemu-ga` (QEMU 7.2) byte for
//! byte where the answer cannot change between two calls; counters are
//! compared by shape. `guest-set-time` is sent here only with times it
//! refuses before touching the clock; the VM checks set the guest's clock.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::differential::{self, exchange, req};
use crate::util::{call_within, error_desc, ret, return_within, show_short, tempdir, Agent, Client};

/// Reply time-out inside the (slow, emulated) VM.
const VM_REPLY: Duration = Duration::from_secs(60);

fn output(program: &str, args: &[&str]) -> String {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn now_ns() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as i64
}

/// The member names of each object of a list, in order.
fn keys_of(list: &Value) -> Vec<Vec<String>> {
    list.as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .iter()
        .map(|o| o.as_object().unwrap().keys().cloned().collect())
        .collect()
}

#[test]
fn time_follows_the_system_clock() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let before = now_ns();
    let t = ret(&mut c, json!({"execute": "guest-get-time"}))
        .as_i64()
        .unwrap();
    let after = now_ns();
    assert!(before - 1000 <= t && t <= after, "{before} <= {t} <= {after}");
    // Microsecond resolution, as QEMU's agent.
    assert_eq!(t % 1000, 0);
}

#[test]
fn set_time_refuses_bad_times_without_touching_the_clock() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for time in [
        i64::MAX,
        i64::MIN,
        3_155_760_000 * 1_000_000_000 + 86_400 * 1_000_000_000,
        -1_000_000_000_000_000_000,
    ] {
        let before = now_ns();
        assert_eq!(
            error_desc(
                &mut c,
                json!({"execute": "guest-set-time", "arguments": {"time": time}})
            ),
            "Invalid time"
        );
        let after = now_ns();
        assert!((0..10_000_000_000).contains(&(after - before)), "the clock moved");
    }
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-set-time", "arguments": {"time": "x"}})
        ),
        "Invalid parameter type for 'time', expected: integer"
    );
}

#[test]
fn host_name_users_and_osinfo_match_the_system() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let host = ret(&mut c, json!({"execute": "guest-get-host-name"}));
    assert_eq!(host, json!({"host-name": output("uname", &["-n"]).trim_end()}));

    let users = ret(&mut c, json!({"execute": "guest-get-users"}));
    if !Path::new("/var/run/utmp").exists() {
        assert_eq!(users, json!([]));
    }
    for user in users.as_array().unwrap() {
        assert!(
            user["user"].is_string() && user["login-time"].is_number(),
            "{user}"
        );
    }

    let info = ret(&mut c, json!({"execute": "guest-get-osinfo"}));
    assert_eq!(info["kernel-release"], output("uname", &["-r"]).trim_end());
    assert_eq!(info["kernel-version"], output("uname", &["-v"]).trim_end());
    assert_eq!(info["machine"], output("uname", &["-m"]).trim_end());
    let release = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .unwrap_or_default();
    let id = release
        .lines()
        .find_map(|l| l.strip_prefix("ID="))
        .map(|v| v.trim_matches('"'));
    assert_eq!(info["id"].as_str(), id, "{info}");
}

#[test]
fn timezone_matches_date() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let tz = ret(&mut c, json!({"execute": "guest-get-timezone"}));
    let date = output("date", &["+%Z %z"]);
    let (zone, offset) = date.trim().split_once(' ').unwrap();
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let seconds =
        sign * (offset[1..3].parse::<i64>().unwrap() * 3600 + offset[3..5].parse::<i64>().unwrap() * 60);
    assert_eq!(tz, json!({"zone": zone, "offset": seconds}));
}

#[test]
fn statistics_match_proc() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let disks = ret(&mut c, json!({"execute": "guest-get-diskstats"}));
    let names: Vec<String> = disks
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap().to_string())
        .collect();
    let proc_names: Vec<String> = std::fs::read_to_string("/proc/diskstats")
        .unwrap()
        .lines()
        .map(|l| l.split_whitespace().nth(2).unwrap().to_string())
        .collect();
    assert_eq!(names, proc_names);

    let cpus = ret(&mut c, json!({"execute": "guest-get-cpustats"}));
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let proc_cpus: Vec<i64> = stat
        .lines()
        .filter_map(|l| l.split_whitespace().next()?.strip_prefix("cpu")?.parse().ok())
        .collect();
    let ours: Vec<i64> = cpus
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["cpu"].as_i64().unwrap())
        .collect();
    assert_eq!(ours, proc_cpus);
    for s in cpus.as_array().unwrap() {
        assert_eq!(s["type"], "linux");
        assert!(
            s["idle"].as_u64().is_some() && s["user"].as_u64().is_some(),
            "{s}"
        );
    }

    let load = ret(&mut c, json!({"execute": "guest-get-load"}));
    let proc: Vec<f64> = std::fs::read_to_string("/proc/loadavg")
        .unwrap()
        .split_whitespace()
        .take(3)
        .map(|v| v.parse().unwrap())
        .collect();
    let keys: Vec<&String> = load.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["load15m", "load5m", "load1m"]);
    for (key, expected) in ["load1m", "load5m", "load15m"].iter().zip(&proc) {
        let got = load[key].as_f64().unwrap();
        assert!((got - expected).abs() < 2.0, "{key}: {got} vs {expected}");
    }
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-get-load", "arguments": {"x": 1}})
        ),
        "Parameter 'x' is unexpected"
    );
}

#[test]
fn deterministic_replies_match_qemu() {
    differential::compare(
        &[],
        &[
            req("guest-get-host-name", "{}"),
            req("guest-get-users", "{}"),
            req("guest-get-timezone", "{}"),
            req("guest-get-osinfo", "{}"),
            req("guest-set-time", r#"{"time":9223372036854775807}"#),
            req("guest-set-time", r#"{"time":-9223372036854775808}"#),
            req("guest-set-time", r#"{"time":3155760000000000000}"#),
            req("guest-set-time", r#"{"time":-1000000000}"#),
            req("guest-set-time", r#"{"time":"x"}"#),
            req("guest-set-time", r#"{"time":1.5}"#),
            req("guest-set-time", r#"{"time":null}"#),
            req("guest-set-time", r#"{"time":4000000000000000000,"x":1}"#),
            req("guest-get-time", r#"{"x":1}"#),
            req("guest-get-host-name", r#"{"x":1}"#),
            req("guest-get-users", r#"{"x":1}"#),
            req("guest-get-timezone", r#"{"x":1}"#),
            req("guest-get-osinfo", r#"{"x":1}"#),
            req("guest-get-diskstats", r#"{"x":1}"#),
            req("guest-get-cpustats", r#"{"x":1}"#),
        ],
    );
}

#[test]
fn counter_shapes_match_qemu() {
    let Some(debian) = differential::debian() else {
        return;
    };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    for command in ["guest-get-diskstats", "guest-get-cpustats"] {
        let request = json!({"execute": command});
        let a = ret(&mut theirs.connect(), request.clone());
        let b = ret(&mut ours.connect(), request);
        assert_eq!(keys_of(&b), keys_of(&a), "{command}");
        if command == "guest-get-diskstats" {
            let ids = |v: &Value| -> Vec<(Value, Value, Value)> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| (d["name"].clone(), d["major"].clone(), d["minor"].clone()))
                    .collect()
            };
            assert_eq!(ids(&b), ids(&a));
            let stat_keys = |v: &Value| -> Vec<Vec<String>> {
                v.as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["stats"].as_object().unwrap().keys().cloned().collect())
                    .collect()
            };
            assert_eq!(stat_keys(&b), stat_keys(&a));
        }
    }
}

/// A request, and what to do on the machine before sending it.
type Step = (Vec<u8>, Box<dyn Fn()>);

/// Both agents with the same environment variable set, each request's
/// replies compared byte for byte; `before` runs ahead of each request.
fn compare_with_env(var: &str, value: &Path, requests: &[Step]) -> Vec<String> {
    let Some(debian) = differential::debian() else {
        return vec![];
    };
    let start = |program: &str| {
        let dir = tempdir();
        let socket = dir.path().join("sock");
        Agent::start_with_env(program, dir, socket, &[], &[(var, value)])
    };
    let (theirs, ours) = (start(debian), start(crate::util::OURS));
    let mut differences = Vec::new();
    for (i, (request, before)) in (0..).zip(requests) {
        before();
        let expected = exchange(&theirs, request, 950_000 + i);
        let actual = exchange(&ours, request, 950_000 + i);
        if actual != expected {
            differences.push(format!(
                "{var}={} {}\n    qemu: {}\n    ours: {}",
                value.display(),
                show_short(request, 200),
                show_short(&expected, 1000),
                show_short(&actual, 1000)
            ));
        }
    }
    differences
}

#[test]
fn timezones_match_qemu() {
    let zones = [
        "America/New_York",
        ":America/New_York",
        "Asia/Kolkata",
        "Australia/Sydney",
        "Australia/Lord_Howe",
        "Europe/Dublin",
        "Antarctica/Troll",
        "Etc/GMT+5",
        "/usr/share/zoneinfo/Asia/Tokyo",
        "EST5EDT,M3.2.0,M11.1.0",
        "CET-1CEST,M3.5.0,M10.5.0/3",
        "NZST-12NZDT,M9.5.0,M4.1.0/3",
        "<+0530>-5:30",
        "<-03>3",
        "XYZ5",
        "UTC+3",
        "UTC",
        "+05:30",
        "-0330",
        "Z",
        "garbage",
        "AAA3BBB",
        "",
    ];
    let mut differences = Vec::new();
    for zone in zones {
        if zone.contains('/') && !zone.contains(',') {
            let file = zone.trim_start_matches(':');
            let path = if file.starts_with('/') {
                file.to_string()
            } else {
                format!("/usr/share/zoneinfo/{file}")
            };
            if !Path::new(&path).exists() {
                eprintln!("notice: {path} missing (tzdata), skipped");
                continue;
            }
        }
        let requests: Vec<Step> = vec![(req("guest-get-timezone", "{}"), Box::new(|| {}))];
        differences.extend(compare_with_env("TZ", Path::new(zone), &requests));
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn os_release_parsing_matches_qemu() {
    let dir = tempdir();
    let path = dir.path().join("os-release");
    // QEMU's upstream fixture (tests/data/test-qga-os-release), then
    // corner cases of glib's key files and of QEMU's unquoting.
    let contents: Vec<&'static [u8]> = vec![
        b"ID=qemu-ga-test\nNAME=QEMU-GA\nPRETTY_NAME=\"QEMU Guest Agent test\"\nVERSION=\"Test 1\"\nVERSION_ID=1\n\
VARIANT=\"Unit test \\\"\\'\\$\\`\\\\ and \\\\\\\\ etc.\"\nVARIANT_ID=unit-test\n",
        b"ID=a\nnoequals\n",
        b"# comment\n\n  # indented\nID=a\n",
        b"ID = spaced  \nNAME=  lead\t\n",
        b"NAME=foo bar\nID=a;b\nVERSION=x ;y\n",
        b"NAME='foo bar'\nID='x'\n",
        b"NAME=\"abc\nID=\"a\\nb\\tc\"\n",
        b"NAME=\"a\"trailing\nID=\"\\\"\n",
        b"ID=\"\xc3\xa9\n",
        b"ID=\"a\\\"b\nNAME=\"\\x\\\\\\\"\"\n",
        b"ID=\xff\n",
        b"ID=a\x00NAME=b\n",
        b"ID=a\r\nNAME=b\r\nVERSION=c\r",
        b"Encoding=latin1\nID=a\n",
        b"NAME[de]=x\nNAME[]=y\nID=a\n",
        b"NAME[d/e]=x\nID=a\n",
        b"ID=a\n[a]  \t\nNAME=b\n",
        b"ID=a\n[a] x\nNAME=b\n",
        b"ID=a\n[x]\n[os-release]\nNAME=b\nVARIANT=\"\\u00e9 \\\\ \\\" end\"\n",
        b"ID=first\nID=second\nVARIANT_ID=\x01\x1f\x7f\n",
        b"",
    ];
    let requests: Vec<Step> = contents
        .into_iter()
        .map(|content| {
            let path = path.clone();
            let write: Box<dyn Fn()> = Box::new(move || std::fs::write(&path, content).unwrap());
            (req("guest-get-osinfo", "{}"), write)
        })
        .collect();
    let differences = compare_with_env("QGA_OS_RELEASE", &path, &requests);
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

/// Checks run inside the VM of the end-to-end test (`vm.rs`), on a
/// synchronized virtio-serial connection to the guest's agent: commands
/// that change the system are tested here, never on the test machine.
/// The guest is a busybox initramfs with users root and tester (uid 1000,
/// home /home/tester), busybox's applets (hwclock, chpasswd, ...) and a
/// scratch ext4 disk mounted with discard at /mnt/scratch.
pub fn vm_checks(c: &mut Client) {
    let ret = |c: &mut Client, request: Value| return_within(c, request, VM_REPLY);
    let call = |c: &mut Client, request: Value| call_within(c, &request, VM_REPLY);

    // Identity: the guest's os-release and kernel.
    let info = ret(c, json!({"execute": "guest-get-osinfo"}));
    assert_eq!(
        (
            &info["id"],
            &info["name"],
            &info["version-id"],
            &info["pretty-name"]
        ),
        (
            &json!("qgavm"),
            &json!("QGA test VM"),
            &json!("1"),
            &json!("QGA test VM 1")
        ),
        "{info}"
    );
    assert_eq!(info["machine"], "x86_64", "{info}");
    assert!(info["kernel-release"].is_string(), "{info}");
    let host = ret(c, json!({"execute": "guest-get-host-name"}));
    assert!(host["host-name"].is_string(), "{host}");
    // No /etc/localtime and no TZ in the guest: UTC.
    assert_eq!(
        ret(c, json!({"execute": "guest-get-timezone"})),
        json!({"zone": "UTC", "offset": 0})
    );
    assert!(ret(c, json!({"execute": "guest-get-users"})).is_array());
    let cpus = ret(c, json!({"execute": "guest-get-cpustats"}));
    assert_eq!(cpus.as_array().map(Vec::len), Some(1), "{cpus}");
    assert_eq!(cpus[0]["cpu"], 0, "{cpus}");
    let disks = ret(c, json!({"execute": "guest-get-diskstats"}));
    let vda = disks
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "vda"))
        .unwrap_or_else(|| panic!("no vda in {disks}"));
    assert!(vda["stats"]["read-ios"].as_u64() > Some(0), "{vda}");
    let load = ret(c, json!({"execute": "guest-get-load"}));
    assert!(load["load1m"].as_f64().is_some_and(|l| l >= 0.0), "{load}");

    // guest-set-time: a year ahead, then back.
    const YEAR: i64 = 365 * 86_400 * 1_000_000_000;
    let start = ret(c, json!({"execute": "guest-get-time"})).as_i64().unwrap();
    let host_start = now_ns();
    let ahead = call(
        c,
        json!({"execute": "guest-set-time", "arguments": {"time": start + YEAR}}),
    );
    eprintln!("guest-set-time a year ahead: {ahead}");
    // The clock is set before hwclock runs; whether the RTC can be
    // written decides only the reply.
    let moved = ret(c, json!({"execute": "guest-get-time"})).as_i64().unwrap();
    assert!(
        (moved - (start + YEAR)).abs() < 60_000_000_000,
        "guest time {moved} is not a year after {start}"
    );
    let elapsed = now_ns() - host_start;
    let back = call(
        c,
        json!({"execute": "guest-set-time", "arguments": {"time": start + elapsed}}),
    );
    let now = ret(c, json!({"execute": "guest-get-time"})).as_i64().unwrap();
    assert!(
        (now - start).abs() < 120_000_000_000,
        "guest time {now} not back near {start}"
    );
    for reply in [&ahead, &back] {
        assert!(
            reply.get("return") == Some(&json!({}))
                || reply["error"]["desc"].as_str().is_some_and(
                    |d| d.starts_with("child process has failed to set hardware clock to system time: ")
                ),
            "{reply}"
        );
    }
    // Refused times change nothing.
    let refused = call(
        c,
        json!({"execute": "guest-set-time", "arguments": {"time": i64::MAX}}),
    );
    assert_eq!(refused["error"]["desc"], "Invalid time", "{refused}");
    // Without a time, the clock is loaded from the RTC (`hwclock -s`).
    let from_rtc = call(c, json!({"execute": "guest-set-time"}));
    eprintln!("guest-set-time from the RTC: {from_rtc}");
    let after = ret(c, json!({"execute": "guest-get-time"})).as_i64().unwrap();
    if ahead.get("return").is_some() {
        // The RTC was written: the clock read back from it is near now.
        assert_eq!(from_rtc.get("return"), Some(&json!({})), "{from_rtc}");
        assert!(
            (after - start).abs() < 300_000_000_000,
            "guest time {after} after hwclock -s"
        );
    } else {
        assert!(from_rtc["error"]["desc"].as_str().is_some(), "{from_rtc}");
    }
}
