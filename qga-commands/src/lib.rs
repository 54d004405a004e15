//! The guest operations of the QEMU Guest Agent, registered into a
//! [`qapi_core::Registry`].
//!
//! Each module serves a group of QGA commands and documents the system
//! interfaces it uses. [`register_all`] registers every command this agent
//! offers, in the order of QEMU's schema, so `guest-info` lists them as
//! QEMU's agent does.
#![forbid(unsafe_code)]

use qapi_core::Registry;

/// The QEMU release whose guest agent protocol this agent implements,
/// reported by `guest-info` and `--version`.
pub const QEMU_COMPAT_VERSION: &str = "10.1.0";

/// Registers every command this agent offers.
pub fn register_all(registry: &mut Registry) {
    qapi_core::register_core_commands(registry);
}

/// A registry holding every command, reporting [`QEMU_COMPAT_VERSION`].
pub fn full_registry() -> Registry {
    let mut registry = Registry::new(QEMU_COMPAT_VERSION);
    register_all(&mut registry);
    registry
}
