#!/usr/bin/env bash
# Builds the agent, starts it on ./qga.sock (state in ./qga-state), sends an
# example request with the bundled host client, and keeps the agent running
# until Ctrl-C. Try more requests from another terminal:
#   ./target/release/qga-client ./qga.sock guest-sync '{"id": 42}'
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
ensure_packages gcc libc6-dev
ensure_rust
cargo build --release --quiet -p qemu-ga -p qga-examples
mkdir -p qga-state
./target/release/qemu-ga -m unix-listen -p ./qga.sock -t ./qga-state &
agent=$!
trap 'kill $agent 2>/dev/null; wait $agent 2>/dev/null' EXIT
for _ in $(seq 50); do [ -S qga.sock ] && break; sleep 0.1; done
echo "agent running (pid $agent) on ./qga.sock; example request guest-info:"
./target/release/qga-client ./qga.sock guest-info
echo "Ctrl-C stops the agent."
wait $agent
