//! Integration tests of the `qemu-ga` binary: one test binary, one module
//! per area, helpers in `util`.

// Panicking is how a test fails; clippy.toml's allow-*-in-tests covers
// only `#[test]` functions, not the helpers they call.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin;
mod bounds;
mod channels;
mod cli;
mod config;
mod daemon;
mod differential;
mod disks;
mod edges;
mod exec;
mod freezing;
mod guest_ops;
mod hardware;
mod serving;
mod sysinfo;
mod traps_files;
mod traps_ssh;
mod util;
mod vm;
