//! `guest-get-vcpus` and `guest-set-vcpus` over
//! `<sys>/devices/system/cpu/cpuN/online`.
//!
//! A processor without an `online` file (usually cpu0) is online and cannot
//! be taken offline. Setting processes the entries in order and stops at
//! the first failure: the reply is how many succeeded, or the failure
//! itself when the very first entry fails.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use qga_protocol::schema::{GuestLogicalProcessor, GuestSetVcpusArgs, NoArgs};
use qga_sys::scan::Scanner;
use qga_sys::sysfs::{open_attr, read_attr, write_attr, Access, AttrError};
use rustix::fs::{Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::agent::Agent;
use crate::config::SystemRoots;
use crate::error::{Call, CommandError};

/// `guest-get-vcpus`.
pub(crate) fn get(agent: &Agent, _: NoArgs) -> Result<Vec<GuestLogicalProcessor>, CommandError> {
    get_vcpus(&agent.roots().sys)
}

/// `guest-set-vcpus`.
pub(crate) fn set(agent: &Agent, args: GuestSetVcpusArgs) -> Result<i64, CommandError> {
    set_vcpus(&agent.roots().sys, &args.vcpus)
}

/// The directory of processor `id`, with QEMU's trailing slash (it shows in
/// error messages: `open(".../cpu3//online")`).
fn cpu_dir(sys: &Path, id: i64) -> String {
    SystemRoots::under(sys, &format!("/devices/system/cpu/cpu{id}/"))
}

/// The number in a `cpu<N>` directory name, read as `sscanf("cpu%ld")`
/// reads it (spaces and a sign allowed before the digits, anything after
/// them ignored); `None` for other names.
fn cpu_number(name: &[u8]) -> Option<i64> {
    let rest = name.strip_prefix(b"cpu")?;
    Scanner::new(rest).signed()
}

fn open_dir(path: &str) -> Result<OwnedFd, CommandError> {
    rustix::fs::openat(
        CWD,
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| CommandError::call(Call::Open, path, e))
}

/// Opens `online` and reads whether its first byte says online;
/// `Ok(None)` when the file is missing.
fn read_online(dir: &OwnedFd, dir_path: &str, write: bool) -> Result<Option<(OwnedFd, bool)>, CommandError> {
    let failed = |e| CommandError::attr(format!("{dir_path}/online"), e);
    let access = if write { Access::ReadWrite } else { Access::Read };
    let fd = match open_attr(dir, "online", access) {
        Ok(fd) => fd,
        Err(AttrError::Open(Errno::NOENT)) => return Ok(None),
        Err(e) => return Err(failed(e)),
    };
    let status = read_attr(&fd, 1).map_err(failed)?;
    Ok(Some((fd, status.first() != Some(&b'0'))))
}

/// The state of processor `id`.
fn read_vcpu(sys: &Path, id: i64) -> Result<GuestLogicalProcessor, CommandError> {
    let path = cpu_dir(sys, id);
    let dir = open_dir(&path)?;
    let (online, can_offline) = match read_online(&dir, &path, false)? {
        None => (true, false),
        Some((_, online)) => (online, true),
    };
    Ok(GuestLogicalProcessor {
        online,
        can_offline: Some(can_offline),
        logical_id: id,
    })
}

/// Brings processor `vcpu.logical_id` online or takes it offline.
fn write_vcpu(sys: &Path, vcpu: &GuestLogicalProcessor) -> Result<(), CommandError> {
    let path = cpu_dir(sys, vcpu.logical_id);
    let dir = open_dir(&path)?;
    match read_online(&dir, &path, true)? {
        None if !vcpu.online => Err(CommandError::CannotOffline(vcpu.logical_id)),
        // Without an `online` file a processor is always online.
        None => Ok(()),
        Some((fd, online)) => {
            if vcpu.online == online {
                return Ok(());
            }
            let wanted = if vcpu.online { b"1" } else { b"0" };
            write_attr(&fd, wanted).map_err(|e| CommandError::attr(format!("{path}/online"), e))
        }
    }
}

/// `guest-get-vcpus`: every `cpuN` directory under
/// `<sys>/devices/system/cpu`, in directory order.
fn get_vcpus(sys: &Path) -> Result<Vec<GuestLogicalProcessor>, CommandError> {
    let cpu_root = SystemRoots::under(sys, "/devices/system/cpu");
    let entries =
        std::fs::read_dir(&cpu_root).map_err(|e| CommandError::ListEntries(cpu_root.clone(), e.into()))?;
    let mut vcpus = Vec::new();
    for entry in entries {
        // A failing directory read ends the listing, as in QEMU.
        let Ok(entry) = entry else { break };
        let name = entry.file_name();
        if let Some(id) = cpu_number(OsStr::as_bytes(&name)) {
            vcpus.push(read_vcpu(sys, id)?);
        }
    }
    Ok(vcpus)
}

/// `guest-set-vcpus`: applies the entries in order, stopping at the first
/// failure. Returns how many were applied; the failure is the error only if
/// it happened on the first entry.
fn set_vcpus(sys: &Path, vcpus: &[GuestLogicalProcessor]) -> Result<i64, CommandError> {
    let mut done: i64 = 0;
    for vcpu in vcpus {
        if let Err(e) = write_vcpu(sys, vcpu) {
            if done == 0 {
                return Err(e);
            }
            log::debug!("guest-set-vcpus stopped after {done} processors: {e}");
            break;
        }
        done += 1;
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn vcpu(id: i64, online: bool) -> GuestLogicalProcessor {
        GuestLogicalProcessor {
            online,
            can_offline: None,
            logical_id: id,
        }
    }

    /// A fake `/sys` with cpu0 (no `online` file), cpu1 online, cpu2
    /// offline and some non-processor entries.
    fn fake_sys() -> tempfile::TempDir {
        let sys = tempfile::tempdir().unwrap();
        let cpu = sys.path().join("devices/system/cpu");
        for dir in ["cpu0", "cpu1", "cpu2", "cpufreq", "cpuidle", "power"] {
            fs::create_dir_all(cpu.join(dir)).unwrap();
        }
        fs::write(cpu.join("cpu1/online"), "1\n").unwrap();
        fs::write(cpu.join("cpu2/online"), "0\n").unwrap();
        fs::write(cpu.join("online"), "0-1\n").unwrap();
        sys
    }

    fn online_file(sys: &Path, id: i64) -> String {
        fs::read_to_string(sys.join(format!("devices/system/cpu/cpu{id}/online"))).unwrap()
    }

    #[test]
    fn names_are_read_as_scanf_reads_them() {
        assert_eq!(cpu_number(b"cpu0"), Some(0));
        assert_eq!(cpu_number(b"cpu12"), Some(12));
        assert_eq!(cpu_number(b"cpu007x"), Some(7));
        assert_eq!(cpu_number(b"cpufreq"), None);
        assert_eq!(cpu_number(b"cpuidle"), None);
        assert_eq!(cpu_number(b"online"), None);
        assert_eq!(cpu_number(b"cpu"), None);
    }

    #[test]
    fn get_reports_every_processor() {
        let sys = fake_sys();
        let mut got = get_vcpus(sys.path()).unwrap();
        got.sort_by_key(|v| v.logical_id);
        assert_eq!(
            got,
            vec![
                GuestLogicalProcessor {
                    online: true,
                    can_offline: Some(false),
                    logical_id: 0
                },
                GuestLogicalProcessor {
                    online: true,
                    can_offline: Some(true),
                    logical_id: 1
                },
                GuestLogicalProcessor {
                    online: false,
                    can_offline: Some(true),
                    logical_id: 2
                },
            ]
        );
    }

    #[test]
    fn get_fails_like_qemu() {
        let sys = tempfile::tempdir().unwrap();
        let root = sys.path().display().to_string();
        assert_eq!(
            get_vcpus(sys.path()).unwrap_err().to_string(),
            format!("failed to list entries: {root}/devices/system/cpu: No such file or directory")
        );
        let cpu = sys.path().join("devices/system/cpu/cpu4");
        fs::create_dir_all(&cpu).unwrap();
        fs::write(cpu.join("online"), "").unwrap();
        assert_eq!(
            get_vcpus(sys.path()).unwrap_err().to_string(),
            format!("pread(\"{root}/devices/system/cpu/cpu4//online\"): unexpected EOF")
        );
    }

    #[test]
    fn set_changes_only_what_differs() {
        let sys = fake_sys();
        let done = set_vcpus(sys.path(), &[vcpu(1, false), vcpu(2, true), vcpu(0, true)]).unwrap();
        assert_eq!(done, 3);
        assert_eq!(online_file(sys.path(), 1), "0\n");
        assert_eq!(online_file(sys.path(), 2), "1\n");
        // Already in the wanted state: the file is left alone.
        fs::write(sys.path().join("devices/system/cpu/cpu1/online"), "0 untouched").unwrap();
        assert_eq!(set_vcpus(sys.path(), &[vcpu(1, false)]).unwrap(), 1);
        assert_eq!(online_file(sys.path(), 1), "0 untouched");
    }

    #[test]
    fn set_stops_at_the_first_failure() {
        let sys = fake_sys();
        let root = sys.path().display().to_string();
        // First entry fails: its error is the reply, nothing else is done.
        assert_eq!(
            set_vcpus(sys.path(), &[vcpu(0, false), vcpu(1, false)])
                .unwrap_err()
                .to_string(),
            "logical processor #0 can't be offlined"
        );
        assert_eq!(online_file(sys.path(), 1), "1\n");
        assert_eq!(
            set_vcpus(sys.path(), &[vcpu(9, true)]).unwrap_err().to_string(),
            format!("open(\"{root}/devices/system/cpu/cpu9/\"): No such file or directory")
        );
        // A later failure: the count of entries done before it.
        assert_eq!(
            set_vcpus(sys.path(), &[vcpu(2, true), vcpu(0, false), vcpu(1, false)]).unwrap(),
            1
        );
        assert_eq!(online_file(sys.path(), 2), "1\n");
        assert_eq!(online_file(sys.path(), 1), "1\n");
        // Empty list: nothing to do.
        assert_eq!(set_vcpus(sys.path(), &[]).unwrap(), 0);
    }
}
