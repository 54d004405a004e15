use super::*;
use std::os::unix::fs::PermissionsExt;

struct Fixture {
    dir: tempfile::TempDir,
    files: FileTable,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(PersistentState::load(dir.path(), true).unwrap());
    Fixture {
        files: FileTable::new(state, crate::AgentConfig::DEFAULT_CREATE_MODE),
        dir,
    }
}

impl Fixture {
    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }
    fn open(&self, name: &str, mode: &str) -> Result<i64, String> {
        self.files
            .open(GuestFileOpenArgs {
                path: self.path(name),
                mode: Some(mode.into()),
            })
            .map_err(|e| e.to_string())
    }
    fn write(&self, h: i64, data: &[u8]) -> GuestFileWrite {
        self.files
            .write(GuestFileWriteArgs {
                handle: h,
                buf_b64: base64::encode(data),
                count: None,
            })
            .unwrap()
    }
    fn read(&self, h: i64, count: Option<i64>) -> (Vec<u8>, bool) {
        let r = self.files.read(GuestFileReadArgs { handle: h, count }).unwrap();
        let data = base64::decode(&r.buf_b64).unwrap();
        assert_eq!(r.count as usize, data.len());
        (data, r.eof)
    }
    fn seek(&self, h: i64, offset: i64, whence: GuestFileWhence) -> Result<i64, String> {
        self.files
            .seek(GuestFileSeekArgs {
                handle: h,
                offset,
                whence,
            })
            .map(|s| s.position)
            .map_err(|e| e.to_string())
    }
}

#[test]
fn binary_round_trip_and_eof() {
    let f = fixture();
    let h = f.open("data", "w+").unwrap();
    assert_eq!(h, 1000);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 256) as u8).collect();
    assert_eq!(
        f.write(h, &data),
        GuestFileWrite {
            count: 10_000,
            eof: false
        }
    );
    // Right after a write at the end, a read finds the end (as QEMU).
    assert_eq!(f.read(h, None), (vec![], true));
    assert_eq!(f.seek(h, 0, GuestFileWhence::Value(0)).unwrap(), 0);
    assert_eq!(f.read(h, Some(0)), (vec![], false));
    let (first, eof) = f.read(h, None);
    assert_eq!((first.as_slice(), eof), (&data[..4096], false));
    let (rest, eof) = f.read(h, Some(10_000));
    assert_eq!((rest.as_slice(), eof), (&data[4096..], true));
}

#[test]
fn modes_behave_like_fopen() {
    let f = fixture();
    assert_eq!(
        f.open("missing", "r").unwrap_err(),
        format!(
            "failed to open file '{}' (mode: 'r'): No such file or directory",
            f.path("missing")
        )
    );
    assert_eq!(f.open("x", "rw").unwrap_err(), "invalid file open mode 'rw'");
    for mode in ["w", "wb", "w+", "wb+", "w+b"] {
        let h = f.open("t", mode).unwrap();
        f.write(h, b"abc");
        f.files.close(GuestFileHandleArgs { handle: h }).unwrap();
        assert_eq!(std::fs::read(f.path("t")).unwrap(), b"abc", "{mode} truncates");
    }
    for mode in ["a", "ab", "a+", "ab+", "a+b"] {
        let h = f.open("t", mode).unwrap();
        f.seek(h, 0, GuestFileWhence::Name(QgaSeek::Set)).unwrap();
        f.write(h, b"d");
        f.files.close(GuestFileHandleArgs { handle: h }).unwrap();
    }
    assert_eq!(
        std::fs::read(f.path("t")).unwrap(),
        b"abcddddd",
        "append modes append"
    );
    for mode in ["r", "rb"] {
        let h = f.open("t", mode).unwrap();
        assert_eq!(f.read(h, None).0, b"abcddddd");
        let err = f
            .files
            .write(GuestFileWriteArgs {
                handle: h,
                buf_b64: "aGk=".into(),
                count: None,
            })
            .unwrap_err();
        assert_eq!(err.to_string(), "failed to write to file: Bad file descriptor");
    }
    for mode in ["r+", "rb+", "r+b"] {
        let h = f.open("t", mode).unwrap();
        f.write(h, b"X");
        assert_eq!(f.read(h, Some(2)).0, b"bc");
    }
    assert_eq!(std::fs::read(f.path("t")).unwrap(), b"Xbcddddd");
    assert_eq!(
        f.open("nope", "r+").unwrap_err(),
        format!(
            "failed to open file '{}' (mode: 'r+'): No such file or directory",
            f.path("nope")
        )
    );
}

#[test]
fn new_files_get_the_create_mode_whatever_the_umask() {
    let f = fixture();
    let h = f.open("new", "w").unwrap();
    f.files.close(GuestFileHandleArgs { handle: h }).unwrap();
    let mode = std::fs::metadata(f.path("new")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, crate::AgentConfig::DEFAULT_CREATE_MODE);
    assert_eq!(crate::AgentConfig::DEFAULT_CREATE_MODE, 0o644);
    // An existing file keeps its permissions.
    std::fs::set_permissions(f.path("new"), std::fs::Permissions::from_mode(0o600)).unwrap();
    f.open("new", "w").unwrap();
    assert_eq!(
        std::fs::metadata(f.path("new")).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // Another table, another mode (`file-create-mode`).
    let state = Arc::new(PersistentState::load(f.dir.path(), true).unwrap());
    for mode in [0o600, 0o666, 0o000] {
        let files = FileTable::new(state.clone(), mode);
        let name = format!("new{mode:o}");
        files
            .open(GuestFileOpenArgs {
                path: f.path(&name),
                mode: Some("a".into()),
            })
            .unwrap();
        let got = std::fs::metadata(f.path(&name)).unwrap().permissions().mode() & 0o7777;
        assert_eq!(got, mode);
    }
}

#[test]
fn whence_in_every_form() {
    let f = fixture();
    let h = f.open("s", "w+").unwrap();
    f.write(h, b"0123456789");
    assert_eq!(f.seek(h, 2, GuestFileWhence::Value(0)).unwrap(), 2);
    assert_eq!(f.seek(h, 3, GuestFileWhence::Value(1)).unwrap(), 5);
    assert_eq!(f.seek(h, -1, GuestFileWhence::Value(2)).unwrap(), 9);
    assert_eq!(f.seek(h, 1, GuestFileWhence::Name(QgaSeek::Set)).unwrap(), 1);
    assert_eq!(f.seek(h, 1, GuestFileWhence::Name(QgaSeek::Cur)).unwrap(), 2);
    assert_eq!(f.seek(h, -2, GuestFileWhence::Name(QgaSeek::End)).unwrap(), 8);
    assert_eq!(f.read(h, None).0, b"89");
    assert_eq!(
        f.seek(h, 0, GuestFileWhence::Value(7)).unwrap_err(),
        "invalid whence code 7"
    );
    assert_eq!(
        f.seek(h, -5, GuestFileWhence::Value(0)).unwrap_err(),
        "failed to seek file: Invalid argument"
    );
    assert_eq!(
        f.seek(h, -50, GuestFileWhence::Value(1)).unwrap_err(),
        "failed to seek file: Invalid argument"
    );
}

#[test]
fn counts_and_base64_are_checked() {
    let f = fixture();
    let h = f.open("c", "w+").unwrap();
    let read = |count| {
        f.files
            .read(GuestFileReadArgs {
                handle: h,
                count: Some(count),
            })
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read(-1).unwrap_err(), "value '-1' is invalid for argument count");
    assert_eq!(
        read(READ_COUNT_MAX + 1).unwrap_err(),
        "value '50331649' is invalid for argument count"
    );
    assert!(read(READ_COUNT_MAX).is_ok());
    let write = |b64: &str, count| {
        f.files
            .write(GuestFileWriteArgs {
                handle: h,
                buf_b64: b64.into(),
                count,
            })
            .map_err(|e| e.to_string())
    };
    assert_eq!(
        write("!!!", None).unwrap_err(),
        "Base64 data contains invalid characters"
    );
    assert_eq!(
        write("aGVsbG8=", Some(6)).unwrap_err(),
        "value '6' is invalid for argument count"
    );
    assert_eq!(
        write("aGVsbG8=", Some(-1)).unwrap_err(),
        "value '-1' is invalid for argument count"
    );
    assert_eq!(write("aGVsbG8=", Some(2)).unwrap().count, 2);
    assert_eq!(write("aGVsbG8", None).unwrap().count, 3);
    assert_eq!(std::fs::read(f.path("c")).unwrap(), b"hehel");
}

#[test]
fn unknown_and_closed_handles() {
    let f = fixture();
    let missing = |r: Result<(), CommandError>| r.unwrap_err().to_string();
    assert_eq!(
        missing(f.files.flush(GuestFileHandleArgs { handle: 5 }).map(|_| ())),
        "handle '5' has not been found"
    );
    let h = f.open("u", "w").unwrap();
    f.files.close(GuestFileHandleArgs { handle: h }).unwrap();
    assert_eq!(
        missing(f.files.close(GuestFileHandleArgs { handle: h }).map(|_| ())),
        format!("handle '{h}' has not been found")
    );
    assert_eq!(
        missing(
            f.files
                .read(GuestFileReadArgs {
                    handle: h,
                    count: None
                })
                .map(|_| ())
        ),
        format!("handle '{h}' has not been found")
    );
}

#[test]
fn handles_are_bounded_and_never_reused() {
    let f = fixture();
    let mut handles = Vec::new();
    for _ in 0..MAX_HANDLES {
        handles.push(f.open("b", "w").unwrap());
    }
    assert!(f.open("b", "w").unwrap_err().starts_with("too many open files"));
    f.files.close(GuestFileHandleArgs { handle: handles[0] }).unwrap();
    let next = f.open("b", "w").unwrap();
    assert_eq!(
        next,
        1000 + MAX_HANDLES as i64,
        "a closed handle's number is not reused"
    );
}

#[test]
fn descriptors_are_close_on_exec_and_nonblocking() {
    let f = fixture();
    let h = f.open("fl", "w").unwrap();
    let file = f.files.find(h).unwrap();
    let fd = file.lock().unwrap();
    assert!(rustix::io::fcntl_getfd(&*fd)
        .unwrap()
        .contains(rustix::io::FdFlags::CLOEXEC));
    assert!(rustix::fs::fcntl_getfl(&*fd).unwrap().contains(OFlags::NONBLOCK));
}

/// Whether the test can make files of other owners; under CI it must.
pub(crate) fn root() -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI must run these tests as root"
    );
    eprintln!("skipping: needs root");
    false
}

#[test]
fn refusals_say_why_after_qemus_words() {
    if !root() {
        return;
    }
    let f = fixture();
    std::fs::create_dir(f.path("sticky")).unwrap();
    std::fs::set_permissions(f.path("sticky"), std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::write(f.path("victim"), b"precious").unwrap();
    std::os::unix::fs::symlink(f.path("victim"), f.path("sticky/link")).unwrap();
    std::fs::write(f.path("sticky/theirs"), b"theirs").unwrap();
    std::os::unix::fs::lchown(f.path("sticky/theirs"), Some(4242), None).unwrap();
    assert_eq!(
        f.open("sticky/link", "w").unwrap_err(),
        format!(
            "failed to open file '{}' (mode: 'w'): Permission denied: a symbolic link in a sticky \
             world-writable directory is not followed for writing",
            f.path("sticky/link")
        )
    );
    assert_eq!(
        f.open("sticky/theirs", "r+").unwrap_err(),
        format!(
            "failed to open file '{}' (mode: 'r+'): Permission denied: a regular file owned by uid 4242, \
             neither root nor the directory's owner, in a sticky world-writable directory",
            f.path("sticky/theirs")
        )
    );
    assert_eq!(std::fs::read(f.path("victim")).unwrap(), b"precious");
    assert_eq!(std::fs::read(f.path("sticky/theirs")).unwrap(), b"theirs");
    // Reading follows the link and reads the user's file: the rules are
    // for writing.
    for (name, data) in [("sticky/link", &b"precious"[..]), ("sticky/theirs", b"theirs")] {
        let h = f.open(name, "r").unwrap();
        assert_eq!(f.read(h, None).0, data);
    }
}

#[test]
fn host_text_in_errors_is_cut() {
    let f = fixture();
    let mode = "x".repeat(3000);
    let err = f.open("any", &mode).unwrap_err();
    assert_eq!(err, format!("invalid file open mode '{}...'", &mode[..1024]));
    let long = format!("/{}", "a".repeat(5000));
    for mode in ["r", "w"] {
        let err = f
            .files
            .open(GuestFileOpenArgs {
                path: long.clone(),
                mode: Some(mode.into()),
            })
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            format!(
                "failed to open file '{}...' (mode: '{mode}'): File name too long",
                &long[..1024]
            )
        );
    }
}
