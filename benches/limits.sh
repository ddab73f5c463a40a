#!/bin/sh
# Limits that are too big for the test suite, measured: time and peak
# resident memory of `twincap flows`, `analyze` and `diff` on
#   conns    one million short connections per side (8 packets each),
#   long     one connection of three million packets per side,
#   big      a sparse pcap of 4.3 GB (16,400 frames of 256 KiB, then 20 TCP
#            frames past byte 2^32; `flows` only).
# The figures go to docs/hardening.md.
#
# usage: benches/limits.sh [conns|long|big ...]   (default: all three)
# env: BENCH_DIR (default /tmp/twincap-limits), CARGO_TARGET_DIR,
#      CONNS (default 1000000), PACKETS (default 3000000).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${BENCH_DIR:-/tmp/twincap-limits}
target=${CARGO_TARGET_DIR:-$root/target}
conns=${CONNS:-1000000}
packets=${PACKETS:-3000000}
cd "$root"
cargo build --release -q -p twincap -p twincap-synth
bin="$target/release"
mkdir -p "$dir"

# `measure NAME ARGS...`: one run of twincap ARGS under /usr/bin/time, the
# report to a file; prints wall time, peak RSS and the exit status.
measure() {
    name=$1; shift
    set +e
    /usr/bin/time -v "$bin/twincap" "$@" > "$dir/$name.out" 2> "$dir/$name.time"
    code=$?
    set -e
    wall=$(sed -n 's/.*m:ss): //p' "$dir/$name.time" |
        awk -F: '{ if (NF == 3) print $1 * 3600 + $2 * 60 + $3; else print $1 * 60 + $2 }')
    kb=$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$dir/$name.time")
    printf '%-14s exit %s  %7.2f s  peak %7d MB\n' "$name" "$code" "$wall" $((kb / 1024))
    grep '^twincap: ' "$dir/$name.time" | head -3 || true
}

synth() { # synth DIR ARGS...: a pair, once
    out=$1; shift
    if [ ! -f "$out/lb.pcap" ]; then
        "$bin/twincap-synth" "$out" --no-truth "$@" 2> "$out.synth.txt" || { cat "$out.synth.txt"; exit 1; }
    fi
    cat "$out.synth.txt"
    ls -l "$out"/*.pcap | awk '{ printf "  %s %d MB\n", $NF, $5 / 1048576 }'
}

[ $# -gt 0 ] || set -- conns long big
for what in "$@"; do
    case $what in
    conns)
        # 2 x 1 segments + 6 = 8 packets per connection (about 9.6 with the
        # client's pure ACK of the server's data and retransmissions), 64 at a time.
        synth "$dir/conns" --connections "$conns" --segments 1 --concurrency 64 \
            --nat-pool 4096 --payload-min 10 --payload-max 60 --loss 0.01 --reorder 0.01
        measure conns-flows flows "$dir/conns/client.pcap" --format json
        measure conns-analyze analyze "$dir/conns/client.pcap" --format json
        measure conns-diff diff "$dir/conns/client.pcap" "$dir/conns/lb.pcap" --format json -q
        ;;
    long)
        synth "$dir/long" --connections 1 --segments $((packets / 2)) --concurrency 1 \
            --nat-pool 1 --payload-min 10 --payload-max 60 --loss 0.001 --reorder 0.001
        measure long-flows flows "$dir/long/client.pcap" --format json
        measure long-analyze analyze "$dir/long/client.pcap" --format json
        measure long-diff diff "$dir/long/client.pcap" "$dir/long/lb.pcap" --format json -q
        ;;
    big)
        python3 - "$dir/big.pcap" "$root/fixtures/lab/ex1-probe-seed7/client.pcap" <<'PY'
import struct, sys
out, src = sys.argv[1], sys.argv[2]
filler, fillers = 262144, 16400
with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    for i in range(fillers):
        f.seek(24 + i * (16 + filler))
        f.write(struct.pack("<IIII", 1, 0, filler, filler))
    f.seek(24 + fillers * (16 + filler))
    data, at, n = open(src, "rb").read(), 24, 0
    while n < 20:
        incl = struct.unpack("<I", data[at + 8:at + 12])[0]
        f.write(data[at:at + 16 + incl])
        at, n = at + 16 + incl, n + 1
PY
        ls -ls "$dir/big.pcap" | awk '{ printf "  big.pcap %d MB, %d MB on disk\n", $6 / 1048576, $1 / 1024 }'
        measure big-flows flows "$dir/big.pcap" --format json
        rm -f "$dir/big.pcap"
        ;;
    *) echo "unknown limit $what (conns, long, big)" >&2; exit 2 ;;
    esac
done
