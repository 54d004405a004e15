#!/usr/bin/env bash
# Installs what the test suite needs and runs all of it: formatting, lints,
# docs, unit, property, integration and differential tests (the latter
# against Debian's qemu-ga, installed here).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_packages qemu-guest-agent gcc g++ libc6-dev python3 procps e2fsprogs util-linux mount \
    qemu-system-x86 linux-image-amd64 busybox-static cpio gzip
ensure_rust
export CARGO_TERM_COLOR=never
echo "== cargo fmt"; cargo fmt --all -- --check
echo "== cargo clippy"; cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo doc"; RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet
echo "== static agent for the VM test"
QGA_VM_AGENT=$(scripts/build-static.sh)
export QGA_VM_AGENT QGA_VM_TEST=1
echo "== cargo test"; cargo test --workspace --all-targets
echo "== doc tests"; cargo test --workspace --doc
# Each fuzz target (one per parser of outside input) briefly, so they keep
# building and finding nothing; long runs are by hand (fuzz/README.md).
echo "== fuzz targets"; scripts/fuzz-smoke.sh 20
# The benchmark script must keep working; its figures come from full runs
# (README), so a missed goal (exit 3) in this short run is not a failure.
echo "== side-by-side smoke run"
python3 benches/side-by-side.py --ours "$QGA_VM_AGENT" --rounds 1 --sequential 500 --pipelined 2000 \
    || [ $? -eq 3 ]
echo "== memory-after-reads smoke run"
python3 benches/memory-after-reads.py --agent "$QGA_VM_AGENT" --reads 1 --settle 1 || [ $? -eq 3 ]
