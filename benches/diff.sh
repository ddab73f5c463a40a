#!/bin/sh
# Benchmark of `twincap diff` on a synthetic pair of at least 2M packets per
# side (generated here, not committed), timed against
# `mergecap -w /dev/null client.pcap lb.pcap` in the same run.
#
# usage: benches/diff.sh [CONNECTIONS] [SEGMENTS]
#   CONNECTIONS (default 10000) x (2 x SEGMENTS + 6) packets per side, plus
#   retransmissions and pure ACKs (~3%); SEGMENTS defaults to 100:
#   10000 x 206 = 2.06M, in fact 2.11M, packets per side.
# env: BENCH_DIR (default /tmp/twincap-bench), CARGO_TARGET_DIR.
#
# Prints the best wall time and CPU time (user + system, the figure to
# compare when other work loads the machine) of each over RUNS runs, the
# ratio diff/merge (target < 1), the peak
# resident memory of the diff and that memory per input packet (target < 100).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
conns=${1:-10000}
segs=${2:-100}
dir=${BENCH_DIR:-/tmp/twincap-bench}
target=${CARGO_TARGET_DIR:-$root/target}
cd "$root"
cargo build --release -q -p twincap -p twincap-synth
bin="$target/release"
mkdir -p "$dir"
if [ ! -f "$dir/lb.pcap" ] || [ "$(cat "$dir/.params" 2>/dev/null)" != "$conns $segs" ]; then
    "$bin/twincap-synth" "$dir" --connections "$conns" --segments "$segs" --concurrency 64 \
        --nat-pool 128 --payload-min 40 --payload-max 300 --loss 0.01 --reorder 0.01 --dup 0.005 \
        --inject 0.001 --clock-offset 12.5 --drift-ppm 20 --no-truth 2> "$dir/synth.txt"
    echo "$conns $segs" > "$dir/.params"
fi
cat "$dir/synth.txt"
packets=$(sed -n 's/.*client \([0-9]*\) frames, lb \([0-9]*\) frames.*/\1 \2/p' "$dir/synth.txt" | awk '{print $1 + $2}')
sync
# Warm the page cache for both tools alike, as a file read from disk
# leaves it (as benches/analyze.sh does; CACHE=keep leaves it as it is).
# Here both tools gain from it: at 16:10 on 5 Dec, twincap 0.90 -> 0.83 s
# and mergecap 0.91 -> 0.84 s, the ratio 0.989 -> 0.988.
if [ "${CACHE:-reread}" != keep ]; then
    for f in "$dir/client.pcap" "$dir/lb.pcap"; do
        dd if="$f" iflag=nocache count=0 status=none
    done
fi
cat "$dir/client.pcap" "$dir/lb.pcap" > /dev/null

# Best of RUNS (default 3) for each, alternating, so that other load on the
# machine hurts both alike.
runs=${RUNS:-3}
wall() { # "Elapsed (wall clock) time (h:mm:ss or m:ss): 0:02.31" -> seconds
    sed -n "s/.*m:ss): //p" "$1" | awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }'
}
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }
cpu() { # user + system seconds: the figure that holds under other load
    sed -n 's/.*\(User\|System\) time (seconds): //p' "$1" | awk '{ s += $1 } END { print s }'
}
d=""; m=""; dk=0; dc=""; mc=""
i=0
while [ "$i" -lt "$runs" ]; do
    /usr/bin/time -v "$bin/twincap" diff "$dir/client.pcap" "$dir/lb.pcap" --format json -o "$dir/diff.json" 2> "$dir/diff.time"
    /usr/bin/time -v mergecap -w /dev/null "$dir/client.pcap" "$dir/lb.pcap" 2> "$dir/merge.time"
    dw=$(wall "$dir/diff.time"); mw=$(wall "$dir/merge.time")
    d=$(awk -v a="$d" -v b="$dw" 'BEGIN { print (a == "" || b < a) ? b : a }')
    m=$(awk -v a="$m" -v b="$mw" 'BEGIN { print (a == "" || b < a) ? b : a }')
    k=$(rss "$dir/diff.time"); [ "$k" -gt "$dk" ] && dk=$k
    mk=$(rss "$dir/merge.time")
    dcpu=$(cpu "$dir/diff.time"); mcpu=$(cpu "$dir/merge.time")
    dc=$(awk -v a="$dc" -v b="$dcpu" 'BEGIN { print (a == "" || b < a) ? b : a }')
    mc=$(awk -v a="$mc" -v b="$mcpu" 'BEGIN { print (a == "" || b < a) ? b : a }')
    echo "run $((i + 1)): twincap diff ${dw}s (CPU ${dcpu}s), mergecap ${mw}s (CPU ${mcpu}s), load $(cut -d' ' -f1 /proc/loadavg)"
    i=$((i + 1))
done
echo "input packets (both sides): $packets"
echo "twincap diff: ${d}s, CPU ${dc}s, peak ${dk} KB"
echo "mergecap:     ${m}s, CPU ${mc}s, peak ${mk} KB"
awk -v d="$d" -v m="$m" -v k="$dk" -v n="$packets" -v dc="$dc" -v mc="$mc" 'BEGIN {
    printf "ratio diff/merge: %.3f (target < 1)\n", d / m;
    printf "CPU ratio diff/merge: %.3f\n", dc / mc;
    printf "peak bytes per input packet: %.1f (target < 100)\n", k * 1024 / n }'
echo "stages of one more run (TWINCAP_TIMING):"
TWINCAP_TIMING=1 "$bin/twincap" diff "$dir/client.pcap" "$dir/lb.pcap" --format json -o "$dir/diff.json" 2>&1 | sed 's/^/  /'
