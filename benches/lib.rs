//! Benchmarks only: see `framing.rs` and `side-by-side.py`.
