#!/usr/bin/env bash
# Takes the README's screenshots of the real app on a fresh demo workspace,
# through WebDriver under Xvfb, with a throwaway database and keyring.
# Builds the app first. Usage: scripts/screenshot.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
out=${1:-docs/screenshots}
mkdir -p "$out"
(cd ui && npm run --silent build)
cargo build -p dealthread-app
cargo build -p dealthread-tests --bin screenshots
XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
unset DEALTHREAD_STORE_KEY
xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- bash -c '
    eval "$(printf dealthread | gnome-keyring-daemon --unlock --components=secrets)"
    target/debug/screenshots "$1"' _ "$out"
rm -rf "$XDG_DATA_HOME"
