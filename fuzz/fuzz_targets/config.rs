//! Bytes as the agent's configuration file (`qemu_ga::settings::file`):
//! a file is taken or refused with one of the configuration errors, never
//! a panic, and what is taken resolves into settings whose dump reads back
//! as the same settings (but for values that end in white space, which the
//! dump writes as GLib does and a read drops, or that start with a form
//! feed, which a key file cannot keep: there is no escape for it).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use qemu_ga::settings::{file, Environment, Settings};

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = file::parse(data, Path::new("fuzz.conf")) else {
        return;
    };
    let env = Environment {
        cwd: Some("/start".into()),
        ..Environment::default()
    };
    let Ok(settings) = Settings::from_raw(raw, &env) else {
        return;
    };
    let dump = settings.dump();
    let blank = |c: char| qga_sys::keyfile::is_space(c) || c == '\x0b';
    if dump.lines().any(|line| {
        let value = line.split_once('=').map_or("", |(_, v)| v);
        value.ends_with(blank) || value.starts_with('\x0c')
    }) {
        return;
    }
    let again = file::parse(dump.as_bytes(), Path::new("dump.conf")).expect("a dump reads back");
    let again = Settings::from_raw(again, &env).expect("a dump resolves");
    // Each read reverses a command list, as in QEMU.
    let reversed = |list: &[String]| list.iter().rev().cloned().collect::<Vec<_>>();
    assert_eq!(again.block_rpcs, reversed(&settings.block_rpcs));
    assert_eq!(again.allow_rpcs, reversed(&settings.allow_rpcs));
    assert_eq!(again.agent, settings.agent);
    let path = |s: &Settings| s.method.path_or_default(s.path.clone());
    assert_eq!((again.method, path(&again)), (settings.method, path(&settings)));
    assert_eq!(again.dispatch, settings.dispatch);
});
