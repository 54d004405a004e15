//! Bytes as one message: `Request::decode`, then its arguments (or the
//! message itself, when it is an object) into a few argument structs, whose
//! refusals must be worded in one of QEMU's forms; `Reply::decode` too.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qapi_core::args::from_arguments;
use qga_protocol::schema::{GuestSyncArgs, NoArgs};
use qga_protocol::{parse_message, Reply, Request};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

#[path = "common.rs"]
mod common;

fn decode_as<T: DeserializeOwned>(args: &Map<String, Value>) {
    if let Err(e) = from_arguments::<T>(args.clone()) {
        let text = e.to_string();
        assert!(common::in_qemu_form(&text), "not in QEMU's words: {text:?}");
    }
}

fn decode_all(args: &Map<String, Value>) {
    decode_as::<common::A>(args);
    decode_as::<common::B>(args);
    decode_as::<common::C>(args);
    decode_as::<GuestSyncArgs>(args);
    decode_as::<NoArgs>(args);
}

fuzz_target!(|data: &[u8]| {
    let _ = Reply::decode(data);
    match Request::decode(data) {
        Ok(request) => {
            let encoded = request.encode();
            let again = Request::decode(&encoded).expect("an encoded request decodes");
            assert_eq!(again.execute, request.execute);
            decode_all(&request.arguments.unwrap_or_default());
        }
        Err(rejected) => {
            let _ = rejected.error.to_string();
        }
    }
    if let Ok(Value::Object(members)) = parse_message(data) {
        decode_all(&members);
    }
});
