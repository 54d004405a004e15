//! Bytes parsed by serde_json, then decoded as the `arguments` of every
//! command the agent has (each command's own argument type, through
//! `from_arguments`): the object itself, or each object of an array.
//! Nothing may panic; a refusal must be in one of QEMU's forms and short
//! (names and values quoted at most 1 KiB each).
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};

#[path = "common.rs"]
mod common;

fn check(arguments: &Map<String, Value>) {
    common::decode_every(arguments, |name, result| {
        if let Err(e) = result {
            let text = e.to_string();
            assert!(common::in_qemu_form(&text), "{name}: not in QEMU's words: {text:?}");
            assert!(text.len() <= common::MAX_ARG_ERROR, "{name}: {} bytes", text.len());
        }
    });
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
