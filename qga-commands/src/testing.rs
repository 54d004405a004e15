//! Test doubles shared by this crate's tests and the agent binary's:
//! enabled by the `test-utils` feature, never in a release build.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A loop-mounted ext4 filesystem made for a test: frozen and thawed by
/// the test, thawed and unmounted when dropped. Needs root.
#[derive(Debug)]
pub struct LoopFs {
    dir: tempfile::TempDir,
    mnt: PathBuf,
}

fn quiet(cmd: &str, args: &[&str]) -> bool {
    Command::new(cmd)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

impl LoopFs {
    /// Makes and mounts the filesystem; `None` (after saying why) when not
    /// root. Under CI, not being root is a failure.
    pub fn new() -> Option<LoopFs> {
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run the freeze tests as root"
            );
            eprintln!("skipping: freeze tests need root");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("qga-fs-").tempdir().ok()?;
        let img = dir.path().join("fs.img");
        let mnt = dir.path().join("mnt");
        std::fs::create_dir(&mnt).ok()?;
        let img = img.to_str()?;
        assert!(quiet("truncate", &["-s", "32M", img]), "truncate failed");
        assert!(
            quiet("mkfs.ext4", &["-q", "-F", img]),
            "mkfs.ext4 (e2fsprogs) is needed"
        );
        assert!(
            quiet("mount", &["-o", "loop", img, mnt.to_str()?]),
            "loop mount failed"
        );
        Some(LoopFs { dir, mnt })
    }

    /// A scratch directory beside the mount point (not on the filesystem).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The mount point.
    pub fn mnt(&self) -> String {
        self.mnt.to_string_lossy().into_owned()
    }

    /// Writes a mount table holding `extra` lines, then only this
    /// filesystem's line, and returns its path.
    pub fn mountinfo(&self, extra: &str) -> PathBuf {
        let table = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let ours: Vec<&str> = table
            .lines()
            .filter(|l| l.split(' ').nth(4) == Some(self.mnt().as_str()))
            .collect();
        assert_eq!(ours.len(), 1, "{table}");
        let path = self.dir.path().join("mountinfo");
        let written = std::fs::write(&path, format!("{extra}{}\n", ours[0]));
        assert!(written.is_ok(), "cannot write {}", path.display());
        path
    }

    /// Starts another process that writes a file on the filesystem and
    /// syncs it: it blocks while the filesystem is frozen.
    pub fn writer(&self) -> Child {
        let spawned = Command::new("sh")
            .args(["-c", &format!("echo data > '{0}/w' && sync '{0}/w'", self.mnt())])
            .spawn();
        match spawned {
            Ok(child) => child,
            Err(e) => panic!("cannot start a writer: {e}"),
        }
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        quiet("fsfreeze", &["--unfreeze", &self.mnt()]);
        quiet("umount", &[&self.mnt()]);
    }
}
