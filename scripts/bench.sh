#!/usr/bin/env bash
# Runs a benchmark in release mode, side by side with its peer.
#   scripts/bench.sh mail [--messages N]
#   scripts/bench.sh store [--messages 10000,50000] [--search-messages 100000] [--rounds 5]
#   scripts/bench.sh imap [--messages 10000]
#   scripts/bench.sh app [--messages 50000] [--deal-messages 2000] [--rounds 5]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
# The peers each benchmark is measured against, from Debian.
case "${1:-}" in
  store) peers=(maildir-utils notmuch) ;;
  imap) peers=(isync) ;;
  *) peers=() ;;
esac
bash scripts/install-deps.sh "${peers[@]}"
cargo build --release --locked -q -p dealthread-tests --bin bench
cargo build --release --locked -q -p dealthread-cli
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr), $(rustc --version)"
# A throwaway key for the raw store, so the benchmark needs no keyring; the
# encryption it measures is the same.
DEALTHREAD_STORE_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
export DEALTHREAD_STORE_KEY
if [ "${1:-}" = app ]; then
  # The release app, driven through WebDriver under Xvfb.
  (cd ui && npm run --silent build)
  cargo build --release --locked -q -p dealthread-app
  DEALTHREAD_APP=$PWD/target/release/dealthread-app
  export DEALTHREAD_APP
  exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" target/release/bench "$@"
fi
exec target/release/bench "$@"
