//! vCPUs, memory blocks and network: guest-get-vcpus, guest-set-vcpus,
//! guest-get-memory-blocks, guest-set-memory-blocks,
//! guest-get-memory-block-info, guest-network-get-interfaces,
//! guest-network-get-route.
//!
//! Sources, as QEMU's agent reads them:
//! - vCPUs: `/sys/devices/system/cpu/cpuN/online` ([`vcpus`]);
//! - memory blocks: `/sys/devices/system/memory/memoryN/{state,removable}`
//!   and `block_size_bytes` ([`memory`]);
//! - interfaces: the kernel's link and address dumps over a route netlink
//!   socket (what glibc's `getifaddrs` reads), counters from
//!   `/proc/net/dev` ([`interfaces`]);
//! - routes: `/proc/net/route` and `/proc/net/ipv6_route` ([`route`]).
//!
//! Every function takes the root of `/sys` or `/proc` so tests can run it
//! on a fake tree; the registered commands use the real ones.

pub mod interfaces;
pub mod memory;
mod netlink;
pub mod route;
mod scan;
pub mod vcpus;

use std::path::Path;
use std::sync::Arc;

use qapi_core::Registry;
use qga_protocol::schema::{GuestSetMemoryBlocksArgs, GuestSetVcpusArgs, NoArgs};

use crate::error::CommandError;
use crate::Agent;

/// The real `/sys`.
const SYS: &str = "/sys";
/// The real `/proc`.
const PROC: &str = "/proc";

/// Registers `guest-network-get-interfaces`.
pub fn register_network_interfaces(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-network-get-interfaces", |_: NoArgs| {
            interfaces::get_interfaces(Path::new(PROC))
        })
        .instant();
}

/// Registers `guest-get-vcpus` and `guest-set-vcpus`.
pub fn register_vcpus(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-get-vcpus", |_: NoArgs| vcpus::get_vcpus(Path::new(SYS)))
        .instant();
    registry.register("guest-set-vcpus", |args: GuestSetVcpusArgs| {
        vcpus::set_vcpus(Path::new(SYS), &args.vcpus)
    });
}

/// Registers `guest-get-memory-blocks`, `guest-set-memory-blocks` and
/// `guest-get-memory-block-info`.
pub fn register_memory_blocks(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-get-memory-blocks", |_: NoArgs| {
            memory::get_memory_blocks(Path::new(SYS))
        })
        .instant();
    registry.register("guest-set-memory-blocks", |args: GuestSetMemoryBlocksArgs| {
        Ok::<_, CommandError>(memory::set_memory_blocks(Path::new(SYS), &args.mem_blks))
    });
    registry
        .register("guest-get-memory-block-info", |_: NoArgs| {
            memory::get_memory_block_info(Path::new(SYS))
        })
        .instant();
}

/// Registers `guest-network-get-route`.
pub fn register_network_route(registry: &mut Registry, agent: &Arc<Agent>) {
    let _ = agent;
    registry
        .register("guest-network-get-route", |_: NoArgs| {
            route::get_routes(Path::new(PROC))
        })
        .instant();
}

/// `root` (a `/sys` or `/proc`) joined with an absolute `path`, as text for
/// error messages: `/sys` + `/devices/system/cpu` is `/sys/devices/system/cpu`.
fn under(root: &Path, path: &str) -> String {
    format!("{}{path}", root.display())
}
