//! Traps a guest user sets for the SSH key commands
//! (guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys,
//! guest-ssh-remove-authorized-keys), through the agent binary running as
//! root.
//!
//! Each test makes a real unprivileged user ([`GuestUser`], root only;
//! skipped otherwise, failed under `CI`), sets the trap as that user
//! (links, FIFOs, directories, big files; a hard link is made by root, as
//! `protected_hardlinks` may forbid the user), then calls the commands and
//! checks: the reply is the refusal expected; nothing of the victim (a
//! root-only file the test makes, or another user's keys) is in the reply
//! or in any file of the user's home; the victim's bytes, mode and owner
//! are unchanged; the agent still answers.
//!
//! The ordinary cases are also compared with Debian's `qemu-ga`, which
//! then writes only in the test user's home.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qga_commands::testing::GuestUser;
use serde_json::{json, Value};

use crate::differential::{debian, exchange};
use crate::util::{call, ret, show_short, Agent, Client};

/// The secret of a trap that has none: text found nowhere.
const NO_SECRET: &str = "QGA-NO-SECRET-HERE";

fn get(user: &GuestUser) -> Value {
    json!({"execute": "guest-ssh-get-authorized-keys", "arguments": {"username": user.name()}})
}

fn add(user: &GuestUser, keys: &[&str], reset: bool) -> Value {
    json!({"execute": "guest-ssh-add-authorized-keys",
           "arguments": {"username": user.name(), "keys": keys, "reset": reset}})
}

fn remove(user: &GuestUser, keys: &[&str]) -> Value {
    json!({"execute": "guest-ssh-remove-authorized-keys",
           "arguments": {"username": user.name(), "keys": keys}})
}

fn ssh_dir(user: &GuestUser) -> PathBuf {
    user.home().join(".ssh")
}

fn keys_file(user: &GuestUser) -> PathBuf {
    ssh_dir(user).join("authorized_keys")
}

/// `cannot use 'PATH': WHY`, the reply to a trap.
fn refused(path: &Path, why: &str) -> String {
    format!("cannot use '{}': {why}", path.display())
}

/// What a file is: its bytes (a regular file's), type, mode, owner and
/// link count.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Snapshot {
    bytes: Option<Vec<u8>>,
    kind: &'static str,
    mode: u32,
    owner: (u32, u32),
    nlink: u64,
}

/// A file type in a word.
fn kind(t: &std::fs::FileType) -> &'static str {
    if t.is_symlink() {
        "symbolic link"
    } else if t.is_dir() {
        "directory"
    } else if t.is_file() {
        "file"
    } else if t.is_fifo() {
        "fifo"
    } else {
        "other"
    }
}

impl Snapshot {
    fn of(path: &Path) -> Snapshot {
        let meta = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        Snapshot {
            bytes: meta.is_file().then(|| std::fs::read(path).unwrap()),
            kind: kind(&meta.file_type()),
            mode: meta.permissions().mode() & 0o7777,
            owner: (meta.uid(), meta.gid()),
            nlink: meta.nlink(),
        }
    }
}

/// A file only root may read, holding a marker no other file holds: what a
/// trap would make the agent leak or clobber. Its directory (root's, 0700)
/// is beside the home directories, on their filesystem.
struct Victim {
    dir: tempfile::TempDir,
    marker: String,
    before: Snapshot,
}

impl Victim {
    fn new(user: &GuestUser) -> Victim {
        let beside = user.home().parent().unwrap();
        let dir = tempfile::Builder::new()
            .prefix("qga-victim-")
            .tempdir_in(beside)
            .unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let marker = format!("QGA-VICTIM-SECRET-{}", dir.path().display());
        let file = dir.path().join("authorized_keys");
        std::fs::write(&file, format!("root:{marker}:19000:0:99999:7:::\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let before = Snapshot::of(&file);
        Victim { dir, marker, before }
    }

    fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn file(&self) -> PathBuf {
        self.dir.path().join("authorized_keys")
    }

    /// Its bytes, mode and owner are as made (`nlink`: the count
    /// expected now), and its directory holds nothing else.
    #[track_caller]
    fn assert_untouched(&self, nlink: u64) {
        let now = Snapshot::of(&self.file());
        assert_eq!(
            now,
            Snapshot {
                nlink,
                ..self.before.clone()
            }
        );
        let names: Vec<_> = std::fs::read_dir(self.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["authorized_keys"], "files appeared beside the victim");
    }
}

/// A reply made readable, cut to 2000 characters.
fn short(reply: &Value) -> String {
    show_short(reply.to_string().as_bytes(), 2000)
}

/// Every regular file under `dir` (links not followed), but those in
/// `skip` (device and inode).
fn files_under(dir: &Path, skip: &[(u64, u64)], found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            files_under(&path, skip, found);
        } else if meta.is_file() && !skip.contains(&(meta.dev(), meta.ino())) {
            found.push(path);
        }
    }
}

/// `secret` is not in `reply`, nor in any file of `user`'s home (but the
/// victim's own inode, `victim`, when the trap is a hard link to it), nor
/// in anything the user can read there.
#[track_caller]
fn assert_not_leaked(user: &GuestUser, secret: &str, victim: Option<&Path>, reply: &Value) {
    assert!(
        !reply.to_string().contains(secret),
        "the reply leaks the victim: {}",
        short(reply)
    );
    let skip: Vec<(u64, u64)> = victim
        .map(|v| std::fs::metadata(v).unwrap())
        .map(|m| (m.dev(), m.ino()))
        .into_iter()
        .collect();
    let mut files = Vec::new();
    files_under(user.home(), &skip, &mut files);
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the victim's text: {}",
            file.display(),
            show_short(&bytes, 2000)
        );
    }
    assert!(
        user.try_sh(&format!("! grep -r -D skip -q -s -F -e '{secret}' .")),
        "the user can read the victim's text"
    );
}

/// Sends `request`, expects the error `want` within the reply time-out,
/// and checks nothing of `secret` leaked.
#[track_caller]
fn expect_refused(
    c: &mut Client,
    user: &GuestUser,
    request: Value,
    want: &str,
    secret: &str,
    victim: Option<&Path>,
) {
    let reply = call(c, &request);
    assert!(
        reply["error"]["desc"].as_str() == Some(want),
        "reply to {request}:\n  expected: {want}\n    actual: {}",
        short(&reply)
    );
    assert_not_leaked(user, secret, victim, &reply);
}

#[test]
fn traps_ssh_normal_use_makes_the_users_files() {
    let Some(user) = GuestUser::new("sshok") else {
        return;
    };
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    assert_eq!(
        call(&mut c, &get(&user))["error"]["desc"],
        format!(
            "failed to read '{0}': Failed to open file \u{201c}{0}\u{201d}: No such file or directory",
            keys_file(&user).display()
        )
    );
    assert_eq!(ret(&mut c, remove(&user, &["k1"])), json!({}));
    assert!(!ssh_dir(&user).exists());

    assert_eq!(
        ret(
            &mut c,
            add(&user, &["ssh-ed25519 AAAA k1", "ssh-rsa BBBB k2", ""], false)
        ),
        json!({})
    );
    let dir = Snapshot::of(&ssh_dir(&user));
    assert_eq!(
        (dir.kind, dir.mode, dir.owner),
        ("directory", 0o700, (user.uid(), user.gid()))
    );
    let file = Snapshot::of(&keys_file(&user));
    assert_eq!(
        file.bytes.as_deref(),
        Some(&b"ssh-ed25519 AAAA k1\nssh-rsa BBBB k2\n"[..])
    );
    assert_eq!(
        (file.kind, file.mode, file.owner, file.nlink),
        ("file", 0o600, (user.uid(), user.gid()), 1)
    );
    assert_eq!(
        ret(&mut c, get(&user)),
        json!({"keys": ["ssh-rsa BBBB k2", "ssh-ed25519 AAAA k1"]})
    );

    assert_eq!(ret(&mut c, remove(&user, &["ssh-ed25519 AAAA k1"])), json!({}));
    assert_eq!(ret(&mut c, get(&user)), json!({"keys": ["ssh-rsa BBBB k2"]}));
    assert_eq!(ret(&mut c, add(&user, &["ssh-ed25519 CCCC k3"], true)), json!({}));
    assert_eq!(
        std::fs::read_to_string(keys_file(&user)).unwrap(),
        "ssh-ed25519 CCCC k3"
    );
    // Nothing but the file in the directory, and the user can still edit it.
    let names: Vec<_> = std::fs::read_dir(ssh_dir(&user))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["authorized_keys"]);
    user.sh("printf '\\nssh-ed25519 DDDD k4\\n' >> .ssh/authorized_keys");
    assert_eq!(
        ret(&mut c, get(&user)),
        json!({"keys": ["ssh-ed25519 DDDD k4", "ssh-ed25519 CCCC k3"]})
    );
    c.assert_alive(1);
}

/// The state of `~/.ssh` to compare between agents: each entry's name and
/// snapshot.
fn ssh_state(user: &GuestUser) -> Vec<(String, Snapshot)> {
    let dir = ssh_dir(user);
    let Ok(meta) = std::fs::symlink_metadata(&dir) else {
        return Vec::new();
    };
    let mut state = vec![(".ssh".to_string(), Snapshot::of(&dir))];
    if meta.is_dir() {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        state.extend(names.into_iter().map(|n| {
            let snapshot = Snapshot::of(&dir.join(&n));
            (n, snapshot)
        }));
    }
    state
}

#[test]
fn traps_ssh_ordinary_cases_match_qemu() {
    let Some(user) = GuestUser::new("sshqemu") else {
        return;
    };
    let Some(debian) = debian() else { return };
    let theirs = Agent::start_program(debian, &[]);
    let ours = Agent::start(&[]);
    let text = |v: Value| v.to_string().into_bytes();
    let requests = [
        text(get(&user)),
        text(remove(&user, &["k1"])),
        text(add(&user, &["k1", "k2", ""], false)),
        text(get(&user)),
        text(add(&user, &["k2", "k3"], false)),
        text(remove(&user, &["k1", ""])),
        text(get(&user)),
        text(add(&user, &["k4"], true)),
        text(get(&user)),
    ];
    // As the user, before the requests: no .ssh, a file named .ssh, an
    // empty .ssh of their own, a keys file of their own (0644, comments,
    // no final newline).
    let setups = [
        "true",
        "touch .ssh",
        "mkdir -m 755 .ssh",
        "mkdir .ssh && printf 'k1\\n# comment\\n  k5  \\nk1' > .ssh/authorized_keys && chmod 644 .ssh/authorized_keys",
    ];
    let mut differences = Vec::new();
    for (base, setup) in (0..).zip(setups) {
        let run = |agent: &Agent| {
            user.sh(&format!("rm -rf .ssh && {setup}"));
            let replies: Vec<String> = (0..)
                .zip(&requests)
                .map(|(i, request)| {
                    let reply = exchange(agent, request, 800_000 + 100 * base + i);
                    String::from_utf8_lossy(&reply).into_owned()
                })
                .collect();
            (replies, ssh_state(&user))
        };
        let (qemu, qemu_state) = run(&theirs);
        let (mine, my_state) = run(&ours);
        for ((request, qemu), mine) in requests.iter().zip(qemu).zip(mine) {
            if qemu != mine {
                let request = String::from_utf8_lossy(request);
                differences.push(format!(
                    "after `{setup}`, {request}\n  qemu: {qemu}  ours: {mine}"
                ));
            }
        }
        if qemu_state != my_state {
            differences.push(format!(
                "after `{setup}`, ~/.ssh\n  qemu: {qemu_state:?}\n  ours: {my_state:?}"
            ));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn traps_ssh_link_to_a_root_file() {
    let Some(user) = GuestUser::new("sshlink") else {
        return;
    };
    let victim = Victim::new(&user);
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let secret = victim.marker.clone();
    user.sh(&format!(
        "mkdir -m 700 .ssh && ln -s '{}' .ssh/authorized_keys",
        victim.file().display()
    ));
    let want = refused(&keys_file(&user), "a symbolic link");
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["k"])] {
        expect_refused(&mut c, &user, request, &want, &secret, None);
    }
    assert!(std::fs::symlink_metadata(keys_file(&user)).unwrap().is_symlink());
    victim.assert_untouched(1);
    // `reset` reads nothing: the link is replaced, its target untouched.
    let reply = call(&mut c, &add(&user, &["ssh-ed25519 AAAA new"], true));
    assert_eq!(reply, json!({"return": {}}));
    let file = Snapshot::of(&keys_file(&user));
    assert_eq!(file.bytes.as_deref(), Some(&b"ssh-ed25519 AAAA new"[..]));
    assert_eq!((file.mode, file.owner), (0o600, (user.uid(), user.gid())));
    assert_not_leaked(&user, &secret, None, &reply);
    victim.assert_untouched(1);
    c.assert_alive(2);
}

#[test]
fn traps_ssh_link_as_the_ssh_directory() {
    let Some(user) = GuestUser::new("sshdir") else {
        return;
    };
    let Some(other) = GuestUser::new("sshvict") else {
        return;
    };
    let victim = Victim::new(&user);
    other.sh("mkdir -m 700 .ssh && echo 'ssh-ed25519 OTHERSKEY other@host' > .ssh/authorized_keys");
    let others = keys_file(&other);
    let others_before = Snapshot::of(&others);
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let cases = [
        (ssh_dir(&other), "OTHERSKEY".to_string()),
        (victim.dir().to_path_buf(), victim.marker.clone()),
    ];
    for (target, secret) in cases {
        user.sh(&format!("rm -rf .ssh && ln -s '{}' .ssh", target.display()));
        let want = refused(&ssh_dir(&user), "a symbolic link");
        for request in [
            get(&user),
            add(&user, &["k"], false),
            add(&user, &["k"], true),
            remove(&user, &["ssh-ed25519 OTHERSKEY other@host"]),
        ] {
            expect_refused(&mut c, &user, request, &want, &secret, None);
        }
        assert!(std::fs::symlink_metadata(ssh_dir(&user)).unwrap().is_symlink());
    }
    assert_eq!(Snapshot::of(&others), others_before);
    let names: Vec<_> = std::fs::read_dir(ssh_dir(&other))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        names,
        ["authorized_keys"],
        "files appeared in the other user's .ssh"
    );
    victim.assert_untouched(1);
    c.assert_alive(3);
}

#[test]
fn traps_ssh_fifo_does_not_hang() {
    let Some(user) = GuestUser::new("sshfifo") else {
        return;
    };
    user.sh("mkdir -m 700 .ssh && mkfifo .ssh/authorized_keys");
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let want = refused(&keys_file(&user), "not a regular file");
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["k"])] {
        let started = Instant::now();
        expect_refused(&mut c, &user, request, &want, NO_SECRET, None);
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
    let meta = std::fs::symlink_metadata(keys_file(&user)).unwrap();
    assert!(meta.file_type().is_fifo());
    c.assert_alive(4);
}

#[test]
fn traps_ssh_hard_link_to_a_root_file() {
    let Some(user) = GuestUser::new("sshhard") else {
        return;
    };
    let victim = Victim::new(&user);
    user.sh("mkdir -m 700 .ssh");
    std::fs::hard_link(victim.file(), keys_file(&user)).unwrap();
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let want = refused(&keys_file(&user), "has 2 hard links");
    let file = victim.file();
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["k"])] {
        expect_refused(&mut c, &user, request, &want, &victim.marker, Some(&file));
    }
    victim.assert_untouched(2);
    // `reset` replaces the name only.
    let reply = call(&mut c, &add(&user, &["ssh-ed25519 AAAA new"], true));
    assert_eq!(reply, json!({"return": {}}));
    assert_eq!(
        std::fs::read_to_string(keys_file(&user)).unwrap(),
        "ssh-ed25519 AAAA new"
    );
    assert_not_leaked(&user, &victim.marker, None, &reply);
    victim.assert_untouched(1);
    c.assert_alive(5);
}

#[test]
fn traps_ssh_file_over_1_mib() {
    let Some(user) = GuestUser::new("sshbig") else {
        return;
    };
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // 1 MiB exactly is read.
    user.sh("mkdir -m 700 .ssh && head -c 1048576 /dev/zero | tr '\\0' a > .ssh/authorized_keys");
    let keys = ret(&mut c, get(&user));
    assert_eq!(keys["keys"][0].as_str().map(str::len), Some(1 << 20));
    user.sh("echo b >> .ssh/authorized_keys");
    let before = Snapshot::of(&keys_file(&user));
    let want = refused(
        &keys_file(&user),
        "larger than 1048576 bytes (1 MiB), the most read",
    );
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["b"])] {
        expect_refused(&mut c, &user, request, &want, NO_SECRET, None);
    }
    assert_eq!(Snapshot::of(&keys_file(&user)), before);
    c.assert_alive(6);
}

#[test]
fn traps_ssh_directory_as_the_file() {
    let Some(user) = GuestUser::new("sshisdir") else {
        return;
    };
    user.sh("mkdir -p .ssh/authorized_keys && echo inside > .ssh/authorized_keys/f");
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let want = refused(&keys_file(&user), "not a regular file");
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["k"])] {
        expect_refused(&mut c, &user, request, &want, NO_SECRET, None);
    }
    assert_eq!(
        std::fs::read_to_string(keys_file(&user).join("f")).unwrap(),
        "inside\n"
    );
    let names: Vec<_> = std::fs::read_dir(ssh_dir(&user))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["authorized_keys"]);
    c.assert_alive(7);
}

#[test]
fn traps_ssh_file_of_another_user() {
    let Some(user) = GuestUser::new("sshown") else {
        return;
    };
    let Some(other) = GuestUser::new("sshown2") else {
        return;
    };
    user.sh("mkdir -m 755 .ssh");
    // Made by root for the test: a user cannot give a file away.
    std::fs::write(keys_file(&user), "ssh-ed25519 OTHERSKEY other@host\n").unwrap();
    std::os::unix::fs::chown(keys_file(&user), Some(other.uid()), Some(other.gid())).unwrap();
    std::fs::set_permissions(keys_file(&user), std::fs::Permissions::from_mode(0o600)).unwrap();
    let before = Snapshot::of(&keys_file(&user));
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let want = refused(
        &keys_file(&user),
        &format!("owned by uid {}, neither the user nor root", other.uid()),
    );
    for request in [get(&user), add(&user, &["k"], false), remove(&user, &["k"])] {
        expect_refused(
            &mut c,
            &user,
            request,
            &want,
            "OTHERSKEY",
            Some(&keys_file(&user)),
        );
    }
    assert_eq!(Snapshot::of(&keys_file(&user)), before);
    c.assert_alive(8);
}

#[test]
fn traps_ssh_racing_links_never_leak() {
    let Some(user) = GuestUser::new("sshrace") else {
        return;
    };
    let victim = Victim::new(&user);
    user.sh("mkdir -m 700 .ssh && echo 'ssh-ed25519 AAAA mine' > .ssh/authorized_keys");
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    // The user swaps, by rename, the file with a link to the victim and
    // `.ssh` with a link to the victim's directory, as fast as a shell can.
    // When the agent makes a new `.ssh` while the user's is moved away,
    // the user keeps the agent's and goes on.
    let script = format!(
        "exec 2>/dev/null; for i in $(seq 300); do \
           ln -sfn '{file}' .ssh/l; mv -T .ssh/l .ssh/authorized_keys; \
           echo 'ssh-ed25519 AAAA mine' > .ssh/r; mv -T .ssh/r .ssh/authorized_keys; \
           ln -sfn '{dir}' l; mv -T .ssh s && mv -T l .ssh; rm -f .ssh l; \
           if [ -e .ssh ]; then rm -rf s; else mv -T s .ssh; fi; \
         done",
        file = victim.file().display(),
        dir = victim.dir().display(),
    );
    let (calls, tally) = std::thread::scope(|scope| {
        let racer = scope.spawn(|| user.try_sh(&script));
        let mut tally = std::collections::BTreeMap::<String, u32>::new();
        let mut rounds = 0;
        while !racer.is_finished() {
            rounds += 1;
            for request in [
                get(&user),
                add(&user, &["ssh-ed25519 BBBB host"], rounds % 2 == 0),
            ] {
                let reply = call(&mut c, &request);
                assert!(
                    !reply.to_string().contains(&victim.marker),
                    "leaked: {}",
                    short(&reply)
                );
                let outcome = match reply["error"]["desc"].as_str() {
                    Some(desc) => desc.rsplit(": ").next().unwrap_or(desc).to_string(),
                    None => "success".to_string(),
                };
                *tally.entry(outcome).or_default() += 1;
            }
        }
        let _ = racer.join();
        (2 * rounds, tally)
    });
    eprintln!("{calls} calls raced the user: {tally:?}");
    assert!(calls > 10, "only {calls} calls raced");
    assert_not_leaked(&user, &victim.marker, None, &json!(null));
    victim.assert_untouched(1);
    c.assert_alive(9);
}
