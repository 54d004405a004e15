//! Argument and return types of the agent's commands, named and shaped as in
//! QEMU's `qga/qapi-schema.json`. Hosts serialize arguments and read results
//! with them; the agent decodes arguments and writes results with them.

mod core;
mod files;
mod freeze;
mod shutdown;

pub use self::core::*;
pub use self::files::*;
pub use self::freeze::*;
pub use self::shutdown::*;
