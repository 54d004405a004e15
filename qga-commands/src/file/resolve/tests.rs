use super::*;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::file::tests::root;
use crate::testing::GuestUser;

/// An owner that is neither root nor any directory's here (no account
/// needs to exist for a file to belong to it).
const FOREIGN: u32 = 4242;
/// Another such owner.
const OTHER: u32 = 4343;

/// The `WriteOpen` of an `fopen()` mode, new files 0644.
fn how(mode: &str) -> WriteOpen {
    let (access, create, truncate) = match mode {
        "w" => (OFlags::WRONLY, true, true),
        "a" => (OFlags::WRONLY | OFlags::APPEND, true, false),
        "r+" => (OFlags::RDWR, false, false),
        "w+" => (OFlags::RDWR, true, true),
        "a+" => (OFlags::RDWR | OFlags::APPEND, true, false),
        _ => panic!("no write mode {mode}"),
    };
    WriteOpen {
        access,
        create,
        truncate,
        create_mode: Mode::from_raw_mode(0o644),
    }
}

const WRITE_MODES: [&str; 5] = ["w", "a", "r+", "w+", "a+"];

fn open(path: &Path, mode: &str) -> Result<OwnedFd, OpenError> {
    open_for_write(path.as_os_str().as_encoded_bytes(), how(mode))
}

fn write(fd: &OwnedFd, data: &[u8]) {
    assert_eq!(rustix::io::write(fd, data).unwrap(), data.len());
}

/// A temporary tree, root's and private (0700) unless changed.
struct Tree {
    dir: tempfile::TempDir,
}

impl Tree {
    fn new() -> Tree {
        Tree {
            dir: tempfile::Builder::new().prefix("qga-resolve-").tempdir().unwrap(),
        }
    }
    fn p(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn file(&self, rel: &str, data: &[u8]) -> PathBuf {
        let p = self.p(rel);
        std::fs::write(&p, data).unwrap();
        p
    }
    fn dir(&self, rel: &str) -> PathBuf {
        let p = self.p(rel);
        std::fs::create_dir(&p).unwrap();
        p
    }
    /// A sticky world-writable directory (1777), as `/tmp`.
    fn sticky(&self, rel: &str) -> PathBuf {
        let p = self.dir(rel);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o1777)).unwrap();
        p
    }
    fn link(&self, rel: &str, target: &str) -> PathBuf {
        let p = self.p(rel);
        std::os::unix::fs::symlink(target, &p).unwrap();
        p
    }
}

/// Gives `path` (not followed) to `uid`.
fn chown(path: &Path, uid: u32) {
    rustix::fs::chownat(
        CWD,
        path,
        Some(rustix::fs::Uid::from_raw(uid)),
        None,
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .unwrap();
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Asserts `path` still holds `data`, is root's and has `mode`.
#[track_caller]
fn untouched(path: &Path, data: &[u8], mode: u32) {
    assert_eq!(
        std::fs::read(path).unwrap(),
        data,
        "{} was written",
        path.display()
    );
    let meta = std::fs::metadata(path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, mode);
    assert_eq!(meta.uid(), 0);
}

#[track_caller]
fn refused(result: Result<OwnedFd, OpenError>) -> Refusal {
    match result {
        Err(OpenError::Refused(why)) => why,
        Err(e) => panic!("expected a refusal, got {e:?}"),
        Ok(_) => panic!("expected a refusal, it opened"),
    }
}

#[track_caller]
fn errno(result: Result<OwnedFd, OpenError>) -> Errno {
    match result {
        Err(OpenError::Sys(e)) => e,
        Err(e) => panic!("expected an errno, got {e:?}"),
        Ok(_) => panic!("expected an error, it opened"),
    }
}

#[test]
fn new_files_get_the_configured_mode_whatever_the_umask() {
    let t = Tree::new();
    let sticky = t.sticky("sticky");
    for (dir, mode) in [(t.p(""), 0o640), (sticky.clone(), 0o600), (sticky, 0o666)] {
        let path = dir.join(format!("new{mode:o}"));
        let mut w = how("w");
        w.create_mode = Mode::from_raw_mode(mode);
        let fd = open_for_write(path.as_os_str().as_encoded_bytes(), w).unwrap();
        write(&fd, b"x");
        assert_eq!(mode_of(&path), mode);
        // An existing file keeps its permissions.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o604)).unwrap();
        open_for_write(path.as_os_str().as_encoded_bytes(), w).unwrap();
        assert_eq!(mode_of(&path), 0o604);
    }
}

#[test]
fn modes_truncate_append_and_create_as_fopen() {
    let t = Tree::new();
    let f = t.file("f", b"hello");
    write(&open(&f, "a").unwrap(), b"!");
    assert_eq!(std::fs::read(&f).unwrap(), b"hello!");
    write(&open(&f, "r+").unwrap(), b"J");
    assert_eq!(std::fs::read(&f).unwrap(), b"Jello!");
    let fd = open(&f, "a+").unwrap();
    let mut buf = [0u8; 8];
    assert_eq!(
        rustix::io::read(&fd, &mut buf).unwrap(),
        6,
        "a+ reads from the start"
    );
    open(&f, "w").unwrap();
    assert_eq!(std::fs::read(&f).unwrap(), b"");
    assert_eq!(errno(open(&t.p("missing"), "r+")), Errno::NOENT);
    assert!(!t.p("missing").exists(), "r+ never creates");
    for mode in ["w", "a", "w+", "a+"] {
        let p = t.p(&format!("new-{mode}"));
        open(&p, mode).unwrap();
        assert!(p.is_file());
    }
}

#[test]
fn descriptors_are_nonblocking_and_close_on_exec() {
    let t = Tree::new();
    for mode in WRITE_MODES {
        t.file("f", b"");
        let fd = open(&t.p("f"), mode).unwrap();
        assert!(rustix::io::fcntl_getfd(&fd)
            .unwrap()
            .contains(rustix::io::FdFlags::CLOEXEC));
        let fl = rustix::fs::fcntl_getfl(&fd).unwrap();
        assert!(fl.contains(OFlags::NONBLOCK));
        assert!(!fl.contains(OFlags::PATH));
    }
}

#[test]
fn links_outside_sticky_directories_are_followed() {
    let t = Tree::new();
    let d = t.dir("d");
    t.file("d/target", b"old");
    t.link("rel", "d/target");
    t.link("abs", &d.join("target").to_string_lossy());
    t.link("dirlink", "d");
    t.link("up", "d/../d/./target");
    t.link("chain", "rel");
    for (i, name) in ["rel", "abs", "dirlink/target", "up", "chain", "dirlink/../abs"]
        .iter()
        .enumerate()
    {
        write(&open(&t.p(name), "w").unwrap(), format!("{i}").as_bytes());
        assert_eq!(
            std::fs::read(t.p("d/target")).unwrap(),
            format!("{i}").as_bytes(),
            "{name}"
        );
    }
    // A new file through a directory link is made where the link points.
    open(&t.p("dirlink/new"), "w").unwrap();
    assert!(d.join("new").is_file());
    // A dangling link is not created through (as QEMU's agent).
    t.link("dangling", "d/nothing");
    for mode in WRITE_MODES {
        assert_eq!(errno(open(&t.p("dangling"), mode)), Errno::NOENT);
    }
    assert!(!d.join("nothing").exists());
}

#[test]
fn directories_and_odd_names_fail_as_the_kernel_says() {
    let t = Tree::new();
    t.dir("d");
    t.file("f", b"");
    t.link("ld", "d/");
    t.link("root", "/");
    let case = |path: &str, mode: &str| errno(open(&t.p(path), mode));
    for mode in WRITE_MODES {
        assert_eq!(case("d", mode), Errno::ISDIR);
        assert_eq!(case("d/.", mode), Errno::ISDIR);
        assert_eq!(case("d/..", mode), Errno::ISDIR);
        assert_eq!(case("ld", mode), Errno::ISDIR);
        assert_eq!(case("root", mode), Errno::ISDIR);
        assert_eq!(case("f/x", mode), Errno::NOTDIR);
        assert_eq!(case("nodir/x", mode), Errno::NOENT);
        assert_eq!(case("d/", mode), Errno::ISDIR);
    }
    assert_eq!(case("f/", "w"), Errno::ISDIR, "the kernel's answer with O_CREAT");
    assert_eq!(case("f/", "r+"), Errno::NOTDIR);
    assert_eq!(errno(open_for_write(b"", how("w"))), Errno::NOENT);
    assert_eq!(errno(open_for_write(&[b'a'; 4096], how("w"))), Errno::NAMETOOLONG);
    assert_eq!(errno(open_for_write(&[b'a'; 256], how("w"))), Errno::NAMETOOLONG);
}

#[test]
fn links_are_counted_as_the_kernel_counts_them() {
    let t = Tree::new();
    t.file("l0", b"");
    for i in 1..=MAX_LINKS + 1 {
        t.link(&format!("l{i}"), &format!("l{}", i - 1));
    }
    open(&t.p(&format!("l{MAX_LINKS}")), "r+").unwrap();
    assert_eq!(
        errno(open(&t.p(&format!("l{}", MAX_LINKS + 1)), "r+")),
        Errno::LOOP
    );
    t.link("self", "self");
    assert_eq!(errno(open(&t.p("self"), "w")), Errno::LOOP);
    assert_eq!(errno(open(&t.p("self/x"), "w")), Errno::LOOP);
}

/// Outside sticky directories the walk lands where the kernel's `open`
/// does, or fails with its error, for a tree of every kind of turn.
#[test]
fn agrees_with_the_kernel_outside_sticky_directories() {
    let t = Tree::new();
    let base = t.p("");
    let abs = |rel: &str| base.join(rel).to_string_lossy().into_owned();
    t.dir("a");
    t.dir("a/b");
    t.file("a/b/f", b"");
    t.file("top", b"");
    t.link("a/up", "..");
    t.link("a/b/f-link", "f");
    t.link("a/b/abs", &abs("top"));
    t.link("to-b", "a/b");
    t.link("to-b-slash", "a/b/");
    t.link("dangling", "nowhere");
    t.link("loop1", "loop2");
    t.link("loop2", "loop1");
    t.link("file-as-dir", "top/x");
    t.link("to-root", "/");
    t.link("dot", ".");
    t.link("dotdot-chain", "a/up/a/up/a/b/f-link");
    t.link("rel-up", "a/b/../../top");
    let cases = [
        "top",
        "a/b/f",
        "a/b/f-link",
        "a/b/abs",
        "a/up/top",
        "a/up/a/up/top",
        "to-b/f",
        "to-b/f-link",
        "to-b/../top",
        "to-b-slash/f",
        "to-b-slash",
        "a",
        "a/.",
        "a/..",
        "a/b/f/x",
        "dangling",
        "dangling/x",
        "loop1",
        "loop1/x",
        "file-as-dir",
        "dot/dot/dot/top",
        "dotdot-chain",
        "rel-up",
        "missing",
        "a//b///f",
        "./a/./b/./f",
        "to-root",
    ];
    for rel in cases {
        let path = base.join(rel);
        let kernel = rustix::fs::open(&path, OFlags::RDWR | OPEN_FLAGS, Mode::empty())
            .and_then(|fd| rustix::fs::fstat(&fd))
            .map(|s| (s.st_dev, s.st_ino));
        let ours = match open(&path, "r+") {
            Ok(fd) => {
                let s = rustix::fs::fstat(&fd).unwrap();
                Ok((s.st_dev, s.st_ino))
            }
            Err(OpenError::Sys(e)) => Err(e),
            Err(e) => panic!("{rel}: {e:?}"),
        };
        assert_eq!(ours, kernel, "{rel}");
    }
    // From the root, through `..` past it, and a link to it.
    let from_root = format!("/../..{}", abs("to-root/../..")) + &abs("top");
    let kernel = rustix::fs::open(from_root.as_str(), OFlags::RDWR | OPEN_FLAGS, Mode::empty())
        .and_then(|fd| rustix::fs::fstat(&fd))
        .map(|s| (s.st_dev, s.st_ino));
    let ours = open_for_write(from_root.as_bytes(), how("r+")).map(|fd| {
        let s = rustix::fs::fstat(&fd).unwrap();
        (s.st_dev, s.st_ino)
    });
    assert_eq!(ours, kernel.map_err(OpenError::Sys));
    assert!(ours.is_ok());
}

#[test]
fn a_link_in_the_last_place_in_a_sticky_directory_is_never_followed() {
    if !root() {
        return;
    }
    let t = Tree::new();
    let sticky = t.sticky("sticky");
    let victim = t.file("victim", b"precious");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    let theirs = t.link("sticky/theirs", &victim.to_string_lossy());
    chown(&theirs, FOREIGN);
    // Even root's own link is refused there: only a walk that needs no
    // link in the last place writes in a sticky directory.
    t.link("sticky/roots", &victim.to_string_lossy());
    let dangling = t.link("sticky/dangling", &t.p("created").to_string_lossy());
    chown(&dangling, FOREIGN);
    for name in ["theirs", "roots", "dangling"] {
        for mode in WRITE_MODES {
            assert_eq!(
                refused(open(&sticky.join(name), mode)),
                Refusal::LastSymlink,
                "{name} {mode}"
            );
        }
    }
    untouched(&victim, b"precious", 0o600);
    assert!(!t.p("created").exists());
}

#[test]
fn foreign_files_in_a_sticky_directory_are_refused_untouched() {
    if !root() {
        return;
    }
    let t = Tree::new();
    t.sticky("sticky");
    let theirs = t.file("sticky/theirs", b"their data");
    chown(&theirs, FOREIGN);
    let fifo = t.p("sticky/fifo");
    rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o666), 0).unwrap();
    chown(&fifo, FOREIGN);
    // Someone reads the FIFO, so an open for writing would succeed.
    let reader = rustix::fs::open(&fifo, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
    for mode in WRITE_MODES {
        let started = Instant::now();
        assert_eq!(
            refused(open(&theirs, mode)),
            Refusal::ForeignOwner {
                kind: "a regular file",
                owner: FOREIGN
            }
        );
        assert_eq!(
            refused(open(&fifo, mode)),
            Refusal::ForeignOwner {
                kind: "a FIFO",
                owner: FOREIGN
            }
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    assert_eq!(std::fs::read(&theirs).unwrap(), b"their data", "not truncated");
    assert_eq!(std::fs::metadata(&theirs).unwrap().uid(), FOREIGN);
    let mut buf = [0u8; 4];
    // No data, and no writer left: end of file.
    assert_eq!(rustix::io::read(&reader, &mut buf), Ok(0), "nothing written");
}

#[test]
fn a_file_a_guest_user_made_in_a_sticky_directory_is_refused() {
    let Some(user) = GuestUser::new("resolve") else {
        return;
    };
    let t = Tree::new();
    std::fs::set_permissions(t.p(""), std::fs::Permissions::from_mode(0o755)).unwrap();
    let sticky = t.sticky("sticky");
    user.sh(&format!("printf mine > '{}/f'", sticky.display()));
    for mode in WRITE_MODES {
        let why = refused(open(&sticky.join("f"), mode));
        assert_eq!(
            why,
            Refusal::ForeignOwner {
                kind: "a regular file",
                owner: user.uid()
            }
        );
        assert_eq!(
            why.to_string(),
            format!(
                "a regular file owned by uid {}, neither root nor the directory's owner, in a sticky \
                 world-writable directory",
                user.uid()
            )
        );
    }
    assert_eq!(std::fs::read(sticky.join("f")).unwrap(), b"mine");
}

#[test]
fn the_sticky_directory_owner_is_trusted() {
    if !root() {
        return;
    }
    let t = Tree::new();
    let sticky = t.sticky("sticky");
    chown(&sticky, FOREIGN);
    let owners = t.file("sticky/owners", b"");
    chown(&owners, FOREIGN);
    let others = t.file("sticky/others", b"x");
    chown(&others, OTHER);
    let d = t.dir("d");
    let link = t.link("sticky/link", &d.to_string_lossy());
    chown(&link, FOREIGN);
    write(&open(&owners, "w").unwrap(), b"ok");
    write(&open(&sticky.join("link/new"), "w").unwrap(), b"ok");
    assert_eq!(std::fs::read(d.join("new")).unwrap(), b"ok");
    assert_eq!(
        refused(open(&others, "a")),
        Refusal::ForeignOwner {
            kind: "a regular file",
            owner: OTHER
        }
    );
    // Root's own files are trusted everywhere.
    let roots = t.file("sticky/roots", b"");
    write(&open(&roots, "a").unwrap(), b"ok");
}

#[test]
fn hard_links_in_a_sticky_directory_are_refused() {
    if !root() {
        return;
    }
    let t = Tree::new();
    t.sticky("sticky");
    let victim = t.file("victim", b"precious");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::hard_link(&victim, t.p("sticky/hard")).unwrap();
    for mode in WRITE_MODES {
        assert_eq!(
            refused(open(&t.p("sticky/hard"), mode)),
            Refusal::HardLinked { links: 2 }
        );
    }
    untouched(&victim, b"precious", 0o600);
    // Outside sticky directories a hard link is a file like any other.
    std::fs::hard_link(&victim, t.p("hard")).unwrap();
    write(&open(&t.p("hard"), "a").unwrap(), b"!");
    assert_eq!(std::fs::read(&victim).unwrap(), b"precious!");
}

#[test]
fn links_on_the_way_through_a_sticky_directory_follow_the_kernel_rule() {
    if !root() {
        return;
    }
    let t = Tree::new();
    t.sticky("sticky");
    let victims = t.dir("victims");
    let victim = t.file("victims/passwd", b"root:x:0:0");
    let evil = t.link("sticky/evil", &victims.to_string_lossy());
    chown(&evil, FOREIGN);
    for mode in WRITE_MODES {
        for path in [
            "sticky/evil/passwd",
            "sticky/evil/new",
            "sticky/evil/../victims/passwd",
        ] {
            assert_eq!(
                refused(open(&t.p(path), mode)),
                Refusal::ForeignLink {
                    name: b"evil".to_vec(),
                    owner: FOREIGN
                },
                "{path} {mode}"
            );
        }
    }
    untouched(&victim, b"root:x:0:0", 0o644);
    assert!(!victims.join("new").exists());
    // Root's link is followed, as the kernel follows it.
    t.link("sticky/roots", &victims.to_string_lossy());
    write(&open(&t.p("sticky/roots/passwd"), "a").unwrap(), b"!");
    assert_eq!(std::fs::read(&victim).unwrap(), b"root:x:0:0!");
    // A foreign link reached through another link is refused as well.
    t.link("via", "sticky/evil");
    assert!(matches!(
        refused(open(&t.p("via/passwd"), "w")),
        Refusal::ForeignLink { .. }
    ));
    // Reading goes through: the rules are for writing (the caller opens
    // reads with the kernel's open).
    assert_eq!(std::fs::read(t.p("sticky/evil/passwd")).unwrap(), b"root:x:0:0!");
}

#[test]
fn a_roots_fifo_in_a_sticky_directory_does_not_hang() {
    if !root() {
        return;
    }
    let t = Tree::new();
    t.sticky("sticky");
    let fifo = t.p("sticky/fifo");
    rustix::fs::mknodat(CWD, &fifo, FileType::Fifo, Mode::from_raw_mode(0o600), 0).unwrap();
    let started = Instant::now();
    for mode in ["w", "a", "r+", "w+", "a+"] {
        match open(&fifo, mode) {
            // O_RDWR on a FIFO opens at once (Linux), and is root's.
            Ok(_) => assert!(mode.contains('+'), "{mode}"),
            // No reader: the nonblocking write-only open fails at once.
            Err(e) => assert_eq!(e, OpenError::Sys(Errno::NXIO), "{mode}"),
        }
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_racing_link_never_leads_a_write_astray() {
    if !root() {
        return;
    }
    let t = Tree::new();
    let sticky = t.sticky("sticky");
    let victim = t.file("victim", b"precious");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    let name = sticky.join("race");
    let spare = sticky.join("spare");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let (stop, name, spare, victim) = (stop.clone(), name.clone(), spare.clone(), victim.clone());
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let _ = std::os::unix::fs::symlink(&victim, &spare);
                let _ = rustix::fs::chownat(
                    CWD,
                    &spare,
                    Some(rustix::fs::Uid::from_raw(FOREIGN)),
                    None,
                    AtFlags::SYMLINK_NOFOLLOW,
                );
                let _ = std::fs::rename(&spare, &name);
                let _ = std::fs::remove_file(&name);
            }
        })
    };
    let (mut opened, mut refusals) = (0, 0);
    let started = Instant::now();
    // Until both outcomes were seen many times (the race really ran), at
    // least 2 s, at most 20.
    while started.elapsed() < Duration::from_secs(20)
        && (started.elapsed() < Duration::from_secs(2) || opened < 50 || refusals < 50)
    {
        match open(&name, "w") {
            Ok(fd) => {
                opened += 1;
                write(&fd, b"mine");
            }
            Err(OpenError::Refused(Refusal::LastSymlink)) => refusals += 1,
            // The racer removed what the agent had created, or made it run
            // out of tries (the last one's error: ENOENT, ELOOP, or EACCES
            // for a link the kernel refuses with O_CREAT).
            Err(OpenError::Sys(Errno::NOENT | Errno::AGAIN | Errno::LOOP | Errno::ACCESS)) => {}
            Err(e) => panic!("{e:?}"),
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    eprintln!("opened {opened}, refused {refusals}");
    assert!(
        opened >= 50 && refusals >= 50,
        "the race did not run: opened {opened}, refused {refusals}"
    );
    untouched(&victim, b"precious", 0o644);
}

#[test]
fn procfs_links_are_followed_by_the_kernel() {
    use std::io::{Read, Seek};
    let t = Tree::new();
    let path = t.file("deleted", b"");
    let mut kept = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    // `/proc/self/fd/N` names the deleted file: only the kernel can follow
    // it there (its text reads ".../deleted (deleted)").
    let link = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&kept));
    let fd = open(Path::new(&link), "a").unwrap();
    write(&fd, b"through the fd");
    drop(fd);
    let mut text = String::new();
    kept.rewind().unwrap();
    kept.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through the fd");
    assert!(!t.p("deleted (deleted)").exists());
    // And a directory link on the way (`/proc/self/root`, `/proc/self/cwd`).
    let via_root = format!("/proc/self/root{}", t.p("new").display());
    let fd = open(Path::new(&via_root), "w").unwrap();
    write(&fd, b"n");
    assert_eq!(std::fs::read(t.p("new")).unwrap(), b"n");
}
