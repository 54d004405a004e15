//! Integration tests: filesystem trim, suspend, user password and SSH keys
//! (guest-fstrim, guest-suspend-disk, guest-suspend-ram,
//! guest-suspend-hybrid, guest-set-user-password,
//! guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys,
//! guest-ssh-remove-authorized-keys) through the agent binary.
//!
//! Nothing here changes this machine: trimming runs on a loop-mounted
//! ext4 image the test makes (root only) with a mount table listing only
//! it; suspend and password commands run with `PATH` holding stand-in
//! programs only, and suspend tests always give a method that succeeds
//! before the kernel interface would be reached; SSH keys are only read
//! (and checked) here, written in the VM and in the library's tests.
//! Debian's agent only ever gets requests that fail before acting.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use qga_commands::testing::LoopFs;
use serde_json::{json, Value};

use crate::differential::{compare, req};
use crate::util::{
    call_within, error_desc, generic, ret, return_within, tempdir, unb64, Agent, Client, FakeRoots,
};

/// Writes an executable stand-in `name` into `dir` that appends
/// `name ARGS` to `dir/log`, then runs `script` (shell; `$1` is its first
/// argument; the usual tools are in its `PATH`, whatever the agent's).
fn stand_in(dir: &Path, name: &str, script: &str) {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "#!/bin/sh\nPATH=/usr/bin:/bin\necho \"{name} $*\" >> '{0}/log'\n{script}\n",
            dir.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("log")).unwrap_or_default()
}

/// Our agent with `PATH` set to `bin` alone.
fn agent_with_path(bin: &Path) -> Agent {
    Agent::restart_in(tempdir(), &[], &[("PATH", bin)])
}

#[test]
fn fstrim_trims_the_listed_filesystem_and_reports_per_path() {
    let Some(fs) = LoopFs::new() else { return };
    let junk = Path::new(&fs.mnt()).join("junk");
    std::fs::write(&junk, vec![7u8; 2 << 20]).unwrap();
    std::fs::remove_file(&junk).unwrap();
    // Our loop mount, after a mount whose directory is gone (listed last,
    // so reported first) and a virtual one (not listed at all).
    let table = fs.mountinfo("");
    let ours = std::fs::read_to_string(&table).unwrap();
    std::fs::write(
        &table,
        format!("{ours}90 1 0:77 / /proc/x rw - proc proc rw\n91 1 7:99 / /nonexistent/qga-trim rw - ext4 /dev/loop99 rw\n"),
    )
    .unwrap();
    let roots = FakeRoots::mounts(&table);
    let agent = Agent::restart_in(tempdir(), &roots.args(&[]), &[]);
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-fstrim","arguments":{"minimum":8192}}"#);
    let line = c.read_line();
    let prefix = br#"{"return": {"paths": [{"path": "/nonexistent/qga-trim", "error": "failed to open: No such file or directory"}, {"minimum": "#;
    assert!(line.starts_with(prefix), "{}", String::from_utf8_lossy(&line));
    let reply: Value = serde_json::from_slice(&line).unwrap();
    let trimmed = &reply["return"]["paths"][1];
    assert_eq!(trimmed["path"], fs.mnt());
    assert!(
        trimmed["minimum"].as_i64().is_some_and(|m| m >= 8192),
        "{trimmed}"
    );
    assert!(trimmed["trimmed"].as_i64().is_some_and(|t| t > 0), "{trimmed}");
    // Members in QEMU's order: minimum, path, trimmed.
    let text = String::from_utf8_lossy(&line);
    let at = |member: &str| text.rfind(&format!("\"{member}\": ")).unwrap();
    assert!(at("minimum") < at("path") && at("path") < at("trimmed"), "{text}");

    // A minimum the kernel refuses is that path's error, not the command's.
    let refused = ret(
        &mut c,
        json!({"execute": "guest-fstrim", "arguments": {"minimum": -1}}),
    );
    assert_eq!(
        refused["paths"][1],
        json!({"path": fs.mnt(), "error": "failed to trim: Invalid argument"})
    );
    c.assert_alive(1);
}

#[test]
fn fstrim_with_no_local_filesystems_and_without_a_mount_table() {
    let dir = tempdir();
    let table = dir.path().join("mountinfo");
    std::fs::write(&table, "22 1 0:21 / /proc rw - proc proc rw\n").unwrap();
    let roots = FakeRoots::mounts(&table);
    let agent = Agent::restart_in(tempdir(), &roots.args(&[]), &[]);
    let mut c = agent.connect();
    c.expect(
        br#"{"execute":"guest-fstrim"}"#,
        b"{\"return\": {\"paths\": []}}\n",
    );
    std::fs::remove_file(&table).unwrap();
    c.expect(
        br#"{"execute":"guest-fstrim"}"#,
        &generic(&format!(
            "failed to read {}: No such file or directory",
            roots.mountinfo().display()
        )),
    );
}

#[test]
fn suspend_runs_systemd_then_pm_utils_and_is_silent_on_success() {
    let bin = tempdir();
    // Every method that runs succeeds, so the kernel interface is never
    // reached on this machine.
    stand_in(
        bin.path(),
        "systemctl",
        "[ \"$1\" = status ] && exit 3; [ \"$1\" = suspend ] && exit 1; exit 0",
    );
    stand_in(bin.path(), "pm-is-supported", "exit 0");
    stand_in(bin.path(), "pm-suspend", "exit 0");
    let agent = agent_with_path(bin.path());
    let mut c = agent.connect();
    c.send(br#"{"execute":"guest-suspend-disk"}"#);
    c.assert_silent(Duration::from_millis(300));
    c.send(br#"{"execute":"guest-suspend-ram","id":5}"#);
    c.assert_silent(Duration::from_millis(300));
    c.assert_alive(1);
    assert_eq!(
        log(bin.path()),
        "systemctl status systemd-hibernate\nsystemctl hibernate\n\
         systemctl status systemd-suspend\nsystemctl suspend\npm-is-supported --suspend\npm-suspend \n"
    );
}

#[test]
fn suspend_hybrid_errors() {
    // Nothing supports it: hybrid sleep has no kernel interface.
    let bin = tempdir();
    let agent = agent_with_path(bin.path());
    let mut c = agent.connect();
    c.expect(
        br#"{"execute":"guest-suspend-hybrid"}"#,
        &generic("the requested suspend mode is not supported by the guest"),
    );
    // systemd supports it but fails, pm-utils does not: the kernel step's
    // error is the reply.
    stand_in(bin.path(), "systemctl", "[ \"$1\" = status ] && exit 3; exit 1");
    stand_in(bin.path(), "pm-is-supported", "exit 1");
    c.expect(
        br#"{"execute":"guest-suspend-hybrid","id":"h"}"#,
        b"{\"id\": \"h\", \"error\": {\"class\": \"GenericError\", \"desc\": \"unknown guest suspend mode\"}}\n",
    );
    assert_eq!(
        log(bin.path()),
        "systemctl status systemd-hybrid-sleep\nsystemctl hybrid-sleep\npm-is-supported --suspend-hybrid\n"
    );
    // pm-utils supports it and succeeds.
    stand_in(bin.path(), "pm-is-supported", "exit 0");
    stand_in(bin.path(), "pm-suspend-hybrid", "exit 0");
    c.send(br#"{"execute":"guest-suspend-hybrid"}"#);
    c.assert_silent(Duration::from_millis(300));
    assert!(log(bin.path()).ends_with("pm-is-supported --suspend-hybrid\npm-suspend-hybrid \n"));
}

#[test]
fn suspend_commands_are_listed_without_success_response() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let info = ret(&mut c, json!({"execute": "guest-info"}));
    let commands = info["supported_commands"].as_array().unwrap();
    for name in [
        "guest-fstrim",
        "guest-suspend-disk",
        "guest-suspend-ram",
        "guest-suspend-hybrid",
        "guest-set-user-password",
        "guest-ssh-get-authorized-keys",
        "guest-ssh-add-authorized-keys",
        "guest-ssh-remove-authorized-keys",
    ] {
        let entry = commands
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("{name} not listed"));
        assert_eq!(entry["enabled"], true, "{entry}");
        assert_eq!(
            entry["success-response"],
            !name.starts_with("guest-suspend"),
            "{entry}"
        );
    }
}

#[test]
fn set_user_password_feeds_chpasswd() {
    let bin = tempdir();
    stand_in(
        bin.path(),
        "chpasswd",
        &format!("cat >> '{}/log'\n[ \"$(tail -n1 '{0}/log')\" = 'nobody2:x' ] && {{ echo 'chpasswd: unknown user nobody2' >&2; exit 1; }}\nexit 0", bin.path().display()),
    );
    let agent = agent_with_path(bin.path());
    let mut c = agent.connect();
    let set = |user: &str, password: &str, crypted: bool| {
        json!({"execute": "guest-set-user-password",
               "arguments": {"username": user, "password": password, "crypted": crypted}})
    };
    assert_eq!(ret(&mut c, set("tester", "czNjcmV0", false)), json!({}));
    assert_eq!(ret(&mut c, set("tester", "JDYkc2FsdCRoYXNo", true)), json!({}));
    assert_eq!(
        error_desc(&mut c, set("nobody2", "eA==", false)),
        "child process has failed to set user password: chpasswd: unknown user nobody2\n"
    );
    assert_eq!(
        log(bin.path()),
        "chpasswd \ntester:s3cret\nchpasswd -e\ntester:$6$salt$hash\nchpasswd \nnobody2:x\n"
    );
    // Refused before chpasswd runs.
    assert_eq!(
        error_desc(&mut c, set("a:b", "eA==", false)),
        "forbidden characters in username"
    );
    assert_eq!(
        error_desc(&mut c, set("a", "eApi", false)),
        "forbidden characters in raw password"
    );
    std::fs::remove_file(bin.path().join("chpasswd")).unwrap();
    assert_eq!(
        error_desc(&mut c, set("tester", "eA==", false)),
        "child process has failed to set user password: failed to exec 'chpasswd': No such file or directory\n"
    );
    assert!(log(bin.path()).ends_with("nobody2:x\n"));
}

#[test]
fn ssh_keys_of_unknown_users_and_bad_keys() {
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let keys = |command: &str, user: &str, keys: Value| json!({"execute": command, "arguments": {"username": user, "keys": keys}});
    assert_eq!(
        error_desc(
            &mut c,
            json!({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": "qga-no-such-user"}})
        ),
        "failed to lookup user 'qga-no-such-user': Success"
    );
    for command in [
        "guest-ssh-add-authorized-keys",
        "guest-ssh-remove-authorized-keys",
    ] {
        assert_eq!(
            error_desc(
                &mut c,
                keys(command, "qga-no-such-user", json!(["ssh-ed25519 AAAA x", ""]))
            ),
            "failed to lookup user 'qga-no-such-user': Success"
        );
        // Keys are checked first, even for a real user: nothing is written.
        assert_eq!(
            error_desc(&mut c, keys(command, "root", json!(["ok", "#comment"]))),
            "invalid OpenSSH public key: '#comment'"
        );
        assert_eq!(
            error_desc(&mut c, keys(command, "root", json!(["two\nlines"]))),
            "invalid OpenSSH public key: 'two\nlines'"
        );
    }
}

#[test]
fn ssh_keys_match_qemu() {
    let cases: Vec<Vec<u8>> = vec![
        req(
            "guest-ssh-get-authorized-keys",
            r#"{"username":"qga-no-such-user"}"#,
        ),
        req("guest-ssh-get-authorized-keys", r#"{"username":""}"#),
        // Read only: root's keys (or the error reading them) as both see them.
        req("guest-ssh-get-authorized-keys", r#"{"username":"root"}"#),
        req("guest-ssh-get-authorized-keys", r#"{"username":"root","x":1}"#),
        req("guest-ssh-get-authorized-keys", r#"{}"#),
        req("guest-ssh-get-authorized-keys", r#"{"username":1}"#),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":["ssh-rsa AAA x",""]}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r##"{"username":"root","keys":["#x"]}"##,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"root","keys":["a","b\nc"]}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":[]}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":"k"}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":[1]}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":["k"],"reset":1}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":["k"],"reset":true}"#,
        ),
        req(
            "guest-ssh-add-authorized-keys",
            r#"{"username":"qga-no-such-user"}"#,
        ),
        req(
            "guest-ssh-remove-authorized-keys",
            r##"{"username":"root","keys":["#x"]}"##,
        ),
        req(
            "guest-ssh-remove-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":["k"]}"#,
        ),
        req(
            "guest-ssh-remove-authorized-keys",
            r#"{"username":"qga-no-such-user"}"#,
        ),
        req(
            "guest-ssh-remove-authorized-keys",
            r#"{"username":"qga-no-such-user","keys":["k"],"reset":true}"#,
        ),
    ];
    compare(&[], &cases);
}

#[test]
fn password_suspend_and_fstrim_argument_errors_match_qemu() {
    // Every case fails before the command acts.
    let cases: Vec<Vec<u8>> = vec![
        req(
            "guest-set-user-password",
            r#"{"username":"root","password":"!!","crypted":false}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"root","password":"YQpi","crypted":false}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"root","password":"YQpi","crypted":true}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":"YWI=","crypted":false}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro\not","password":"YWI=","crypted":true}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":"YQpi","crypted":false}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":"YWI="}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":"YWI=","crypted":"no"}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":1,"crypted":false}"#,
        ),
        req(
            "guest-set-user-password",
            r#"{"username":"ro:ot","password":"YWI=","crypted":false,"x":1}"#,
        ),
        req("guest-set-user-password", r#"{}"#),
        req("guest-suspend-disk", r#"{"x":1}"#),
        req("guest-suspend-ram", r#"{"x":1}"#),
        req("guest-suspend-hybrid", r#"{"x":1}"#),
        req("guest-fstrim", r#"{"minimum":"x"}"#),
        req("guest-fstrim", r#"{"minimum":1.5}"#),
        req("guest-fstrim", r#"{"x":1}"#),
    ];
    compare(&[], &cases);
}

/// Checks run inside the VM of the end-to-end test (`vm.rs`), on a
/// synchronized virtio-serial connection to the guest's agent: commands
/// that change the system are tested here, never on the test machine.
/// The guest is a busybox initramfs with users root and tester (uid 1000,
/// home /home/tester), busybox's applets (hwclock, chpasswd, ...) and a
/// scratch ext4 disk mounted with discard at /mnt/scratch.
pub fn vm_checks(c: &mut Client) {
    let vm_reply = Duration::from_secs(60);
    let ret = |c: &mut Client, request: Value| return_within(c, request, vm_reply);
    let error = |c: &mut Client, request: Value| {
        let reply = call_within(c, &request, vm_reply);
        reply["error"]["desc"]
            .as_str()
            .unwrap_or_else(|| panic!("{request} did not fail: {reply}"))
            .to_string()
    };
    let read_file = |c: &mut Client, path: &str| -> String {
        let h = ret(
            c,
            json!({"execute": "guest-file-open", "arguments": {"path": path}}),
        );
        let read = ret(
            c,
            json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": 65536}}),
        );
        ret(
            c,
            json!({"execute": "guest-file-close", "arguments": {"handle": h}}),
        );
        let b64 = read["buf-b64"].as_str().unwrap_or("");
        String::from_utf8_lossy(&unb64(b64)).into_owned()
    };

    // fstrim: the scratch disk (virtio-blk with discard) is the only
    // device-backed mount.
    let trim = ret(c, json!({"execute": "guest-fstrim", "arguments": {"minimum": 0}}));
    let paths = trim["paths"].as_array().unwrap();
    assert_eq!(paths.len(), 1, "{trim}");
    assert_eq!(paths[0]["path"], "/mnt/scratch", "{trim}");
    assert!(paths[0]["error"].is_null(), "{trim}");
    assert!(paths[0]["trimmed"].as_i64().is_some_and(|t| t >= 0), "{trim}");
    assert!(paths[0]["minimum"].as_i64().is_some(), "{trim}");

    // Suspend: no systemd, no pm-utils; hybrid sleep has no kernel
    // interface, so this is an error and the guest keeps running. (Disk
    // and RAM would really suspend the guest.)
    assert_eq!(
        error(c, json!({"execute": "guest-suspend-hybrid"})),
        "the requested suspend mode is not supported by the guest"
    );

    // Passwords. Debian's busybox has no chpasswd applet: the guest has
    // one only if its image provides it (then it must work and change
    // /etc/shadow); otherwise the reply names the missing program.
    let set = |user: &str, password: &str, crypted: bool| {
        json!({"execute": "guest-set-user-password",
               "arguments": {"username": user, "password": password, "crypted": crypted}})
    };
    assert_eq!(
        error(c, set("tester:x", "eA==", false)),
        "forbidden characters in username"
    );
    assert_eq!(
        error(c, set("tester", "eApi", false)),
        "forbidden characters in raw password"
    );
    let has_chpasswd = [
        "/usr/local/sbin",
        "/usr/local/bin",
        "/usr/sbin",
        "/usr/bin",
        "/sbin",
        "/bin",
    ]
    .iter()
    .any(|dir| {
        let open = json!({"execute": "guest-file-open", "arguments": {"path": format!("{dir}/chpasswd")}});
        let reply = call_within(c, &open, vm_reply);
        if let Some(h) = reply.get("return") {
            ret(
                c,
                json!({"execute": "guest-file-close", "arguments": {"handle": h}}),
            );
            true
        } else {
            false
        }
    });
    if has_chpasswd {
        let shadow_line = |c: &mut Client| -> String {
            read_file(c, "/etc/shadow")
                .lines()
                .find(|l| l.starts_with("tester:"))
                .unwrap_or_default()
                .to_string()
        };
        let before = shadow_line(c);
        assert!(before.starts_with("tester:"), "{before}");
        // "s3cret"
        assert_eq!(ret(c, set("tester", "czNjcmV0", false)), json!({}));
        let hashed = shadow_line(c);
        assert!(hashed.starts_with("tester:$") && hashed != before, "{hashed}");
        // "$1$qgasalt$abcdefghijklmnopqrstuv", already encrypted.
        assert_eq!(
            ret(
                c,
                set("tester", "JDEkcWdhc2FsdCRhYmNkZWZnaGlqa2xtbm9wcXJzdHV2", true)
            ),
            json!({})
        );
        let line = shadow_line(c);
        assert!(
            line.starts_with("tester:$1$qgasalt$abcdefghijklmnopqrstuv:"),
            "{line}"
        );
        let refused = error(c, set("nosuchuser", "eA==", false));
        assert!(
            refused.starts_with("child process has failed to set user password: "),
            "{refused}"
        );
    } else {
        eprintln!("notice: the guest has no chpasswd; guest-set-user-password checked up to running it");
        assert_eq!(
            error(c, set("tester", "czNjcmV0", false)),
            "child process has failed to set user password: failed to exec 'chpasswd': No such file or directory\n"
        );
    }

    // SSH keys of tester, who has none yet.
    let get = json!({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": "tester"}});
    assert_eq!(
        error(c, get.clone()),
        "failed to read '/home/tester/.ssh/authorized_keys': Failed to open file \
         \u{201c}/home/tester/.ssh/authorized_keys\u{201d}: No such file or directory"
    );
    let keys = |command: &str, keys: Value| json!({"execute": command, "arguments": {"username": "tester", "keys": keys}});
    // As libvirt sends them: a trailing empty key.
    assert_eq!(
        ret(
            c,
            keys(
                "guest-ssh-add-authorized-keys",
                json!(["ssh-ed25519 AAAAC3Nza k1@host", "ssh-rsa AAAAB3Nza k2@host", ""])
            )
        ),
        json!({})
    );
    assert_eq!(
        read_file(c, "/home/tester/.ssh/authorized_keys"),
        "ssh-ed25519 AAAAC3Nza k1@host\nssh-rsa AAAAB3Nza k2@host\n"
    );
    assert_eq!(
        ret(c, get.clone()),
        json!({"keys": ["ssh-rsa AAAAB3Nza k2@host", "ssh-ed25519 AAAAC3Nza k1@host"]})
    );
    assert_eq!(
        ret(
            c,
            keys(
                "guest-ssh-remove-authorized-keys",
                json!(["ssh-ed25519 AAAAC3Nza k1@host"])
            )
        ),
        json!({})
    );
    assert_eq!(
        ret(c, get.clone()),
        json!({"keys": ["ssh-rsa AAAAB3Nza k2@host"]})
    );
    assert_eq!(
        error(c, keys("guest-ssh-add-authorized-keys", json!(["# not a key"]))),
        "invalid OpenSSH public key: '# not a key'"
    );
    assert_eq!(
        error(
            c,
            json!({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": "nosuchuser"}})
        ),
        "failed to lookup user 'nosuchuser': Success"
    );
}
