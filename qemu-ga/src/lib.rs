//! The `qemu-ga` binary's settings, as a library: the command line (with
//! QEMU's qemu-ga option names and letters), the configuration file and the
//! environment, resolved into one typed [`settings::Settings`] by one
//! function ([`settings::resolve`]). The binary (`src/main.rs`) only wires
//! the crates together with them.
#![forbid(unsafe_code)]

pub mod settings;
