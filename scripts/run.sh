#!/usr/bin/env bash
# Installs what is needed, builds Dealthread and starts the desktop app. On
# a first start with an empty database it opens on the demo workspace.
# Without a display (a server, an SSH session) it runs under Xvfb and saves a
# screenshot, so you can see it started.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "==> Building the UI"
(cd ui && npm run --silent build)
echo "==> Building the app (release; a few minutes the first time)"
cargo build --release -p dealthread-app -p dealthread-cli
app=target/release/dealthread-app

if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
  echo "==> Starting Dealthread"
  exec "$app"
fi

shot=target/dealthread-headless.png
echo "==> No display found: starting Dealthread under Xvfb (Ctrl-C to stop)."
echo "    A screenshot will be saved to $shot in a few seconds."
echo "    Its stored mail is encrypted with a key kept in a gnome-keyring started for this session."
exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" dbus-run-session -- bash -c '
  eval "$(printf dealthread | gnome-keyring-daemon --unlock --components=secrets)"
  "$1" & app_pid=$!
  sleep 8 && import -window root "$2" && echo "    Saved $2"
  wait $app_pid' _ "$app" "$shot"
