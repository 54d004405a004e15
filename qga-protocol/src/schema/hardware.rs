//! Types of vCPUs, memory blocks and network: guest-get-vcpus, guest-set-vcpus, guest-get-memory-blocks, guest-set-memory-blocks, guest-get-memory-block-info, guest-network-get-interfaces, guest-network-get-route.
//!
//! Result members are declared in the order QEMU's agent writes them (the
//! hash order of its dictionaries), so replies match byte for byte.

use serde::{Deserialize, Serialize};

/// One logical processor (QAPI `GuestLogicalProcessor`): a result of
/// `guest-get-vcpus` and an argument entry of `guest-set-vcpus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestLogicalProcessor {
    /// Whether the processor is online (wanted online, for set-vcpus).
    pub online: bool,
    /// Whether the processor can be taken offline; ignored on input.
    #[serde(rename = "can-offline", default, skip_serializing_if = "Option::is_none")]
    pub can_offline: Option<bool>,
    /// The processor's number (`N` of `/sys/devices/system/cpu/cpuN`).
    #[serde(rename = "logical-id")]
    pub logical_id: i64,
}

/// Arguments of `guest-set-vcpus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSetVcpusArgs {
    /// The processors to bring online or take offline, in order.
    pub vcpus: Vec<GuestLogicalProcessor>,
}

/// One memory block (QAPI `GuestMemoryBlock`): a result of
/// `guest-get-memory-blocks` and an argument entry of
/// `guest-set-memory-blocks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestMemoryBlock {
    /// Whether the block is online (wanted online, for set).
    pub online: bool,
    /// Whether the block can be taken offline; ignored on input.
    #[serde(rename = "can-offline", default, skip_serializing_if = "Option::is_none")]
    pub can_offline: Option<bool>,
    /// The block's number (`N` of `/sys/devices/system/memory/memoryN`).
    #[serde(rename = "phys-index")]
    pub phys_index: u64,
}

/// Arguments of `guest-set-memory-blocks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GuestSetMemoryBlocksArgs {
    /// The blocks to bring online or take offline, in order.
    #[serde(rename = "mem-blks")]
    pub mem_blks: Vec<GuestMemoryBlock>,
}

/// The outcome for one block of `guest-set-memory-blocks` (QAPI
/// `GuestMemoryBlockResponseType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GuestMemoryBlockResponseType {
    /// The block is in the wanted state (or no change was needed).
    Success,
    /// There is no such block.
    NotFound,
    /// The guest cannot change this block's state.
    OperationNotSupported,
    /// Changing the block's state failed.
    OperationFailed,
}

/// The result for one block of `guest-set-memory-blocks` (QAPI
/// `GuestMemoryBlockResponse`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryBlockResponse {
    /// The outcome.
    pub response: GuestMemoryBlockResponseType,
    /// The `errno` of the failure, when there was one.
    #[serde(rename = "error-code", default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<i64>,
    /// The block, as given.
    #[serde(rename = "phys-index")]
    pub phys_index: u64,
}

/// Result of `guest-get-memory-block-info`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestMemoryBlockInfo {
    /// Size of every memory block, in bytes.
    pub size: u64,
}

/// The family of an address (QAPI `GuestIpAddressType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GuestIpAddressType {
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

/// One address of an interface (QAPI `GuestIpAddress`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestIpAddress {
    /// The address family.
    #[serde(rename = "ip-address-type")]
    pub ip_address_type: GuestIpAddressType,
    /// The address in its usual text form.
    #[serde(rename = "ip-address")]
    pub ip_address: String,
    /// The network prefix length.
    pub prefix: i64,
}

/// Traffic counters of an interface (QAPI `GuestNetworkInterfaceStat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetworkInterfaceStat {
    /// Packets sent.
    #[serde(rename = "tx-packets")]
    pub tx_packets: u64,
    /// Send errors.
    #[serde(rename = "tx-errs")]
    pub tx_errs: u64,
    /// Bytes received.
    #[serde(rename = "rx-bytes")]
    pub rx_bytes: u64,
    /// Received packets dropped.
    #[serde(rename = "rx-dropped")]
    pub rx_dropped: u64,
    /// Packets received.
    #[serde(rename = "rx-packets")]
    pub rx_packets: u64,
    /// Receive errors.
    #[serde(rename = "rx-errs")]
    pub rx_errs: u64,
    /// Bytes sent.
    #[serde(rename = "tx-bytes")]
    pub tx_bytes: u64,
    /// Packets dropped on sending.
    #[serde(rename = "tx-dropped")]
    pub tx_dropped: u64,
}

/// One network interface (QAPI `GuestNetworkInterface`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetworkInterface {
    /// The interface's name (or an IPv4 address label).
    pub name: String,
    /// Its addresses, if it has any.
    #[serde(rename = "ip-addresses", default, skip_serializing_if = "Option::is_none")]
    pub ip_addresses: Option<Vec<GuestIpAddress>>,
    /// Its traffic counters (reported for interfaces with an address).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistics: Option<GuestNetworkInterfaceStat>,
    /// Its hardware address, `xx:xx:xx:xx:xx:xx`.
    #[serde(rename = "hardware-address", default, skip_serializing_if = "Option::is_none")]
    pub hardware_address: Option<String>,
}

/// One route of the kernel's routing tables (QAPI `GuestNetworkRoute`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestNetworkRoute {
    /// Route flags (`RTF_*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<u64>,
    /// Source address (IPv6 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// Route metric.
    pub metric: i64,
    /// Reference count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refcnt: Option<i64>,
    /// TCP window size (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<i64>,
    /// IP version, 4 or 6.
    pub version: i64,
    /// Next hop address (IPv6 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nexthop: Option<String>,
    /// The egress interface.
    pub iface: String,
    /// Destination network or host.
    pub destination: String,
    /// Destination prefix length, as decimal text (IPv6 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desprefixlen: Option<String>,
    /// Initial round-trip time (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub irtt: Option<i64>,
    /// Gateway address (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// Source prefix length, as decimal text (IPv6 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub srcprefixlen: Option<String>,
    /// Use count.
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<i64>,
    /// Maximum transfer unit (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtu: Option<i64>,
    /// Destination mask (IPv4 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mask: Option<String>,
}
