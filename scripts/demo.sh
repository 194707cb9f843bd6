#!/usr/bin/env bash
# Runs the daemon on the example config: a simulated door (log relay), SQLite under ./var, console input.
# Does its own set-up: installs npm dependencies if missing, builds, loads the demo passes.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "doorpass needs Node.js 20 or newer (Debian: apt-get install nodejs npm, or NodeSource)." >&2
  exit 1
fi
[ -d node_modules ] || npm ci --no-audit --no-fund
npm run build --silent
mkdir -p var
node scripts/demo-snapshot.mjs > var/demo-passes.json
node dist/src/cli/main.js passes import var/demo-passes.json --config config/doorpass.example.yaml
echo "Type a PIN and press Enter (123456, 2468 single-use, 5555 weekday mornings), or paste QR text (DEMO-VISITOR-QR). Ctrl-C stops."
exec node dist/src/cli/main.js run --config config/doorpass.example.yaml "$@"
