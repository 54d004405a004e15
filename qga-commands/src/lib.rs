//! The guest operations of the QEMU Guest Agent.
//!
//! An [`Agent`] holds the guest-side state the commands share (the open file
//! handles, the processes `guest-exec` started, the freezer and the frozen
//! state, the state directory) and an [`AgentConfig`] naming where the
//! system is ([`SystemRoots`]). [`COMMANDS`] is the one table of the
//! commands this agent offers, in QEMU's schema order; [`Agent::registry`]
//! builds the dispatch registry from it.
//!
//! Each command family has its module, named after it (`file` for
//! `guest-file-*`, `fsfreeze` for `guest-fsfreeze-*`, ...), holding the
//! handlers the table names and documenting the system interfaces they
//! use. System calls and parsers of system file formats are in `qga-sys`;
//! every failure is an `error::CommandError`, whose texts are QEMU's.
#![forbid(unsafe_code)]

mod agent;
mod config;
mod disks;
mod error;
mod exec;
mod file;
mod fsfreeze;
mod fstrim;
mod host;
mod memory_blocks;
mod network;
mod osinfo;
mod password;
mod run;
mod shutdown;
mod ssh;
mod state;
mod statedir;
mod stats;
mod suspend;
mod table;
#[cfg(feature = "test-utils")]
pub mod testing;
mod time;
mod users;
mod vcpus;

pub use agent::{Agent, AgentError, ShutdownOnDrop};
pub use config::{AgentConfig, SystemRoots};
pub use state::StateError;
pub use table::COMMANDS;

/// The QEMU release whose guest agent protocol this agent implements,
/// reported by `guest-info` and `--version`.
pub const QEMU_COMPAT_VERSION: &str = "10.1.0";
