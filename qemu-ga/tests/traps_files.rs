//! `guest-file-open` against the traps a guest's unprivileged users can
//! set (issue #10): each test makes a sticky world-writable directory
//! (1777, root's, as `/tmp`) under a root directory the user can traverse,
//! sets a trap there AS a real unprivileged user ([`GuestUser`]), and asks
//! the real agent (root) to write through it. Nothing root owns may change,
//! nothing may be written where the user could read it, and the agent must
//! keep serving. Needs root (as CI runs); skipped with a notice otherwise.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use qga_commands::testing::GuestUser;
use serde_json::{json, Value};

use crate::util::{b64, call_within, ret, unb64, Agent, Client};

/// Every write mode, in each of its spellings.
const WRITE_MODES: [&str; 13] = [
    "w", "wb", "a", "ab", "r+", "rb+", "r+b", "w+", "wb+", "w+b", "a+", "ab+", "a+b",
];

/// The reason for a link in the last place of a sticky directory.
const LAST_LINK: &str =
    "Permission denied: a symbolic link in a sticky world-writable directory is not followed for writing";

/// A root directory (0755) holding a sticky world-writable `sticky` and a
/// `victims` directory of root's files, and a user to set the traps.
struct Scene {
    base: tempfile::TempDir,
    user: GuestUser,
}

impl Scene {
    fn new(tag: &str) -> Option<Scene> {
        let user = GuestUser::new(tag)?;
        let base = tempfile::Builder::new().prefix("qga-traps-").tempdir().unwrap();
        chmod(base.path(), 0o755);
        let scene = Scene { base, user };
        std::fs::create_dir(scene.sticky()).unwrap();
        chmod(&scene.sticky(), 0o1777);
        std::fs::create_dir(scene.victims()).unwrap();
        chmod(&scene.victims(), 0o755);
        Some(scene)
    }
    fn sticky(&self) -> PathBuf {
        self.base.path().join("sticky")
    }
    fn victims(&self) -> PathBuf {
        self.base.path().join("victims")
    }
    /// A file of root's in `victims`, 0640 (so the user cannot read it).
    fn victim(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.victims().join(name);
        std::fs::write(&path, data).unwrap();
        chmod(&path, 0o640);
        path
    }
    /// Runs `script` as the user in the sticky directory.
    fn as_user(&self, script: &str) {
        self.user
            .sh(&format!("cd '{}' && {script}", self.sticky().display()));
    }
}

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn s(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

/// A victim's bytes, permissions and owner.
fn snapshot(path: &Path) -> (Vec<u8>, u32, u32) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    (std::fs::read(path).unwrap(), meta.mode() & 0o7777, meta.uid())
}

/// `guest-file-open`: the handle, or the error's text.
#[track_caller]
fn open(c: &mut Client, path: &Path, mode: &str) -> Result<i64, String> {
    let reply = call_within(
        c,
        &json!({"execute": "guest-file-open", "arguments": {"path": s(path), "mode": mode}}),
        Duration::from_secs(5),
    );
    match (reply.get("return"), reply["error"]["desc"].as_str()) {
        (Some(Value::Number(h)), _) => Ok(h.as_i64().unwrap()),
        (_, Some(desc)) => Err(desc.to_string()),
        _ => panic!("odd reply {reply}"),
    }
}

/// The error `guest-file-open` gives; panics if it opens (after writing
/// and closing, so a test that should fail shows what it clobbered).
#[track_caller]
fn refused(c: &mut Client, path: &Path, mode: &str) -> String {
    match open(c, path, mode) {
        Err(desc) => desc,
        Ok(h) => {
            let _ = write(c, h, b"CLOBBERED");
            close(c, h);
            panic!("{} opened for '{mode}'", path.display());
        }
    }
}

fn write(c: &mut Client, h: i64, data: &[u8]) -> Value {
    call_within(
        c,
        &json!({"execute": "guest-file-write", "arguments": {"handle": h, "buf-b64": b64(data)}}),
        Duration::from_secs(5),
    )
}

fn read(c: &mut Client, h: i64) -> Vec<u8> {
    let r = ret(
        c,
        json!({"execute": "guest-file-read", "arguments": {"handle": h, "count": 65536}}),
    );
    unb64(r["buf-b64"].as_str().unwrap())
}

fn close(c: &mut Client, h: i64) {
    ret(
        c,
        json!({"execute": "guest-file-close", "arguments": {"handle": h}}),
    );
}

/// Opens `path` with `mode`, writes `data` and closes it.
#[track_caller]
fn write_file(c: &mut Client, path: &Path, mode: &str, data: &[u8]) {
    let h = open(c, path, mode).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(write(c, h, data).get("return").is_some());
    close(c, h);
}

/// What `path` reads as through the agent in mode `r`.
#[track_caller]
fn read_file(c: &mut Client, path: &Path) -> Vec<u8> {
    let h = open(c, path, "r").unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let data = read(c, h);
    close(c, h);
    data
}

fn prefix(path: &Path, mode: &str) -> String {
    format!("failed to open file '{}' (mode: '{mode}'): ", path.display())
}

#[test]
fn a_users_link_to_a_root_file_is_not_written_through() {
    let Some(scene) = Scene::new("lnlast") else {
        return;
    };
    let victim = scene.victim("shadow", b"root:secret");
    let before = snapshot(&victim);
    scene.as_user(&format!("ln -s '{}' link", victim.display()));
    // Also one to a file that does not exist yet: nothing is created there.
    scene.as_user(&format!("ln -s '{}/new' dangling", scene.victims().display()));
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let link = scene.sticky().join("link");
    for mode in WRITE_MODES {
        assert_eq!(
            refused(&mut c, &link, mode),
            format!("{}{LAST_LINK}", prefix(&link, mode))
        );
        let dangling = scene.sticky().join("dangling");
        assert_eq!(
            refused(&mut c, &dangling, mode),
            format!("{}{LAST_LINK}", prefix(&dangling, mode))
        );
    }
    assert_eq!(snapshot(&victim), before);
    assert!(!scene.victims().join("new").exists());
    // Reading through the same link works: the host is root already.
    assert_eq!(read_file(&mut c, &link), b"root:secret");
    c.assert_alive(1);
}

#[test]
fn a_users_own_file_is_read_but_not_written() {
    let Some(scene) = Scene::new("own") else {
        return;
    };
    scene.as_user("printf 'their bytes' > f && chmod 666 f");
    let path = scene.sticky().join("f");
    let before = snapshot(&path);
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for mode in WRITE_MODES {
        assert_eq!(
            refused(&mut c, &path, mode),
            format!(
                "{}Permission denied: a regular file owned by uid {}, neither root nor the directory's \
                 owner, in a sticky world-writable directory",
                prefix(&path, mode),
                scene.user.uid()
            )
        );
    }
    assert_eq!(snapshot(&path), before, "not truncated, not written");
    assert_eq!(read_file(&mut c, &path), b"their bytes");
    c.assert_alive(2);
}

#[test]
fn a_users_fifo_neither_hangs_nor_opens() {
    let Some(scene) = Scene::new("fifo") else {
        return;
    };
    scene.as_user("mkfifo fifo && chmod 666 fifo");
    let fifo = scene.sticky().join("fifo");
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let refusal = |mode: &str| {
        format!(
            "{}Permission denied: a FIFO owned by uid {}, neither root nor the directory's owner, in a \
             sticky world-writable directory",
            prefix(&fifo, mode),
            scene.user.uid()
        )
    };
    // Nobody reads it: a blocking open for writing would hang.
    for mode in WRITE_MODES {
        let started = Instant::now();
        assert_eq!(refused(&mut c, &fifo, mode), refusal(mode));
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{mode} took {:?}",
            started.elapsed()
        );
    }
    // The user holds it open, so an open for writing would succeed.
    scene.as_user("(exec 3<>fifo; touch holding; sleep 60) >/dev/null 2>&1 </dev/null &");
    assert!(crate::util::wait_until(Duration::from_secs(5), || scene
        .sticky()
        .join("holding")
        .exists()));
    for mode in WRITE_MODES {
        assert_eq!(refused(&mut c, &fifo, mode), refusal(mode));
    }
    c.assert_alive(3);
}

#[test]
fn a_hard_link_to_a_root_file_is_refused() {
    let Some(scene) = Scene::new("hard") else {
        return;
    };
    let victim = scene.victim("passwd", b"root:x:0:0");
    // Made as root: with fs.protected_hardlinks the user could not; a
    // guest without it lets the user.
    let hard = scene.sticky().join("hard");
    std::fs::hard_link(&victim, &hard).unwrap();
    let before = snapshot(&victim);
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for mode in WRITE_MODES {
        assert_eq!(
            refused(&mut c, &hard, mode),
            format!(
                "{}Permission denied: a file with 2 hard links in a sticky world-writable directory is not \
                 opened for writing",
                prefix(&hard, mode)
            )
        );
    }
    assert_eq!(snapshot(&victim), before);
    c.assert_alive(4);
}

#[test]
fn a_users_link_on_the_way_is_not_followed_for_writing() {
    let Some(scene) = Scene::new("lnmid") else {
        return;
    };
    let victim = scene.victim("passwd", b"root:x:0:0");
    let before = snapshot(&victim);
    scene.as_user(&format!("ln -s '{}' evil", scene.victims().display()));
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    let evil = scene.sticky().join("evil");
    let reason = format!(
        "Permission denied: the symbolic link 'evil' in a sticky world-writable directory is owned by uid {}, \
         neither root nor the directory's owner, and is not followed for writing",
        scene.user.uid()
    );
    for mode in WRITE_MODES {
        for path in [
            evil.join("passwd"),
            evil.join("new"),
            evil.join("../victims/passwd"),
        ] {
            assert_eq!(
                refused(&mut c, &path, mode),
                format!("{}{reason}", prefix(&path, mode))
            );
        }
    }
    assert_eq!(snapshot(&victim), before);
    assert!(!scene.victims().join("new").exists());
    // Reads follow it.
    assert_eq!(read_file(&mut c, &evil.join("passwd")), b"root:x:0:0");
    c.assert_alive(5);
}

#[test]
fn roots_link_in_a_sticky_directory_is_followed_on_the_way() {
    let Some(scene) = Scene::new("lnroot") else {
        return;
    };
    // The kernel's rule: a link there that root owns is followed.
    let link = scene.sticky().join("logs");
    std::os::unix::fs::symlink(scene.victims(), &link).unwrap();
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    write_file(&mut c, &link.join("app.log"), "a", b"line\n");
    write_file(&mut c, &link.join("app.log"), "a", b"line\n");
    let (data, mode, uid) = snapshot(&scene.victims().join("app.log"));
    assert_eq!((data.as_slice(), mode, uid), (&b"line\nline\n"[..], 0o644, 0));
    // In the last place even root's link is not followed there (stricter
    // than the kernel): a write in a sticky directory lands in it.
    let last = scene.sticky().join("log");
    std::os::unix::fs::symlink(scene.victims().join("app.log"), &last).unwrap();
    for mode in WRITE_MODES {
        assert_eq!(
            refused(&mut c, &last, mode),
            format!("{}{LAST_LINK}", prefix(&last, mode))
        );
    }
    assert_eq!(
        std::fs::read(scene.victims().join("app.log")).unwrap(),
        b"line\nline\n"
    );
    c.assert_alive(6);
}

#[test]
fn new_files_in_a_sticky_directory_are_0644_and_roots() {
    let Some(scene) = Scene::new("new") else {
        return;
    };
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    for (i, mode) in ["w", "a", "w+", "a+"].iter().enumerate() {
        let path = scene.sticky().join(format!("new{i}"));
        write_file(&mut c, &path, mode, b"hello");
        assert_eq!(snapshot(&path), (b"hello".to_vec(), 0o644, 0), "{mode}");
        // Root's own file there opens again, truncated by w.
        write_file(&mut c, &path, "w", b"bye");
        assert_eq!(snapshot(&path), (b"bye".to_vec(), 0o644, 0), "{mode}");
    }
    // The user cannot write to it.
    assert!(!scene
        .user
        .try_sh(&format!("echo x >> '{}/new0'", scene.sticky().display())));
    c.assert_alive(7);
}

#[test]
fn file_create_mode_sets_new_files_permissions() {
    let Some(scene) = Scene::new("cmode") else {
        return;
    };
    let agent = Agent::start(&["--file-create-mode=0600"]);
    let mut c = agent.connect();
    let path = scene.sticky().join("private");
    write_file(&mut c, &path, "w", b"secret");
    assert_eq!(snapshot(&path), (b"secret".to_vec(), 0o600, 0));
    assert!(!scene.user.try_sh(&format!("cat '{}'", path.display())));
    // Relative to the agent's directory too, as QEMU's agent.
    write_file(&mut c, Path::new("relative"), "a", b"x");
    assert_eq!(snapshot(&agent.dir().join("relative")).1, 0o600);
    c.assert_alive(8);
}

#[test]
fn links_in_ordinary_directories_are_written_through() {
    let Some(scene) = Scene::new("plain") else {
        return;
    };
    // Root's directory, not sticky: links there are followed, on the way
    // and in the last place, as the kernel follows them.
    let plain = scene.base.path().join("plain");
    std::fs::create_dir(&plain).unwrap();
    let target = scene.victim("config", b"old");
    std::os::unix::fs::symlink("../victims/config", plain.join("config")).unwrap();
    std::os::unix::fs::symlink(scene.victims(), plain.join("dir")).unwrap();
    std::os::unix::fs::symlink("config", plain.join("chain")).unwrap();
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    write_file(&mut c, &plain.join("config"), "w", b"new");
    assert_eq!(snapshot(&target), (b"new".to_vec(), 0o640, 0));
    write_file(&mut c, &plain.join("chain"), "a", b"+");
    write_file(&mut c, &plain.join("dir/config"), "r+", b"N");
    assert_eq!(std::fs::read(&target).unwrap(), b"New+");
    write_file(&mut c, &plain.join("dir/made"), "w", b"made");
    assert_eq!(
        snapshot(&scene.victims().join("made")),
        (b"made".to_vec(), 0o644, 0)
    );
    c.assert_alive(9);
}

#[test]
fn symlink_chains_still_read() {
    let Some(scene) = Scene::new("reads") else {
        return;
    };
    // As /etc/resolv.conf -> ../run/systemd/resolve/stub-resolv.conf, with
    // a user's link in the sticky directory on the way.
    let base = scene.base.path();
    std::fs::create_dir_all(base.join("run/resolve")).unwrap();
    std::fs::create_dir(base.join("etc")).unwrap();
    std::fs::write(
        base.join("run/resolve/stub-resolv.conf"),
        b"nameserver 127.0.0.53\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("../run/resolve/stub-resolv.conf", base.join("etc/resolv.conf")).unwrap();
    scene.as_user(&format!("ln -s '{}' etc", base.join("etc").display()));
    let agent = Agent::start(&[]);
    let mut c = agent.connect();
    assert_eq!(
        read_file(&mut c, &base.join("etc/resolv.conf")),
        b"nameserver 127.0.0.53\n"
    );
    assert_eq!(
        read_file(&mut c, &scene.sticky().join("etc/resolv.conf")),
        b"nameserver 127.0.0.53\n"
    );
    // The machine's own, whatever it links to.
    if let Ok(data) = std::fs::read("/etc/resolv.conf") {
        assert_eq!(read_file(&mut c, Path::new("/etc/resolv.conf")), data);
    }
    c.assert_alive(10);
}

/// Outside sticky directories the walk fails as the kernel's open does:
/// the same replies as QEMU's agent for every kind of turn, byte for byte.
#[test]
fn write_opens_outside_sticky_directories_match_qemu() {
    let tree = tempfile::Builder::new().prefix("qga-walk-").tempdir().unwrap();
    let t = tree.path();
    std::fs::create_dir(t.join("d")).unwrap();
    std::fs::write(t.join("f"), b"data").unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        t.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let link = |name: &str, target: &str| std::os::unix::fs::symlink(target, t.join(name)).unwrap();
    link("loop", "loop");
    link("dangling", "nothing");
    link("to-d", "d");
    link("to-d-slash", "d/");
    link("to-f", "f");
    link("up", "d/../f");
    link("abs", &s(&t.join("f")));
    link("l0", "f");
    for i in 1..=41 {
        link(&format!("l{i}"), &format!("l{}", i - 1));
    }
    let long = "n".repeat(256);
    let paths = [
        "d",
        "d/",
        "d/.",
        "d/..",
        "f/",
        "f/x",
        "nodir/x",
        "loop",
        "loop/x",
        "dangling",
        "to-d",
        "to-d/f",
        "to-d-slash",
        "to-f",
        "up",
        "abs",
        "l40",
        "l41",
        "fifo",
        &long,
    ];
    let mut cases = Vec::new();
    for mode in ["w", "a", "r+", "w+", "a+"] {
        for path in paths {
            let path = s(&t.join(path));
            cases.push(crate::differential::req(
                "guest-file-open",
                &json!({"path": path, "mode": mode}).to_string(),
            ));
        }
        cases.push(crate::differential::req(
            "guest-file-open",
            &json!({"path": "", "mode": mode}).to_string(),
        ));
    }
    crate::differential::compare(&[], &cases);
    // Nothing was created through the dangling link.
    assert!(!t.join("nothing").exists());
}
