//! Benchmarks only: see `framing.rs` and `side-by-side.py`.
#![forbid(unsafe_code)]
