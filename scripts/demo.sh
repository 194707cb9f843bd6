#!/usr/bin/env bash
# Runs the daemon on the example config: a simulated door (log relay), SQLite under ./var, console input.
# Does its own set-up: installs npm dependencies if missing, builds, loads the demo passes.
set -euo pipefail
cd "$(dirname "$0")/.."
# Build tools for the native modules (better-sqlite3, epoll) that npm ci compiles.
# shellcheck source=apt-ensure.sh
. scripts/apt-ensure.sh
apt_ensure build-essential python3 libusb-1.0-0
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
mkdir -p var
node scripts/demo-snapshot.mjs > var/demo-passes.json
node dist/src/cli/main.js passes import var/demo-passes.json --config config/doorpass.example.yaml
echo "Type a PIN and press Enter (123456, 2468 single-use, 5555 weekday mornings), or paste QR text (DEMO-VISITOR-QR). Ctrl-C stops."
exec node dist/src/cli/main.js run --config config/doorpass.example.yaml "$@"
