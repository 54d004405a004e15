//! Time, identity and statistics: guest-get-time, guest-set-time, guest-get-host-name, guest-get-users, guest-get-timezone, guest-get-osinfo, guest-get-diskstats, guest-get-cpustats, guest-get-load.
//!
//! (Being implemented.)

use std::sync::Arc;

use qapi_core::Registry;

use crate::Agent;

/// Registers this group's commands, in QEMU's schema order.
pub fn register_time(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_identity(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_stats(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_load(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}
