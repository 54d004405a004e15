//! `guest-network-get-interfaces` and `guest-network-get-route`, from the
//! sources QEMU's agent reads:
//! - interfaces: the kernel's link and address dumps over a route netlink
//!   socket (what glibc's `getifaddrs` reads, `qga_sys::netlink`), counters
//!   from `proc/net/dev` ([`interfaces`]);
//! - routes: `proc/net/route` and `proc/net/ipv6_route` ([`route`]).

mod interfaces;
mod route;

use qga_protocol::schema::{GuestNetworkInterface, GuestNetworkRoute, NoArgs};

use crate::agent::Agent;
use crate::error::CommandError;

/// `guest-network-get-interfaces`.
pub(crate) fn interfaces(agent: &Agent, _: NoArgs) -> Result<Vec<GuestNetworkInterface>, CommandError> {
    interfaces::get_interfaces(&agent.roots().proc)
}

/// `guest-network-get-route`.
pub(crate) fn routes(agent: &Agent, _: NoArgs) -> Result<Vec<GuestNetworkRoute>, CommandError> {
    route::get_routes(&agent.roots().proc)
}
