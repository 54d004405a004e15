//! `guest-set-user-password`: set an account's password with `chpasswd`.
//!
//! The password arrives base64-encoded (decoded as QEMU decodes it, see
//! `qga_sys::base64`) and is cut at its first NUL byte, as QEMU's C
//! string ends there. A newline in it, or a newline or colon in the user
//! name, would let the host write more than one `chpasswd` record and is
//! refused. `chpasswd` (looked up in `PATH`; `chpasswd -e` for an already
//! encrypted password) then reads `USER:PASSWORD\n` on its standard input;
//! its failure is reported as `run::run_command` words it.

use std::ffi::OsStr;

use qga_protocol::schema::{Empty, GuestSetUserPasswordArgs};
use qga_sys::base64;
use qga_sys::mutf8::system_bytes;

use crate::agent::Agent;
use crate::error::CommandError;
use crate::run::{locate, run_command};

/// The program QEMU runs, looked up in `PATH`.
const CHPASSWD: &str = "chpasswd";

/// `guest-set-user-password`.
pub(crate) fn set(_: &Agent, args: GuestSetUserPasswordArgs) -> Result<Empty, CommandError> {
    let chpasswd = locate(CHPASSWD);
    set_user_password(&args.username, &args.password, args.crypted, &chpasswd).map(|()| Empty {})
}

/// Sets `username`'s password to the base64 `password`, already encrypted
/// if `crypted`, by running `chpasswd` (the program named so, or a path).
fn set_user_password(
    username: &str,
    password: &str,
    crypted: bool,
    chpasswd: &OsStr,
) -> Result<(), CommandError> {
    let mut raw = base64::decode(password)?;
    if let Some(nul) = raw.iter().position(|&b| b == 0) {
        raw.truncate(nul);
    }
    if raw.contains(&b'\n') {
        return Err(CommandError::PasswordCharacters);
    }
    if username.contains(['\n', ':']) {
        return Err(CommandError::UsernameCharacters);
    }
    log::info!(
        "guest-set-user-password called, username: {}",
        qapi_core::echo(username)
    );
    let mut record = Vec::with_capacity(username.len() + raw.len() + 2);
    record.extend_from_slice(&system_bytes(username));
    record.push(b':');
    record.extend_from_slice(&raw);
    record.push(b'\n');
    let args: &[&OsStr] = if crypted { &[OsStr::new("-e")] } else { &[] };
    run_command(chpasswd, args, Some(&record), "set user password")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};

    /// A stand-in `chpasswd` recording its arguments and input in `log`,
    /// exiting with `exit` after printing `say` to standard error.
    fn stand_in(dir: &Path, exit: i32, say: &str) -> PathBuf {
        let path = dir.join("chpasswd");
        let log = dir.join("log");
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\necho \"args:$*\" >> '{0}'\ncat >> '{0}'\n[ -n '{say}' ] && echo '{say}' >&2\nexit {exit}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn log(dir: &Path) -> String {
        std::fs::read_to_string(dir.join("log")).unwrap_or_default()
    }

    #[test]
    fn feeds_chpasswd_one_record() {
        let dir = tempfile::tempdir().unwrap();
        let program = stand_in(dir.path(), 0, "");
        // "s3cret" and "$6$salt$hash"
        set_user_password("tester", "czNjcmV0", false, program.as_os_str()).unwrap();
        set_user_password("tester", "JDYkc2FsdCRoYXNo", true, program.as_os_str()).unwrap();
        assert_eq!(
            log(dir.path()),
            "args:\ntester:s3cret\nargs:-e\ntester:$6$salt$hash\n"
        );
    }

    #[test]
    fn password_is_cut_at_nul_and_decoded_leniently() {
        let dir = tempfile::tempdir().unwrap();
        let program = stand_in(dir.path(), 0, "");
        // "ab\0\ncd": the newline after the NUL is not part of the password.
        set_user_password("u", "YWIACmNk", false, program.as_os_str()).unwrap();
        // Unpadded and wrapped base64 is accepted, as QEMU accepts it.
        set_user_password("u", "YWJj\nZGVm", false, program.as_os_str()).unwrap();
        assert_eq!(log(dir.path()), "args:\nu:ab\nargs:\nu:abcdef\n");
    }

    #[test]
    fn checks_come_before_anything_runs() {
        let dir = tempfile::tempdir().unwrap();
        let program = stand_in(dir.path(), 0, "");
        let err = |user: &str, password: &str| {
            set_user_password(user, password, false, program.as_os_str())
                .unwrap_err()
                .to_string()
        };
        assert_eq!(err("u", "!!"), "Base64 data contains invalid characters");
        assert_eq!(err("u", "YQpi"), "forbidden characters in raw password");
        assert_eq!(err("a:b", "YWI="), "forbidden characters in username");
        assert_eq!(err("a\nb", "YWI="), "forbidden characters in username");
        // The password is checked first.
        assert_eq!(err("a:b", "YQpi"), "forbidden characters in raw password");
        assert_eq!(log(dir.path()), "");
    }

    #[test]
    fn chpasswd_failures_read_like_qemu() {
        let dir = tempfile::tempdir().unwrap();
        let program = stand_in(dir.path(), 1, "chpasswd: unknown user nobody2");
        assert_eq!(
            set_user_password("nobody2", "eA==", false, program.as_os_str())
                .unwrap_err()
                .to_string(),
            "child process has failed to set user password: chpasswd: unknown user nobody2\n"
        );
        let missing = dir.path().join("missing");
        assert_eq!(
            set_user_password("u", "eA==", false, missing.as_os_str()).unwrap_err().to_string(),
            format!(
                "child process has failed to set user password: failed to exec '{}': No such file or directory\n",
                missing.display()
            )
        );
    }
}
