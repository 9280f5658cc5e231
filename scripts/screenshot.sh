#!/usr/bin/env bash
# Takes the README's screenshots of the real app on the demo workspace, under
# Xvfb, with a throwaway database. Builds the app first if needed.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=${1:-docs/screenshots}
mkdir -p "$out"
(cd ui && npm run --silent build)
cargo build -p dealthread-app
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

DEALTHREAD_DB="$work/demo.db" xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- bash -c '
    eval "$(printf dealthread | gnome-keyring-daemon --unlock --components=secrets)"
    target/debug/dealthread-app >"$1/app.log" 2>&1 & app=$!
    # Wait for the store to open, then for the window to paint.
    for _ in $(seq 1 100); do grep -q "store opened" "$1/app.log" && break; sleep 0.2; done
    sleep 4
    import -window root -crop 1200x760+0+0 "$2/demo-timeline.png"
    kill $app' _ "$work" "$out"
echo "saved $out/demo-timeline.png"
