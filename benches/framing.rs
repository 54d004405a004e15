//! Throughput of the agent's input path: [`Framer`] splitting the byte stream
//! into messages, and [`Request::decode`] turning each into a typed request.
//!
//! Input is fed in 64 KiB chunks, as the agent reads its channel.
//!
//! * `small-requests/*`: 10,000 requests in one stream, alternating
//!   `{"execute":"guest-sync","arguments":{"id":N}}` and
//!   `{"execute":"guest-ping"}`; throughput in messages.
//! * `file-write/*`: one `guest-file-write` request with a base64 payload of
//!   48 KiB and of 1 MiB (decoded size), framed only; throughput in bytes of
//!   the whole request.
//!
//! Run with `cargo bench -p qga-benches`. Goals on a 2-core machine: at
//! least 3 M messages/s framed, 1 M/s framed and decoded, 1 GB/s for large
//! payloads.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_main, BenchmarkId, Criterion, Throughput};
use qga_protocol::{Frame, Framer, Request};

/// The agent's read size.
const CHUNK: usize = 64 * 1024;

/// Number of requests in the small-request stream.
const SMALL_COUNT: usize = 10_000;

/// The stream of small requests, alternating sync and ping.
fn small_stream() -> Vec<u8> {
    let mut out = Vec::new();
    for n in 0..SMALL_COUNT {
        if n % 2 == 0 {
            out.extend_from_slice(
                format!("{{\"execute\":\"guest-sync\",\"arguments\":{{\"id\":{n}}}}}").as_bytes(),
            );
        } else {
            out.extend_from_slice(b"{\"execute\":\"guest-ping\"}");
        }
    }
    out
}

/// A valid base64 text that decodes to `decoded` bytes ("ABC" repeated).
fn base64_payload(decoded: usize) -> String {
    let mut s = "QUJD".repeat(decoded / 3);
    match decoded % 3 {
        1 => s.push_str("QQ=="),
        2 => s.push_str("QUI="),
        _ => {}
    }
    s
}

/// A `guest-file-write` request carrying `decoded` bytes.
fn file_write_request(decoded: usize) -> Vec<u8> {
    format!(
        "{{\"execute\":\"guest-file-write\",\"arguments\":{{\"handle\":1000,\"buf-b64\":\"{}\"}}}}",
        base64_payload(decoded)
    )
    .into_bytes()
}

/// Feeds `stream` in agent-sized chunks; returns how many messages came out.
fn frame_all(framer: &mut Framer, stream: &[u8]) -> usize {
    let mut messages = 0;
    for chunk in stream.chunks(CHUNK) {
        framer.feed(chunk, |frame| match frame {
            Frame::Message(m) => {
                black_box(m);
                messages += 1;
            }
            Frame::Error(e) => panic!("unexpected framing error: {e}"),
        });
    }
    messages
}

/// Feeds `stream` and decodes every message; returns how many decoded.
fn frame_and_decode_all(framer: &mut Framer, stream: &[u8]) -> usize {
    let mut requests = 0;
    for chunk in stream.chunks(CHUNK) {
        framer.feed(chunk, |frame| match frame {
            Frame::Message(m) => match Request::decode(m) {
                Ok(request) => {
                    black_box(request);
                    requests += 1;
                }
                Err(e) => panic!("unexpected decode error: {}", e.error),
            },
            Frame::Error(e) => panic!("unexpected framing error: {e}"),
        });
    }
    requests
}

/// (a): the small-request stream, framed only and framed then decoded.
fn small_requests(c: &mut Criterion) {
    let stream = small_stream();
    let mut group = c.benchmark_group("small-requests");
    group.throughput(Throughput::Elements(SMALL_COUNT as u64));
    let mut framer = Framer::new();
    assert_eq!(frame_all(&mut framer, &stream), SMALL_COUNT);
    assert_eq!(frame_and_decode_all(&mut framer, &stream), SMALL_COUNT);
    group.bench_function("framed", |b| {
        b.iter(|| frame_all(&mut framer, black_box(&stream)))
    });
    group.bench_function("framed+decoded", |b| {
        b.iter(|| frame_and_decode_all(&mut framer, black_box(&stream)))
    });
    group.finish();
}

/// (b): large `guest-file-write` requests, framed only.
fn file_write(c: &mut Criterion) {
    let mut group = c.benchmark_group("file-write");
    for (label, decoded) in [("48KiB", 48 << 10), ("1MiB", 1 << 20)] {
        let request = file_write_request(decoded);
        group.throughput(Throughput::Bytes(request.len() as u64));
        let mut framer = Framer::new();
        assert_eq!(frame_all(&mut framer, &request), 1);
        group.bench_with_input(BenchmarkId::new("framed", label), &request, |b, request| {
            b.iter(|| frame_all(&mut framer, black_box(request)))
        });
    }
    group.finish();
}

/// Short runs: the whole suite takes well under two minutes.
fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

/// The benchmark group (what `criterion_group!` would generate, but documented).
fn benches() {
    let mut criterion = config().configure_from_args();
    small_requests(&mut criterion);
    file_write(&mut criterion);
}

criterion_main!(benches);
