use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::Mode;

use super::*;

/// A fake system: a password file naming `alice` (home in a temp dir,
/// no `.ssh` yet) and the ids the files must end up owned by: another
/// user's when running as root, ours otherwise.
struct Fake {
    dir: tempfile::TempDir,
    uid: u32,
    gid: u32,
}

impl Fake {
    fn new() -> Fake {
        let dir = tempfile::tempdir().unwrap();
        let (uid, gid) = if rustix::process::geteuid().is_root() {
            (4321, 4322)
        } else {
            (
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )
        };
        let home = dir.path().join("home/alice");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(
            dir.path().join("passwd"),
            format!(
                "root:x:0:0:root:/root:/bin/sh\nbroken:x:notanumber:1::/nowhere:/bin/sh\n\
                 alice:x:{uid}:{gid}:Alice:{}:/bin/sh\nalice:x:1:1::/second/match:/bin/sh\nshort:x:5\n",
                home.display()
            ),
        )
        .unwrap();
        Fake { dir, uid, gid }
    }

    fn users(&self) -> Users {
        Users::file(self.dir.path().join("passwd"))
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home/alice")
    }

    fn ssh(&self) -> PathBuf {
        self.home().join(".ssh")
    }

    fn file(&self) -> PathBuf {
        self.ssh().join("authorized_keys")
    }

    fn contents(&self) -> String {
        std::fs::read_to_string(self.file()).unwrap()
    }

    fn set(&self, text: &str) {
        std::fs::create_dir_all(self.ssh()).unwrap();
        std::fs::write(self.file(), text).unwrap();
    }

    fn add(&self, keys: &[&str], reset: bool) -> Result<(), String> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        add_authorized_keys(&self.users(), "alice", &keys, reset).map_err(|e| e.to_string())
    }

    fn remove(&self, keys: &[&str]) -> Result<(), String> {
        let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        remove_authorized_keys(&self.users(), "alice", &keys).map_err(|e| e.to_string())
    }

    fn get(&self) -> Result<Vec<String>, String> {
        get_authorized_keys(&self.users(), "alice")
            .map(|k| k.keys)
            .map_err(|e| e.to_string())
    }

    /// The directory, made by the agent, and the file have the user's
    /// modes and owners, and no temporary file is left behind.
    #[track_caller]
    fn assert_owned(&self) {
        let dir = std::fs::metadata(self.ssh()).unwrap();
        assert_eq!(dir.permissions().mode() & 0o7777, 0o700);
        assert_eq!((dir.uid(), dir.gid()), (self.uid, self.gid));
        self.assert_file_owned();
    }

    /// [`Fake::assert_owned`] for the file alone.
    #[track_caller]
    fn assert_file_owned(&self) {
        let file = std::fs::symlink_metadata(self.file()).unwrap();
        assert!(file.is_file());
        assert_eq!(file.permissions().mode() & 0o7777, 0o600);
        assert_eq!((file.uid(), file.gid()), (self.uid, self.gid));
        let names: Vec<_> = std::fs::read_dir(self.ssh())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["authorized_keys"]);
    }
}

#[test]
fn users_come_from_the_password_file() {
    let fake = Fake::new();
    let alice = lookup_user(&fake.users(), "alice").unwrap();
    assert_eq!((alice.uid, alice.gid), (fake.uid, fake.gid));
    assert_eq!(alice.home, fake.dir.path().join("home/alice"));
    let root = lookup_user(&fake.users(), "root").unwrap();
    assert_eq!(
        root,
        User {
            uid: 0,
            gid: 0,
            home: PathBuf::from("/root")
        }
    );
    for name in ["bob", "", "ali", "broken", "short", "x:0"] {
        assert_eq!(
            lookup_user(&fake.users(), name).unwrap_err().to_string(),
            format!("failed to lookup user '{name}': Success")
        );
    }
    assert_eq!(
        lookup_user(&Users::file("/nonexistent/passwd"), "root")
            .unwrap_err()
            .to_string(),
        "failed to lookup user 'root': No such file or directory"
    );
}

/// A stand-in `getent` in `dir` that knows one user, `ldapuser` (home
/// `/home/ldap`), answers `getent passwd 7` with that user too (as the
/// real one takes a numeric key as a uid), and logs its arguments.
fn fake_getent(dir: &Path) -> Users {
    let script = dir.join("getent");
    let log = dir.join("getent.log");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             case \"$2\" in\n\
             ldapuser|7) echo 'ldapuser:*:7:8:LDAP:/home/ldap:/bin/sh' ;;\n\
             *) exit 2 ;;\n\
             esac\n",
            log.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    Users {
        passwd: dir.join("passwd"),
        getent: Some(script.into_os_string()),
    }
}

#[test]
fn users_missing_from_the_file_are_asked_of_getent() {
    let fake = Fake::new();
    let users = fake_getent(fake.dir.path());
    let log = || std::fs::read_to_string(fake.dir.path().join("getent.log")).unwrap_or_default();

    // The file is read first: its users never reach getent.
    let alice = lookup_user(&users, "alice").unwrap();
    assert_eq!(alice.home, fake.dir.path().join("home/alice"));
    assert_eq!(log(), "");

    let ldap = lookup_user(&users, "ldapuser").unwrap();
    assert_eq!(
        ldap,
        User {
            uid: 7,
            gid: 8,
            home: PathBuf::from("/home/ldap")
        }
    );
    assert_eq!(log(), "passwd ldapuser\n");

    // Unknown to both; a uid is not a user name; getent's answer must name
    // the user asked for.
    for name in ["bob", "7", "-x"] {
        assert_eq!(
            lookup_user(&users, name).unwrap_err().to_string(),
            format!("failed to lookup user '{name}': Success")
        );
    }
    // A password file that cannot be read still lets getent answer, and
    // its error is reported when getent does not know the user either.
    let no_file = Users {
        passwd: PathBuf::from("/nonexistent/passwd"),
        ..users.clone()
    };
    assert_eq!(lookup_user(&no_file, "ldapuser").unwrap().uid, 7);
    assert_eq!(
        lookup_user(&no_file, "bob").unwrap_err().to_string(),
        "failed to lookup user 'bob': No such file or directory"
    );
    // A getent that cannot be run reads as an unknown user.
    let missing = Users {
        getent: Some("/nonexistent/getent".into()),
        ..users
    };
    assert_eq!(
        lookup_user(&missing, "ldapuser").unwrap_err().to_string(),
        "failed to lookup user 'ldapuser': Success"
    );
}

#[test]
fn the_system_getent_finds_root() {
    // getent is part of every glibc system (Debian's essential libc-bin).
    let users = Users {
        passwd: PathBuf::from("/nonexistent/passwd"),
        getent: Some(users::GETENT.into()),
    };
    let root = lookup_user(&users, "root").unwrap();
    assert_eq!((root.uid, root.gid), (0, 0));
}

#[test]
fn keys_are_checked_before_the_user() {
    let fake = Fake::new();
    let keys = |k: &[&str]| k.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    for bad in ["# comment", "a\nb"] {
        let want = format!("invalid OpenSSH public key: '{bad}'");
        let list = keys(&["ssh-ed25519 AAAA ok", bad]);
        assert_eq!(
            add_authorized_keys(&fake.users(), "nobody", &list, false)
                .unwrap_err()
                .to_string(),
            want
        );
        assert_eq!(
            remove_authorized_keys(&fake.users(), "nobody", &list)
                .unwrap_err()
                .to_string(),
            want
        );
    }
    assert_eq!(
        add_authorized_keys(&fake.users(), "nobody", &keys(&["", " #ok"]), false)
            .unwrap_err()
            .to_string(),
        "failed to lookup user 'nobody': Success"
    );
    assert!(!fake.ssh().exists());
}

#[test]
fn add_creates_the_directory_and_file_for_the_user() {
    let fake = Fake::new();
    assert_eq!(fake.add(&["algo key2 comments"], false), Ok(()));
    assert_eq!(fake.contents(), "algo key2 comments");
    fake.assert_owned();
    // Already there keys are not repeated, new ones are appended.
    assert_eq!(
        fake.add(
            &["algo key1 comments", "algo key2 comments", "algo key1 comments"],
            false
        ),
        Ok(())
    );
    assert_eq!(fake.contents(), "algo key2 comments\nalgo key1 comments");
    fake.assert_owned();
}

#[test]
fn reset_replaces_the_keys() {
    let fake = Fake::new();
    fake.add(&["algo key1 comments", "algo key2 comments"], false)
        .unwrap();
    assert_eq!(fake.add(&["algo key2 comments"], true), Ok(()));
    assert_eq!(fake.contents(), "algo key2 comments");
    assert_eq!(fake.add(&[], true), Ok(()));
    assert_eq!(fake.contents(), "");
    fake.assert_owned();
}

#[test]
fn libvirts_trailing_empty_key_ends_the_file_with_a_newline() {
    let fake = Fake::new();
    assert_eq!(fake.add(&["k1", "k2", ""], true), Ok(()));
    assert_eq!(fake.contents(), "k1\nk2\n");
    // Sent again: the empty line is already there.
    assert_eq!(fake.add(&["k1", "k2", ""], false), Ok(()));
    assert_eq!(fake.contents(), "k1\nk2\n");
    assert_eq!(fake.add(&["k3", ""], false), Ok(()));
    assert_eq!(fake.contents(), "k1\nk2\n\nk3");
    assert_eq!(fake.remove(&["k3", ""]), Ok(()));
    assert_eq!(fake.contents(), "k1\nk2");
    assert_eq!(fake.get(), Ok(vec!["k2".to_string(), "k1".to_string()]));
}

#[test]
fn a_nul_in_a_key_is_written_as_qemu_writes_it() {
    let fake = Fake::new();
    assert_eq!(fake.add(&["algo a\0b"], false), Ok(()));
    assert_eq!(std::fs::read(fake.file()).unwrap(), b"algo a\xC0\x80b");
    assert_eq!(fake.get(), Ok(vec!["algo a\0b".to_string()]));
    assert_eq!(fake.add(&["algo a\0b"], false), Ok(()));
    assert_eq!(std::fs::read(fake.file()).unwrap(), b"algo a\xC0\x80b");
    assert_eq!(fake.remove(&["algo a\0b"]), Ok(()));
    assert_eq!(fake.contents(), "");
}

#[test]
fn remove_drops_exact_lines() {
    let fake = Fake::new();
    let text = "algo key1 comments\nalgo key1 comments\n# a commented line\nalgo some-key another\n";
    fake.set(text);
    assert_eq!(fake.remove(&["algo key2 comments"]), Ok(()));
    assert_eq!(fake.contents(), text);
    assert_eq!(
        fake.remove(&["algo key1 comments", "algo key2 comments", "algo some-key"]),
        Ok(())
    );
    assert_eq!(fake.contents(), "# a commented line\nalgo some-key another\n");
    fake.assert_file_owned();
}

#[test]
fn remove_without_a_file_does_nothing() {
    let fake = Fake::new();
    assert_eq!(fake.remove(&["k"]), Ok(()));
    assert!(!fake.ssh().exists());
}

#[test]
fn get_lists_keys_last_first() {
    let fake = Fake::new();
    assert_eq!(
        fake.get().unwrap_err(),
        format!(
            "failed to read '{0}': Failed to open file \u{201c}{0}\u{201d}: No such file or directory",
            fake.file().display()
        )
    );
    fake.set("algo key1 comments\n  # a comment\n\t algo some-key another \x0b\r\n\n \nlast\0after nul\n");
    assert_eq!(
        fake.get(),
        Ok(vec![
            "last".to_string(),
            "algo some-key another".to_string(),
            "algo key1 comments".to_string()
        ])
    );
    std::fs::write(fake.file(), b"bad \xff key\n").unwrap();
    assert_eq!(fake.get(), Ok(vec!["bad \u{fffd} key".to_string()]));
}

#[test]
fn failures_name_the_path() {
    let fake = Fake::new();
    // `.ssh` is a file: the keys cannot be read, the directory cannot be
    // made, and there is nothing to remove.
    std::fs::write(fake.ssh(), "").unwrap();
    assert_eq!(
        fake.add(&["k"], false).unwrap_err(),
        format!(
            "failed to create directory '{}': File exists",
            fake.ssh().display()
        )
    );
    assert_eq!(
        fake.get().unwrap_err(),
        format!(
            "failed to read '{0}': Failed to open file \u{201c}{0}\u{201d}: Not a directory",
            fake.file().display()
        )
    );
    assert_eq!(fake.remove(&["k"]), Ok(()));
    // No home at all.
    std::fs::remove_dir_all(fake.home()).unwrap();
    assert_eq!(
        fake.add(&["k"], true).unwrap_err(),
        format!(
            "failed to create directory '{}': No such file or directory",
            fake.ssh().display()
        )
    );
    assert_eq!(
        fake.get().unwrap_err(),
        format!(
            "failed to read '{0}': Failed to open file \u{201c}{0}\u{201d}: No such file or directory",
            fake.file().display()
        )
    );
    assert_eq!(fake.remove(&["k"]), Ok(()));
}

/// `cannot use 'PATH': WHY`, the reply to a trap.
fn refused(path: &Path, why: &str) -> String {
    format!("cannot use '{}': {why}", path.display())
}

/// Runs `f` on another thread; panics if it has not returned within 10 s
/// (the thread is left behind).
fn within_10s<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .expect("the call blocked")
}

#[test]
fn a_link_as_the_file_is_refused_not_followed() {
    let fake = Fake::new();
    std::fs::create_dir_all(fake.ssh()).unwrap();
    let elsewhere = fake.dir.path().join("elsewhere");
    std::fs::write(&elsewhere, "secret").unwrap();
    std::os::unix::fs::symlink(&elsewhere, fake.file()).unwrap();
    let want = refused(&fake.file(), "a symbolic link");
    assert_eq!(fake.get().unwrap_err(), want);
    assert_eq!(fake.add(&["k"], false).unwrap_err(), want);
    assert_eq!(fake.remove(&["k"]).unwrap_err(), want);
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "secret");
    assert!(std::fs::symlink_metadata(fake.file()).unwrap().is_symlink());
    // A link to nowhere is refused alike.
    std::fs::remove_file(fake.file()).unwrap();
    std::os::unix::fs::symlink("/nonexistent/file", fake.file()).unwrap();
    assert_eq!(fake.get().unwrap_err(), want);
    assert_eq!(fake.add(&["k"], false).unwrap_err(), want);
    assert_eq!(fake.remove(&["k"]).unwrap_err(), want);
    // `reset` does not read the old file: the link is replaced by a file,
    // what it pointed to is untouched.
    std::fs::remove_file(fake.file()).unwrap();
    std::os::unix::fs::symlink(&elsewhere, fake.file()).unwrap();
    assert_eq!(fake.add(&["k"], true), Ok(()));
    assert_eq!(fake.contents(), "k");
    assert_eq!(std::fs::read_to_string(&elsewhere).unwrap(), "secret");
    fake.assert_file_owned();
}

#[test]
fn a_link_as_the_ssh_directory_is_refused() {
    let fake = Fake::new();
    let other = fake.dir.path().join("home/bob/.ssh");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("authorized_keys"), "bob's key\n").unwrap();
    for target in [other.as_path(), Path::new("/nonexistent/dir")] {
        std::os::unix::fs::symlink(target, fake.ssh()).unwrap();
        let want = refused(&fake.ssh(), "a symbolic link");
        assert_eq!(fake.get().unwrap_err(), want);
        assert_eq!(fake.add(&["k"], false).unwrap_err(), want);
        assert_eq!(fake.add(&["k"], true).unwrap_err(), want);
        assert_eq!(fake.remove(&["bob's key"]).unwrap_err(), want);
        std::fs::remove_file(fake.ssh()).unwrap();
    }
    assert_eq!(
        std::fs::read_to_string(other.join("authorized_keys")).unwrap(),
        "bob's key\n"
    );
    assert_eq!(std::fs::read_dir(&other).unwrap().count(), 1);
}

#[test]
fn what_neither_the_user_nor_root_owns_is_refused() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipping: chown needs root");
        return;
    }
    let fake = Fake::new();
    fake.set("k1\n");
    let stranger = |path: &Path, uid: u32| std::os::unix::fs::chown(path, Some(uid), None).unwrap();
    for path in [fake.home(), fake.ssh(), fake.file()] {
        stranger(&path, 4323);
        let want = refused(&path, "owned by uid 4323, neither the user nor root");
        assert_eq!(fake.get().unwrap_err(), want);
        assert_eq!(fake.add(&["k2"], false).unwrap_err(), want);
        assert_eq!(fake.remove(&["k1"]).unwrap_err(), want);
        if path != fake.file() {
            assert_eq!(fake.add(&["k2"], true).unwrap_err(), want);
        }
        assert_eq!(fake.contents(), "k1\n");
        // The user's own, and root's, are used.
        stranger(&path, fake.uid);
        assert_eq!(fake.get(), Ok(vec!["k1".to_string()]));
        stranger(&path, 0);
        assert_eq!(fake.get(), Ok(vec!["k1".to_string()]));
    }
    assert_eq!(fake.add(&["k2"], false), Ok(()));
    assert_eq!(fake.contents(), "k1\n\nk2");
}

#[test]
fn a_hard_linked_file_is_refused() {
    let fake = Fake::new();
    fake.set("k1\n");
    let other = fake.dir.path().join("other");
    std::fs::hard_link(fake.file(), &other).unwrap();
    let want = refused(&fake.file(), "has 2 hard links");
    assert_eq!(fake.get().unwrap_err(), want);
    assert_eq!(fake.add(&["k2"], false).unwrap_err(), want);
    assert_eq!(fake.remove(&["k1"]).unwrap_err(), want);
    // Only the name is replaced by `reset`: the other link keeps its text.
    assert_eq!(fake.add(&["k2"], true), Ok(()));
    assert_eq!(fake.contents(), "k2");
    assert_eq!(std::fs::read_to_string(&other).unwrap(), "k1\n");
    fake.assert_file_owned();
}

#[test]
fn a_fifo_or_a_directory_is_not_read() {
    let fake = Fake::new();
    std::fs::create_dir_all(fake.ssh()).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fake.file(),
        rustix::fs::FileType::Fifo,
        Mode::from_raw_mode(0o666),
        0,
    )
    .unwrap();
    let want = refused(&fake.file(), "not a regular file");
    let users = fake.users();
    let replies = within_10s(move || {
        let keys = ["k".to_string()];
        (
            get_authorized_keys(&users, "alice")
                .map(|k| k.keys)
                .map_err(|e| e.to_string()),
            add_authorized_keys(&users, "alice", &keys, false).map_err(|e| e.to_string()),
            remove_authorized_keys(&users, "alice", &keys).map_err(|e| e.to_string()),
        )
    });
    assert_eq!(replies, (Err(want.clone()), Err(want.clone()), Err(want.clone())));
    assert!(std::fs::symlink_metadata(fake.file())
        .unwrap()
        .file_type()
        .is_fifo());

    std::fs::remove_file(fake.file()).unwrap();
    std::fs::create_dir(fake.file()).unwrap();
    assert_eq!(fake.get().unwrap_err(), want);
    assert_eq!(fake.add(&["k"], false).unwrap_err(), want);
    assert_eq!(fake.remove(&["k"]).unwrap_err(), want);
    // `reset` tries to replace it, as QEMU does, and cannot.
    let error = fake.add(&["k"], true).unwrap_err();
    assert!(
        error.starts_with(&format!(
            "failed to write to '{}': Failed to rename file",
            fake.file().display()
        )) && error.ends_with("Is a directory"),
        "{error}"
    );
    // No temporary file is left behind.
    assert_eq!(std::fs::read_dir(fake.ssh()).unwrap().count(), 1);
}

#[test]
fn a_file_over_1_mib_is_refused() {
    let fake = Fake::new();
    let limit = usize::try_from(keys_file::MAX_KEYS_FILE).unwrap();
    assert_eq!(limit, 1 << 20);
    fake.set(&"a".repeat(limit));
    assert_eq!(fake.get().unwrap(), ["a".repeat(limit)]);
    fake.set(&format!("k1\n{}", "a".repeat(limit)));
    let want = refused(&fake.file(), "larger than 1048576 bytes (1 MiB), the most read");
    assert_eq!(fake.get().unwrap_err(), want);
    assert_eq!(fake.add(&["k2"], false).unwrap_err(), want);
    assert_eq!(fake.remove(&["k1"]).unwrap_err(), want);
    assert_eq!(fake.contents().len(), limit + 3);
}

#[test]
fn the_users_own_files_are_used_and_stay_theirs() {
    let Some(guest) = crate::testing::GuestUser::new("sshunit") else {
        return;
    };
    let users = Users::file("/etc/passwd");
    guest.sh("mkdir -m 700 .ssh && printf 'k1\\n' > .ssh/authorized_keys");
    let keys = |k: &[&str]| k.iter().map(|k| k.to_string()).collect::<Vec<_>>();
    assert_eq!(get_authorized_keys(&users, guest.name()).unwrap().keys, ["k1"]);
    add_authorized_keys(&users, guest.name(), &keys(&["k2"]), false).unwrap();
    remove_authorized_keys(&users, guest.name(), &keys(&["k1"])).unwrap();
    let file = guest.home().join(".ssh/authorized_keys");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "\nk2");
    let meta = std::fs::symlink_metadata(&file).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (guest.uid(), guest.gid()));
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
    // The user can still change their own keys.
    guest.sh("echo k3 > .ssh/authorized_keys");
    assert_eq!(get_authorized_keys(&users, guest.name()).unwrap().keys, ["k3"]);
}

#[test]
fn host_text_in_errors_is_cut() {
    let fake = Fake::new();
    let long = format!("#{}", "x".repeat(5000));
    let error = fake.add(&[&long], false).unwrap_err();
    assert!(error.starts_with("invalid OpenSSH public key: '#xxx"), "{error}");
    assert!(error.len() < 1100, "{}", error.len());
    let name = "y".repeat(5000);
    let error = get_authorized_keys(&fake.users(), &name).unwrap_err().to_string();
    assert!(error.starts_with("failed to lookup user 'yyy"), "{error}");
    assert!(error.ends_with("': Success") && error.len() < 1100, "{error}");
}

#[test]
fn temporary_names_cannot_be_guessed() {
    let names: std::collections::HashSet<String> = (0..1000).map(|_| keys_file::random_suffix()).collect();
    assert!(names.len() > 990, "{}", names.len());
    assert!(names
        .iter()
        .all(|n| n.len() == 6 && n.bytes().all(|b| b.is_ascii_alphanumeric())));
}

#[test]
fn strip_is_glibs() {
    assert_eq!(
        qga_sys::authorized_keys::strip(b" \t\x0b\x0c\r\nab c\n\x0b"),
        b"ab c"
    );
    assert_eq!(qga_sys::authorized_keys::strip(b"   "), b"");
    assert_eq!(qga_sys::authorized_keys::strip(b""), b"");
}
