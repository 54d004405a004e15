//! Filesystem trim, suspend, user password and SSH keys: guest-fstrim, guest-suspend-disk, guest-suspend-ram, guest-suspend-hybrid, guest-set-user-password, guest-ssh-get-authorized-keys, guest-ssh-add-authorized-keys, guest-ssh-remove-authorized-keys.
//!
//! (Being implemented.)

use std::sync::Arc;

use qapi_core::Registry;

use crate::Agent;

/// Registers this group's commands, in QEMU's schema order.
pub fn register_fstrim(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_suspend(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_user_password(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_ssh_keys(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}
