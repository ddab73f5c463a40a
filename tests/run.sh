#!/usr/bin/env bash
# The whole test suite: what README.md tells a newcomer to run, and what CI runs.
# Installs what the differential tests need (tshark) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tshark >/dev/null 2>&1; then
  echo "tests/run.sh: installing tshark for the differential tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq tshark >/dev/null
fi
cargo build --release -p twincap
cargo test --release --workspace -- --include-ignored 2>&1 | tee /tmp/twincap-test.log
