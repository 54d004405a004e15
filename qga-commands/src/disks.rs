//! Disks and filesystems: guest-get-disks, guest-get-fsinfo.
//!
//! (Being implemented.)

use std::sync::Arc;

use qapi_core::Registry;

use crate::Agent;

/// Registers this group's commands, in QEMU's schema order.
pub fn register_disks(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}
