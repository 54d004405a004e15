//! QAPI-style command registry and dispatch for the QEMU Guest Agent.
//!
//! An agent is a table of named commands. This crate holds that table
//! ([`Registry`]: typed handlers, enabled state from allow/block lists and
//! the frozen state, `guest-info` derived from it), turns each framed
//! request into its reply with exactly the error classes and texts QEMU's
//! agent gives ([`Dispatcher`], [`args`]), runs commands that may block off
//! the channel thread within a deadline ([`Executor`]), and ties framing and
//! dispatch into a sans-IO [`Session`] that a transport feeds with bytes.
#![forbid(unsafe_code)]

pub mod args;
mod core_commands;
mod dispatch;
mod error;
mod executor;
mod frozen;
mod registry;
mod session;

pub use core_commands::{register_core_commands, register_guest_info, register_sync_commands};
pub use dispatch::{DispatchConfig, Dispatcher, GiveUp, RunningCommand};
pub use error::{echo, QapiError, ECHO_MAX};
pub use executor::{Executor, Job, Running, MAX_ABANDONED};
pub use frozen::FrozenState;
pub use registry::{ArgumentCheck, Command, Disabled, Handler, Hook, Outcome, Registry};
pub use session::{Link, Session, Wait, MAX_READ_AHEAD, URGENT_GRACE};
