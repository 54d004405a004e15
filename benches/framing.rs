//! Placeholder, replaced by the framing benchmarks.
fn main() {}
