#!/usr/bin/env bash
# Installs what building, running and testing Dealthread needs on Debian 12,
# as root: system packages (only those missing), Rust and Node when absent,
# and the UI's npm packages. Safe to run again; it skips what is there.
# Extra Debian packages may be named as arguments (the benchmarks' peers).
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # Building the Tauri app (webkit2gtk-4.1 pulls gtk-3, libsoup-3 and dbus dev files).
  libwebkit2gtk-4.1-dev build-essential pkg-config curl ca-certificates
  # Running it headless, end-to-end tests and screenshots.
  xvfb xauth webkit2gtk-driver imagemagick dbus dbus-x11 fonts-dejavu-core
  # A real Secret Service for keyring tests.
  gnome-keyring libsecret-tools
  # A real IMAP server for the sync tests (started privately, from a temporary
  # folder; the package's own service is not used), and its test certificate.
  dovecot-imapd openssl procps
  "$@"
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "==> apt: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "==> Rust: installing the stable toolchain with rustup"
  curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component clippy,rustfmt
  export PATH="$HOME/.cargo/bin:$PATH"
fi
rustc_minor=$(rustc --version | sed -E 's/rustc 1\.([0-9]+).*/\1/')
if [ "$rustc_minor" -lt 95 ]; then
  echo "Dealthread needs Rust 1.95 or newer; found $(rustc --version). Run: rustup update stable" >&2
  exit 1
fi

node_major=$(node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/' || echo 0)
if [ "${node_major:-0}" -lt 20 ]; then
  echo "==> Node.js: installing Node 20 from NodeSource (Debian 12 ships Node 18, too old for Vite 7)"
  curl -fsSL https://deb.nodesource.com/setup_20.x | bash - >/dev/null
  apt-get install -y -qq nodejs >/dev/null
fi

echo "==> npm: installing the UI's packages"
(cd ui && npm ci --no-fund --no-audit --loglevel=error)
