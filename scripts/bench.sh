#!/usr/bin/env bash
# Runs a benchmark in release mode, side by side with its peer.
#   scripts/bench.sh mail [--messages N]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
cargo build --release --locked -q -p dealthread-tests --bin bench
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)"
exec target/release/bench "$@"
