#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 600), one after another.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`) and editcap (for the seeds).
# RUSTC_BOOTSTRAP=1 lets cargo fuzz use the sanitizer flags on a stable
# toolchain. One worker per target, niced: the machine is shared. Fork mode
# (-fork=1 -ignore_crashes=1) keeps going after a crash, so one run collects
# every finding of its time. Crashes land
# in fuzz/artifacts/TARGET/; reproduce one with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run TARGET fuzz/artifacts/TARGET/crash-...
# and turn it into a test in crates/*/tests/regressions.rs.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(pcap pcapng frame f5 diff)
[ -d fuzz/corpus/pcap ] || python3 fuzz/seed.py
export RUSTC_BOOTSTRAP=1
status=0
for t in "${targets[@]}"; do
    echo "== $t: ${secs}s"
    mkdir -p "fuzz/corpus/$t" "fuzz/artifacts/$t"
    # -max_len: the diff target holds two captures.
    max_len=16384
    [ "$t" = diff ] && max_len=65536
    log="fuzz/artifacts/$t/last-run.log"
    if ! nice -n 10 cargo fuzz run --release --debug-assertions "$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
        -fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1 >"$log" 2>&1; then
        status=1
    fi
    grep -E "panicked at|SUMMARY" "$log" | sort | uniq -c || true
    grep -E "^#[0-9]+: cov" "$log" | tail -1
done
ls fuzz/artifacts/*/crash-* fuzz/artifacts/*/timeout-* fuzz/artifacts/*/oom-* 2>/dev/null && status=1
exit $status
