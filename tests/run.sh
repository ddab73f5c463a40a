#!/usr/bin/env bash
# The whole test suite: what README.md tells a newcomer to run, and what CI runs.
# Installs what the differential tests need (tshark) and the HTML report test
# needs (chromium) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
# install PROGRAM PACKAGE WHY: apt-get install PACKAGE unless PROGRAM is there.
install() {
  if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "/usr/bin/$1" ]; then
    echo "tests/run.sh: installing $2 for $3" >&2
    if [ "$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq "$2" >/dev/null
  fi
}
install tshark tshark "the differential tests"
install chromium chromium "the HTML report test"
# The differential tests skip (with a note) where tshark is absent, the HTML
# test where chromium is; here both must be present (and under CI=true the
# tests fail rather than skip).
tshark --version >/dev/null 2>&1 || { echo "tests/run.sh: tshark could not be installed" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "tests/run.sh: chromium could not be installed" >&2; exit 1; }
# The release binary is what the scoring tests run against tshark and the lab truth.
cargo build --release -p twincap
cargo test --release --workspace
# The fuzz targets are their own workspace (cargo fuzz builds them with
# nightly flags); type-check them here so an API change cannot break them
# silently between fuzzing runs.
cargo check --manifest-path fuzz/Cargo.toml --bins
