//! Filesystem trim, suspend, user password and SSH keys: guest-fstrim,
//! guest-suspend-disk, guest-suspend-ram, guest-suspend-hybrid,
//! guest-set-user-password, guest-ssh-get-authorized-keys,
//! guest-ssh-add-authorized-keys, guest-ssh-remove-authorized-keys.
//!
//! - [`fstrim`]: `FITRIM` on every device-backed mount of the agent's mount
//!   table (`/proc/self/mountinfo`).
//! - [`suspend`]: `systemctl`, then pm-utils, then `/sys/power/state`.
//! - [`password`]: `chpasswd` (`-e` for a crypted password).
//! - [`ssh`]: `~/.ssh/authorized_keys` of a user from `/etc/passwd` or
//!   `getent`.
//!
//! Each operation takes the paths it reads as parameters, so it can be
//! tested against a fake system; the registered commands use the real
//! ones (the mount table from the agent's configuration).
//!
//! Programs are looked up in `PATH`, as QEMU looks them up. An agent
//! started with no `PATH` at all (by an init that sets none, as in a bare
//! initramfs) looks in [`DEFAULT_PATH`], systemd's search path for
//! services, so that `chpasswd` in `/usr/sbin` is still found.

pub mod fstrim;
pub mod password;
pub mod ssh;
pub mod suspend;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use qapi_core::Registry;
use qga_protocol::schema::{
    Empty, GuestFstrimArgs, GuestSetUserPasswordArgs, GuestSshAddAuthorizedKeysArgs,
    GuestSshGetAuthorizedKeysArgs, GuestSshRemoveAuthorizedKeysArgs, NoArgs,
};

use crate::Agent;

pub use self::suspend::{SuspendEnv, SuspendMode};

/// Where programs are looked up when the agent has no `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The search path to give helper programs: `None` (the agent's own
/// `PATH`) when it has one, else [`DEFAULT_PATH`].
fn program_path() -> Option<OsString> {
    match std::env::var_os("PATH") {
        Some(_) => None,
        None => Some(OsString::from(DEFAULT_PATH)),
    }
}

/// `program` as it is to be run: by name (looked up in `PATH`) when the
/// agent has a `PATH` or [`DEFAULT_PATH`] holds no such file, else its
/// path in [`DEFAULT_PATH`].
fn locate(program: &str) -> OsString {
    program_path()
        .and_then(|path| {
            std::env::split_paths(&path)
                .map(|dir| dir.join(program))
                .find(|candidate| Path::new(candidate).is_file())
        })
        .map_or_else(|| OsString::from(program), PathBuf::into_os_string)
}

/// Registers `guest-fstrim`.
pub fn register_fstrim(registry: &mut Registry, agent: &Arc<Agent>) {
    let mountinfo = agent.config().mountinfo.clone();
    // A trim of a large filesystem can take minutes; abandoning it at the
    // deadline would tell the host it failed while it goes on.
    registry
        .register("guest-fstrim", move |args: GuestFstrimArgs| {
            fstrim::fstrim(&mountinfo, args.minimum)
        })
        .no_deadline();
}

/// Registers `guest-suspend-disk`, `guest-suspend-ram` and
/// `guest-suspend-hybrid`, which answer nothing on success.
pub fn register_suspend(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    for (name, mode) in [
        ("guest-suspend-disk", SuspendMode::Disk),
        ("guest-suspend-ram", SuspendMode::Ram),
        ("guest-suspend-hybrid", SuspendMode::Hybrid),
    ] {
        registry
            .register(name, move |_: NoArgs| {
                let env = SuspendEnv {
                    path: program_path(),
                    ..SuspendEnv::system()
                };
                suspend::suspend(mode, &env)
            })
            .no_success_response();
    }
}

/// Registers `guest-set-user-password`.
pub fn register_user_password(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry.register("guest-set-user-password", |args: GuestSetUserPasswordArgs| {
        let chpasswd = locate(password::CHPASSWD);
        password::set_user_password(&args.username, &args.password, args.crypted, &chpasswd)
            .map(|()| Empty {})
    });
}

/// Registers `guest-ssh-get-authorized-keys`, `guest-ssh-add-authorized-keys`
/// and `guest-ssh-remove-authorized-keys`.
pub fn register_ssh_keys(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    let users = || ssh::Users {
        passwd: PathBuf::from(ssh::PASSWD),
        getent: Some(locate(ssh::GETENT)),
    };
    registry.register(
        "guest-ssh-get-authorized-keys",
        move |args: GuestSshGetAuthorizedKeysArgs| ssh::get_authorized_keys(&users(), &args.username),
    );
    registry.register(
        "guest-ssh-add-authorized-keys",
        move |args: GuestSshAddAuthorizedKeysArgs| {
            ssh::add_authorized_keys(&users(), &args.username, &args.keys, args.reset.unwrap_or(false))
                .map(|()| Empty {})
        },
    );
    registry.register(
        "guest-ssh-remove-authorized-keys",
        move |args: GuestSshRemoveAuthorizedKeysArgs| {
            ssh::remove_authorized_keys(&users(), &args.username, &args.keys).map(|()| Empty {})
        },
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn only_fstrim_freezes_and_thaws_run_past_the_deadline() {
        let agent = Arc::new(Agent::without_state_writes(crate::AgentConfig::default()).unwrap());
        let registry = crate::full_registry(&agent);
        let unbounded: Vec<&str> = registry
            .commands()
            .filter(|c| c.is_unbounded())
            .map(|c| c.name())
            .collect();
        assert_eq!(
            unbounded,
            [
                "guest-fsfreeze-freeze",
                "guest-fsfreeze-freeze-list",
                "guest-fsfreeze-thaw",
                "guest-fstrim"
            ]
        );
    }
}
