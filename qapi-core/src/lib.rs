//! QAPI-style command registry and dispatch for the QEMU Guest Agent.
//!
//! An agent is a table of named commands. This crate gives that table its
//! form ([`command_table!`]: one row per command with its argument and
//! result types, handler and flags), builds the [`Registry`] from it
//! (enabled state from the operator's [`Policy`] and the agent's
//! [`FreezeState`], `guest-info` derived from it), turns each framed
//! request into its reply with exactly the error classes and texts QEMU's
//! agent gives ([`Dispatcher`], [`args`]), runs commands that may block off
//! the channel thread within a deadline ([`Executor`]), and ties framing and
//! dispatch into a sans-IO [`Session`] that a transport feeds with bytes
//! (the [`qga_protocol::Service`] it drives, answering through a
//! [`qga_protocol::Link`]).
#![forbid(unsafe_code)]

pub mod args;
mod core_commands;
mod dispatch;
mod error;
mod executor;
mod freeze_state;
mod registry;
mod session;
mod table;

pub use core_commands::{info, ping, sync};
pub use dispatch::{DispatchConfig, Dispatcher, GiveUp, RunningCommand};
pub use error::{echo, QapiError, ECHO_MAX};
pub use executor::{Executor, Job, Running, MAX_ABANDONED};
pub use freeze_state::FreezeState;
pub use registry::{Command, ConflictingLists, Disabled, Handler, Hook, Outcome, Policy, Registry};
pub use session::{Session, MAX_READ_AHEAD, URGENT_GRACE};
pub use table::{call, check, CommandSpec, Flags, RowCheck, RowHandler};
