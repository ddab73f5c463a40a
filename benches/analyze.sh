#!/usr/bin/env bash
# `twincap analyze` against `tshark -n -q -z expert` on the same large
# capture, in the same run: wall time and peak RSS of both, and the ratios.
#
# usage: benches/analyze.sh [FRAMES]        (default 3000000)
#
# The capture is built by benches/gen_capture.py from corpus captures
# (copies with shifted ports and times) into $BENCH_DIR (default
# $CARGO_TARGET_DIR/bench or target/bench, outside git), once per size.
# twincap runs RUNS times (default 3), best taken; tshark once.
# Needs tshark and GNU time (/usr/bin/time; installed with apt if missing).
set -euo pipefail

frames=${1:-3000000}
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bench_dir=${BENCH_DIR:-$target/bench}
capture=$bench_dir/analyze-$frames.pcap
corpus=$root/fixtures/corpus

if [ ! -x /usr/bin/time ]; then
    echo "installing GNU time" >&2
    apt-get install -y time >/dev/null
fi
command -v tshark >/dev/null || { echo "tshark is needed" >&2; exit 2; }

(cd "$root" && cargo build --release -p twincap >&2)
twincap=$target/release/twincap

mkdir -p "$bench_dir"
if [ ! -s "$capture" ]; then
    python3 "$root/benches/gen_capture.py" "$capture" "$frames" \
        "$corpus/f5adc_hackazon2.pcap" \
        "$corpus/wswiki_SkypeIRC.cap" \
        "$corpus/wswiki_c06-ldapv3-app-r1.pcap.gz" \
        "$corpus/wswiki_http_with_jpegs.cap.gz" \
        "$corpus/zeek_tcp_ssh-dups.pcap" \
        "$corpus/wswiki_captura.NNTP.cap" >&2
fi
# Same start for both: the file in the page cache as the kernel fills it
# when a file is read from disk (in large folios on a recent kernel). Its
# cached pages are dropped first, then it is read once. Left as the
# generator's writes cached it (small pieces), mapping the file costs
# twincap ~10% more time (68 k page faults a run instead of 48 k: see
# docs/performance.md, "The page cache"); tshark reads it and does not
# care. CACHE=keep leaves the page cache as it is.
if [ "${CACHE:-reread}" != keep ]; then
    dd if="$capture" iflag=nocache count=0 status=none
fi
cat "$capture" >/dev/null

# run NAME CMD...: prints "seconds max_rss_kb" of CMD (stdout discarded).
run() {
    local log
    log=$(mktemp)
    /usr/bin/time -v "$@" >/dev/null 2>"$log"
    awk -F': ' '
        /Elapsed \(wall clock\)/ { n = split($2, t, ":"); s = 0; for (i = 1; i <= n; i++) s = s * 60 + t[i] }
        /Maximum resident set size/ { rss = $2 }
        END { printf "%.3f %d\n", s, rss }' "$log"
    rm -f "$log"
}

# best NAME CMD...: the fastest of $RUNS runs of CMD (and its peak RSS).
# The first run after the page-cache warm-up is often the slowest; tshark
# (30 s a run) runs once.
runs=${RUNS:-3}
best() {
    local s kb bs=999999 bkb=0
    for _ in $(seq "$runs"); do
        read -r s kb < <(run "$@")
        if (( $(echo "$s < $bs" | bc -l) )); then bs=$s; bkb=$kb; fi
    done
    echo "$bs $bkb"
}

read -r tw_s tw_kb < <(best "$twincap" analyze "$capture")
read -r tj_s tj_kb < <(best "$twincap" analyze "$capture" --format json)
read -r ts_s ts_kb < <(run tshark -n -q -r "$capture" -z expert)

size=$(du -h "$capture" | cut -f1)
echo "capture: $capture ($frames frames, $size)"
printf '%-34s %10s %14s\n' "" "wall s (best)" "peak RSS MB"
printf '%-34s %10.3f %14.1f\n' "twincap analyze (text)" "$tw_s" "$(echo "$tw_kb / 1024" | bc -l)"
printf '%-34s %10.3f %14.1f\n' "twincap analyze --format json" "$tj_s" "$(echo "$tj_kb / 1024" | bc -l)"
printf '%-34s %10.3f %14.1f\n' "tshark -n -q -z expert" "$ts_s" "$(echo "$ts_kb / 1024" | bc -l)"
echo "speed: twincap (text) is $(echo "$ts_s / $tw_s" | bc -l | xargs printf '%.1f')x faster than tshark (target: 100x)"
echo "memory: twincap (text) peaks at $(echo "100 * $tw_kb / $ts_kb" | bc -l | xargs printf '%.1f')% of tshark's (target: at most 10%)"
