#!/usr/bin/env bash
# Runs every test Dealthread has, the way CI does: installs what is needed,
# then the quality gates (format, lints, types), the UI's unit tests, the
# Rust tests, and the end-to-end tests against the real app under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --all --check

step "UI: type check (svelte-check), unit tests (vitest), build"
(cd ui && npm run --silent check && npm run --silent test && npm run --silent build)

step "cargo clippy (warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Build the app for the end-to-end tests"
cargo build --locked -p dealthread-app

step "Rust tests, under Xvfb, a private D-Bus session and an unlocked gnome-keyring"
# The keyring's files go to a throwaway folder, never the user's own.
XDG_DATA_HOME=$(mktemp -d)
export XDG_DATA_HOME
unset DEALTHREAD_STORE_KEY
xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  dbus-run-session -- bash -c '
    eval "$(printf dealthread-tests | gnome-keyring-daemon --unlock --components=secrets)"
    exec cargo test --workspace --locked --no-fail-fast'

step "TypeScript bindings are up to date with the Rust types"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  if ! git diff --exit-code --stat -- ui/src/lib/bindings \
     || [ -n "$(git ls-files --others --exclude-standard -- ui/src/lib/bindings)" ]; then
    echo "ui/src/lib/bindings changed when the tests regenerated it: commit the new bindings." >&2
    exit 1
  fi
fi
echo "all checks passed"
