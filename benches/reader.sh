#!/usr/bin/env bash
# Reader throughput: twincap's read_capture against tshark on the same file.
#
#   benches/reader.sh [CAPTURE]
#
# Without CAPTURE, makes a ~2M-frame Ethernet pcap (FRAMES=N to change) by
# replicating the corpus's Ethernet pcaps with shifted timestamps, once, into
# $BENCH_DIR (default /tmp). Builds the `readbench` example in release mode,
# reads the file with it (best of 3 runs, all cores, then one thread) and
# times `tshark -n -r FILE -T fields -e frame.number > /dev/null` on it.
# Prints frames/s of each and the ratio twincap / tshark.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
frames=${FRAMES:-2000000}

cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p twincap-parser --example readbench
bench="$target/release/examples/readbench"

file=${1:-}
if [ -z "$file" ]; then
    file="${BENCH_DIR:-/tmp}/twincap-reader-bench-$frames.pcap"
    if [ ! -s "$file" ]; then
        echo "making $file ($frames frames)" >&2
        python3 - "$file" "$frames" "$root/fixtures/corpus" <<'PY'
import struct, sys, glob, os
out, want, corpus = sys.argv[1], int(sys.argv[2]), sys.argv[3]
records = []  # (ts_usec_since_first, rest-of-record bytes after the timestamp)
for path in sorted(glob.glob(os.path.join(corpus, "*.pcap"))):
    b = open(path, "rb").read()
    if b[:4] != b"\xd4\xc3\xb2\xa1" or struct.unpack_from("<I", b, 20)[0] != 1:
        continue  # little-endian microsecond Ethernet pcaps only
    at, first = 24, None
    while at + 16 <= len(b):
        sec, usec, incl = struct.unpack_from("<III", b, at)
        t = sec * 1000000 + usec
        first = t if first is None else first
        records.append((t - first, b[at + 8:at + 16 + incl]))
        at += 16 + incl
span = max(t for t, _ in records) + 1000000
with open(out + ".tmp", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 262144, 1))
    n, copy, base = 0, 0, 1_700_000_000 * 1000000
    while n < want:
        chunk = []
        for t, rest in records:
            if n == want:
                break
            t += base + copy * span
            chunk.append(struct.pack("<II", t // 1000000, t % 1000000))
            chunk.append(rest)
            n += 1
        f.write(b"".join(chunk))
        copy += 1
os.rename(out + ".tmp", out)
PY
    fi
fi

size=$(du -h "$file" | cut -f1)
echo "file: $file ($size); load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
ours=$("$bench" --repeat 3 "$file")
ours_single=$("$bench" --repeat 1 --single-threaded "$file")
n=$(echo "$ours" | sed -n 's/.*frames=\([0-9]*\).*/\1/p')
ours_secs=$(echo "$ours" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')
single_secs=$(echo "$ours_single" | sed -n 's/.*secs=\([0-9.]*\).*/\1/p')

start=$(date +%s.%N)
tshark -n -r "$file" -T fields -e frame.number > /dev/null 2>&1
end=$(date +%s.%N)

python3 - "$n" "$ours_secs" "$single_secs" "$start" "$end" "$(nproc)" <<'PY'
import sys
n, ours, single, start, end, cores = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
tshark = end - start
print(f"frames: {n}")
print(f"twincap read_capture ({cores} cores, best of 3): {ours:8.3f} s  {n / ours:12,.0f} frames/s")
print(f"twincap read_capture (1 thread):            {single:8.3f} s  {n / single:12,.0f} frames/s")
print(f"tshark -T fields -e frame.number:           {tshark:8.3f} s  {n / tshark:12,.0f} frames/s")
print(f"ratio twincap / tshark: {tshark / ours:.1f}x (1 thread: {tshark / single:.1f}x)")
PY
