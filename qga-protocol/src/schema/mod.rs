//! Argument and return types of the agent's commands, named and shaped as in
//! QEMU's `qga/qapi-schema.json`. Hosts serialize arguments and read results
//! with them; the agent decodes arguments and writes results with them.

mod admin;
mod core;
mod disks;
mod exec;
mod files;
mod freeze;
mod hardware;
mod shutdown;
mod sysinfo;

pub use self::admin::*;
pub use self::core::*;
pub use self::disks::*;
pub use self::exec::*;
pub use self::files::*;
pub use self::freeze::*;
pub use self::hardware::*;
pub use self::shutdown::*;
pub use self::sysinfo::*;
