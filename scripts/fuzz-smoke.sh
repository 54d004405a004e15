#!/usr/bin/env bash
# Builds every fuzz target (fuzz/) with libFuzzer's coverage instrumentation
# and runs each on its seed corpus for SECONDS (default 20), two at a time,
# so the targets keep building and keep finding nothing. The flags are the
# ones cargo-fuzz passes, less the address sanitizer (which needs a nightly
# compiler; the code under test is safe Rust), with debug assertions and
# overflow checks on. A crash fails the run; its input is left in
# fuzz/artifacts/<target>/, and `fuzz/target/<triple>/release/<target>
# <input>` replays it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-20}
host=$(rustc -vV | sed -n 's/^host: //p')
flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table"
flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
export CARGO_TERM_COLOR=never
targets=$(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | grep -v -e '^qga-fuzz$' -e '^seed-corpus$')
# The seed corpus comes from a plain build (it has its own main).
cargo run --quiet --release --bin seed-corpus >/dev/null
# With --target, the flags reach the targets but not build scripts and
# procedural macros (which could not load instrumented).
RUSTFLAGS="$flags" cargo build --quiet --release --target "$host" $(printf -- '--bin %s ' $targets)
bin="target/$host/release"
run() {
    local target=$1
    mkdir -p "artifacts/$target"
    if "$bin/$target" "corpus/$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="artifacts/$target/" -print_final_stats=1 >"artifacts/$target.log" 2>&1; then
        echo "$target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "artifacts/$target.log" \
            | grep -o '[0-9]*$') runs, nothing found"
    else
        echo "$target: FAILED (fuzz/artifacts/$target.log):"
        tail -n 30 "artifacts/$target.log"
        return 1
    fi
}
export -f run
export bin seconds
echo "$targets" | xargs -P 2 -I{} bash -c 'run {}'
