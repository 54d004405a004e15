//! The framer under any split: the first byte picks a chunk size (and, with
//! its top bit, small limits); the rest is fed in chunks of that size and
//! must give the same frames as when fed whole. Every message goes through
//! the parser and both decoders, and what parses must survive a
//! `to_json` round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;
use qga_protocol::{parse_message, to_json, Framer, Limits, Reply, Request};

#[path = "common.rs"]
mod common;

use common::{feed_chunks, lax, nesting_depth, Out};

fn run<'a>(limits: Limits, chunks: impl Iterator<Item = &'a [u8]>) -> Vec<Out> {
    feed_chunks(&mut Framer::with_limits(limits), chunks)
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, input)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(mode & 0x3F) + 1;
    let small = mode & 0x80 != 0;
    let limits = if small {
        Limits {
            max_message_bytes: 64,
            max_tokens: 16,
            max_depth: 4,
        }
    } else {
        Limits::default()
    };

    let split = run(limits, input.chunks(chunk));
    let whole = run(limits, std::iter::once(input));
    if small {
        assert_eq!(lax(&split), lax(&whole), "split at {chunk} differs");
    } else {
        assert_eq!(split, whole, "split at {chunk} differs");
    }

    for out in &whole {
        let Out::Msg(message) = out else { continue };
        assert!(message.len() <= limits.max_message_bytes);
        assert!(nesting_depth(message) <= limits.max_depth);
        let parsed = parse_message(message);
        let request = Request::decode(message);
        let _ = Reply::decode(message);
        if let Ok(request) = &request {
            assert!(parsed.is_ok());
            let again = Request::decode(&request.encode()).expect("an encoded request decodes");
            assert_eq!(again.execute, request.execute);
        }
        if let Ok(value) = parsed {
            let text = to_json(&value).expect("serializable");
            let back = parse_message(&text).expect("to_json output parses");
            assert!(common::json_eq(&value, &back), "{value:?} -> {back:?}");
        }
    }
});
