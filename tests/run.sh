#!/usr/bin/env bash
# The whole test suite: what README.md tells a newcomer to run, and what CI runs.
# Installs what the differential tests need (tshark) when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v tshark >/dev/null 2>&1; then
  echo "tests/run.sh: installing tshark for the differential tests" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq tshark >/dev/null
fi
# The differential tests skip (with a note) where tshark is absent; here it must be present.
tshark --version >/dev/null 2>&1 || { echo "tests/run.sh: tshark could not be installed" >&2; exit 1; }
# The release binary is what the scoring tests run against tshark and the lab truth.
cargo build --release -p twincap
cargo test --release --workspace
