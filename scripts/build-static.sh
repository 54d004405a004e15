#!/usr/bin/env bash
# Builds the fully static agent, the one file to copy into any Linux guest,
# and prints its path: musl when the target is installed (or can be), else
# glibc linked statically.
set -euo pipefail
cd "$(dirname "$0")/.."
if rustup target list --installed 2>/dev/null | grep -q x86_64-unknown-linux-musl \
    || timeout 120 rustup target add x86_64-unknown-linux-musl >/dev/null 2>&1; then
    cargo build --release --quiet --target x86_64-unknown-linux-musl -p qemu-ga
    echo "$PWD/target/x86_64-unknown-linux-musl/release/qemu-ga"
else
    RUSTFLAGS="-C target-feature=+crt-static" \
        cargo build --release --quiet --target x86_64-unknown-linux-gnu -p qemu-ga --target-dir target/static
    echo "$PWD/target/static/x86_64-unknown-linux-gnu/release/qemu-ga"
fi
