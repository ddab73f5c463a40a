#!/usr/bin/env bash
# Output of `twincap analyze` (text, json, yaml) on every capture of
# ../shared/corpus, fixtures/corpus, fixtures/f5 and fixtures/lab (and the
# bench capture, text and json, when it exists), and of `twincap diff
# --format json` on every lab and F5 pair: written by one build, compared
# with another's, to show a speed change left every byte the same.
#
# usage: benches/analyze_same.sh save BIN DIR      (outputs of BIN into DIR)
#        benches/analyze_same.sh check BIN DIR     (BIN's outputs against DIR's)
# e.g.   cp $CARGO_TARGET_DIR/release/twincap /tmp/before
#        benches/analyze_same.sh save /tmp/before /tmp/same; (change, build)
#        benches/analyze_same.sh check $CARGO_TARGET_DIR/release/twincap /tmp/same
set -uo pipefail

mode=$1 bin=$2 dir=$3
root=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
bench=${BENCH_DIR:-$target/bench}/analyze-3000000.pcap
out=$dir/$mode
rm -rf "$out" && mkdir -p "$out"

captures=$(find "$root/../shared/corpus" "$root/fixtures/corpus" "$root/fixtures/f5" "$root/fixtures/lab" \
    -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' -o -name '*.gz' \) 2>/dev/null | sort)
for f in $captures $( [ -s "$bench" ] && echo "$bench"); do
    key=$(echo "$f" | sed "s|^$root/||; s|^\.\./||; s|/|_|g")
    formats="text json yaml"
    [ "$f" = "$bench" ] && formats="text json"
    for fmt in $formats; do
        "$bin" analyze "$f" --format "$fmt" >"$out/$key.$fmt" 2>"$out/$key.$fmt.err"
        echo "exit $?" >>"$out/$key.$fmt.err"
    done
done
for d in "$root"/fixtures/lab/*/ "$root"/fixtures/f5/full-proxy/; do
    lb=$(ls "$d"lb.pcap* 2>/dev/null | head -1)
    [ -f "$d/client.pcap" ] && [ -n "$lb" ] || continue
    key=$(basename "$d")
    "$bin" diff "$d/client.pcap" "$lb" --format json >"$out/diff-$key.json" 2>"$out/diff-$key.err"
    echo "exit $?" >>"$out/diff-$key.err"
done
echo "$(ls "$out" | wc -l) outputs in $out"
if [ "$mode" = check ]; then
    if diff -rq "$dir/save" "$out"; then
        echo "identical"
    else
        echo "DIFFERENT" && exit 1
    fi
fi
