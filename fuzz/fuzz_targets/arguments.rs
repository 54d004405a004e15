//! Bytes parsed by serde_json, then checked as the `arguments` of every
//! command of the agent's table (`qga_commands::COMMANDS`, each row's own
//! argument type): the object itself, or each object of an array. Nothing
//! may panic; a refusal must be in one of QEMU's forms and short (names and
//! values quoted at most 1 KiB each).
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_commands::COMMANDS;
use serde_json::{Map, Value};

#[path = "common.rs"]
mod common;

fn check(arguments: &Map<String, Value>) {
    for command in COMMANDS {
        if let Err(e) = (command.check)(arguments) {
            let text = e.to_string();
            assert!(
                common::in_qemu_form(&text),
                "{}: not in QEMU's words: {text:?}",
                command.name
            );
            assert!(
                text.len() <= common::MAX_ARG_ERROR,
                "{}: {} bytes",
                command.name,
                text.len()
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    match serde_json::from_slice::<Value>(data) {
        Ok(Value::Object(arguments)) => check(&arguments),
        Ok(Value::Array(items)) => {
            for item in &items {
                if let Value::Object(arguments) = item {
                    check(arguments);
                }
            }
        }
        _ => {}
    }
});
