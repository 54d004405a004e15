//! Test doubles shared by this crate's tests and the agent binary's:
//! enabled by the `test-utils` feature, never in a release build.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// A loop-mounted ext4 filesystem made for a test: frozen and thawed by
/// the test, thawed and unmounted when dropped. Needs root.
///
/// While one exists, [`MachineThawGuard::acquire`] waits: a test that lets
/// an agent thaw every filesystem of the machine's own mount table (QEMU's
/// agent, in the differential tests, cannot be given another) would
/// otherwise thaw a loop filesystem another test has frozen.
#[derive(Debug)]
pub struct LoopFs {
    dir: tempfile::TempDir,
    mnt: PathBuf,
    _shared: std::fs::File,
}

/// The lock file between [`LoopFs`] (shared) and [`MachineThawGuard`]
/// (exclusive), for every test process of the machine.
fn freeze_lock(operation: rustix::fs::FlockOperation) -> std::fs::File {
    let path = std::env::temp_dir().join("qga-test-freeze.lock");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path);
    let file = match file {
        Ok(file) => file,
        Err(e) => panic!("cannot open {}: {e}", path.display()),
    };
    if let Err(e) = rustix::fs::flock(&file, operation) {
        panic!("cannot lock {}: {e}", path.display());
    }
    file
}

/// Held by a test that has an agent thaw the machine's real filesystems:
/// no [`LoopFs`] exists meanwhile (see there).
#[derive(Debug)]
pub struct MachineThawGuard {
    _exclusive: std::fs::File,
}

impl MachineThawGuard {
    /// Waits until no test holds a loop filesystem, and keeps new ones from
    /// being made until dropped.
    pub fn acquire() -> MachineThawGuard {
        MachineThawGuard {
            _exclusive: freeze_lock(rustix::fs::FlockOperation::LockExclusive),
        }
    }
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
        let shared = freeze_lock(rustix::fs::FlockOperation::LockShared);
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
        Some(LoopFs {
            dir,
            mnt,
            _shared: shared,
        })
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

    /// Writes an fsfreeze hook beside the filesystem that appends its
    /// argument to `hook.log` there, then runs the shell code `on_freeze`
    /// when called with `freeze`; returns the hook and its log.
    pub fn logging_hook(&self, on_freeze: &str) -> (PathBuf, PathBuf) {
        use std::os::unix::fs::PermissionsExt;
        let log = self.dir().join("hook.log");
        let hook = self.dir().join("hook");
        let script = format!(
            "#!/bin/sh\necho \"$1\" >> '{}'\nif [ \"$1\" = freeze ]; then\n:\n{on_freeze}\nfi\nexit 0\n",
            log.display()
        );
        let written = std::fs::write(&hook, script)
            .and_then(|()| std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)));
        if let Err(e) = written {
            panic!("cannot write {}: {e}", hook.display());
        }
        (hook, log)
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

/// An unprivileged user account made for a test (with `useradd`), with a
/// home directory under `/home`; removed with its home (`userdel -r`) when
/// dropped. Tests use it to set the traps a guest's users can set: files,
/// symbolic links and FIFOs made as that user. Needs root.
#[derive(Debug)]
pub struct GuestUser {
    name: String,
    uid: u32,
    gid: u32,
    home: PathBuf,
}

/// Runs an account tool, trying again while another one holds the
/// password file's lock (tests run in parallel).
fn account_tool(program: &str, args: &[&str]) -> bool {
    for _ in 0..200 {
        let output = Command::new(program).args(args).stdin(Stdio::null()).output();
        match output {
            Ok(out) if out.status.success() => return true,
            Ok(out) if String::from_utf8_lossy(&out.stderr).contains("lock") => {
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Ok(out) => {
                eprintln!("{program} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
                return false;
            }
            Err(e) => {
                eprintln!("{program}: {e}");
                return false;
            }
        }
    }
    false
}

impl GuestUser {
    /// Creates a user whose name starts with `qga` and holds `tag` (a few
    /// letters naming the test); `None` (after saying why) when not root.
    /// Under CI, not being root is a failure.
    pub fn new(tag: &str) -> Option<GuestUser> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        if !rustix::process::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must run these tests as root"
            );
            eprintln!("skipping: tests with a guest user need root");
            return None;
        }
        let tag: String = tag.chars().filter(char::is_ascii_alphanumeric).take(8).collect();
        let name = format!(
            "qga{tag}{}x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::SeqCst)
        );
        // A user left by an earlier run that was killed: remove it first.
        let _ = account_tool("userdel", &["-r", "-f", &name]);
        assert!(
            account_tool("useradd", &["-m", "-U", "-s", "/bin/sh", &name]),
            "useradd {name} failed"
        );
        let passwd = std::fs::read("/etc/passwd").unwrap_or_default();
        let Some(qga_sys::passwd::Passwd { uid, gid, home }) =
            qga_sys::passwd::find_user(&passwd, name.as_bytes())
        else {
            panic!("{name} is not in /etc/passwd after useradd");
        };
        Some(GuestUser { uid, gid, home, name })
    }

    /// The user name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The user id.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The primary group id.
    pub fn gid(&self) -> u32 {
        self.gid
    }

    /// The home directory.
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// Runs `sh -c script` as this user (no supplementary groups, `HOME`
    /// set, in the home directory); whether it succeeded.
    pub fn try_sh(&self, script: &str) -> bool {
        let status = Command::new("setpriv")
            .arg(format!("--reuid={}", self.uid))
            .arg(format!("--regid={}", self.gid))
            .args(["--clear-groups", "sh", "-c", script])
            .env("HOME", &self.home)
            .current_dir(&self.home)
            .stdin(Stdio::null())
            .status();
        match status {
            Ok(status) => status.success(),
            Err(e) => panic!("cannot run setpriv (util-linux): {e}"),
        }
    }

    /// Runs `sh -c script` as this user; panics if it fails.
    #[track_caller]
    pub fn sh(&self, script: &str) {
        assert!(self.try_sh(script), "as {}: `{script}` failed", self.name);
    }
}

impl Drop for GuestUser {
    fn drop(&mut self) {
        let _ = Command::new("pkill")
            .args(["-KILL", "-u", &self.name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !account_tool("userdel", &["-r", "-f", &self.name]) {
            eprintln!("could not remove test user {}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guest_user_acts_with_its_own_ids() {
        let Some(user) = GuestUser::new("self") else {
            return;
        };
        assert!(user.uid() > 0);
        assert!(user.home().is_dir());
        user.sh("test \"$(id -u)\" = \"$(stat -c %u .)\" && touch mine");
        assert!(!user.try_sh("touch /etc/qga-test-not-allowed"));
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(user.home().join("mine")).unwrap();
        assert_eq!((meta.uid(), meta.gid()), (user.uid(), user.gid()));
        let name = user.name().to_string();
        let home = user.home().to_path_buf();
        drop(user);
        assert!(!home.exists());
        assert!(!std::fs::read_to_string("/etc/passwd").unwrap().contains(&name));
    }
}
