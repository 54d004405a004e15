//! vCPUs, memory blocks and network: guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks, guest-set-memory-blocks, guest-get-memory-block-info, guest-network-get-interfaces, guest-network-get-route.
//!
//! (Being implemented.)

use std::sync::Arc;

use qapi_core::Registry;

use crate::Agent;

/// Registers this group's commands, in QEMU's schema order.
pub fn register_network_interfaces(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_vcpus(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_memory_blocks(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}

/// Registers this group's commands, in QEMU's schema order.
pub fn register_network_route(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = (registry, agent);
}
