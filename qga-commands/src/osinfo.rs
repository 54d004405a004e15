//! `guest-get-osinfo`: the kernel from `uname(2)`, the distribution from
//! the `os-release` file.
//!
//! The file is `$QGA_OS_RELEASE` when set, else `etc/os-release`, else
//! `usr/lib/os-release` (see `SystemRoots::os_release_files`), read by
//! `qga_sys::osrelease`. As QEMU's agent, it is read as a glib key file
//! (its contents under a `[os-release]` group): a file that is not UTF-8
//! or has a line glib refuses gives no distribution members at all. A
//! value in double quotes loses them and the backslashes before `$ ' " \
//! \``; any other value is cut at its first space and at its first `;`.
//! A value whose closing quote is missing reads as QEMU's agent leaves it.

use std::path::{Path, PathBuf};

use qga_protocol::schema::{GuestOSInfo, NoArgs};
use qga_sys::fs::read_capped;
use qga_sys::osrelease::OsRelease;

use crate::agent::Agent;
use crate::error::CommandError;

/// Largest os-release file read.
const MAX_FILE: u64 = 1 << 20;

/// The os-release keys of the file at `path`; `None` (and a debug
/// message) when it cannot be read or parsed.
fn load(path: &Path) -> Option<OsRelease> {
    let keys = read_capped(path, MAX_FILE)
        .ok()
        .and_then(|data| OsRelease::parse(&data).ok());
    if keys.is_none() {
        log::debug!("guest-get-osinfo: cannot use '{}'", path.display());
    }
    keys
}

/// The os-release keys of the first usable file of `files`.
fn os_release(files: &[PathBuf]) -> Option<OsRelease> {
    files.iter().find_map(|path| load(path))
}

/// Fills the distribution members of `info` from os-release `keys`.
fn fill(info: &mut GuestOSInfo, keys: &OsRelease) {
    let get = |key: &str| keys.value(key);
    info.id = get("ID");
    info.name = get("NAME");
    info.pretty_name = get("PRETTY_NAME");
    info.version = get("VERSION");
    info.version_id = get("VERSION_ID");
    info.variant = get("VARIANT");
    info.variant_id = get("VARIANT_ID");
}

/// `guest-get-osinfo`.
pub(crate) fn osinfo(agent: &Agent, _: NoArgs) -> Result<GuestOSInfo, CommandError> {
    let uname = rustix::system::uname();
    let text = |s: &std::ffi::CStr| Some(s.to_string_lossy().into_owned());
    let mut info = GuestOSInfo {
        kernel_release: text(uname.release()),
        kernel_version: text(uname.version()),
        machine: text(uname.machine()),
        ..GuestOSInfo::default()
    };
    if let Some(keys) = os_release(&agent.roots().os_release_files()) {
        fill(&mut info, &keys);
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_from_their_keys() {
        let keys = OsRelease::parse(
            b"ID=i\nNAME=n\nPRETTY_NAME=\"p q\"\nVERSION=v\nVERSION_ID=vi\nVARIANT=va\nVARIANT_ID=vai\nOTHER=o\n",
        )
        .unwrap();
        let mut info = GuestOSInfo::default();
        fill(&mut info, &keys);
        let got = [
            info.id,
            info.name,
            info.pretty_name,
            info.version,
            info.version_id,
            info.variant,
            info.variant_id,
        ];
        assert_eq!(
            got.map(Option::unwrap_or_default),
            ["i", "n", "p q", "v", "vi", "va", "vai"]
        );
    }

    #[test]
    fn files_and_fallback() {
        let dir = tempfile::tempdir().unwrap();
        let etc = dir.path().join("etc-os-release");
        let lib = dir.path().join("lib-os-release");
        std::fs::write(&lib, "ID=lib\n").unwrap();
        let paths = [etc.clone(), lib.clone()];
        let id = |files: &[PathBuf]| os_release(files).and_then(|k| k.value("ID"));
        // Missing, then unusable: the second file is used.
        assert_eq!(id(&paths).as_deref(), Some("lib"));
        std::fs::write(&etc, "broken\n").unwrap();
        assert_eq!(id(&paths).as_deref(), Some("lib"));
        std::fs::write(&etc, "ID=etc\n").unwrap();
        assert_eq!(id(&paths).as_deref(), Some("etc"));
        // An override is used alone (see `SystemRoots::os_release_files`).
        assert_eq!(id(&[dir.path().join("none")]), None);
        assert_eq!(id(&[dir.path().to_path_buf()]), None);
        let roots = crate::SystemRoots {
            os_release: Some(lib.clone()),
            ..crate::SystemRoots::default()
        };
        assert_eq!(roots.os_release_files(), [lib]);
    }
}
