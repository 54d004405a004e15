//! Argument and return types of the agent's commands, named and shaped as in
//! QEMU's `qga/qapi-schema.json`. Hosts serialize arguments and read results
//! with them; the agent decodes arguments and writes results with them.

mod core;

pub use self::core::*;
