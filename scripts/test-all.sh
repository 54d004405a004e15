#!/usr/bin/env bash
# Installs what the test suite needs and runs all of it: formatting, lints,
# docs, unit, property, integration and differential tests (the latter
# against Debian's qemu-ga, installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_packages qemu-guest-agent gcc libc6-dev python3 procps e2fsprogs util-linux mount
ensure_rust
export CARGO_TERM_COLOR=never
echo "== cargo fmt"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo doc"; RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== cargo test"; cargo test --workspace --all-targets
echo "== doc tests"; cargo test --workspace --doc
