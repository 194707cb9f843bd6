#!/usr/bin/env bash
# Sourced by scripts/demo.sh and scripts/test.sh: installs the Debian packages given as arguments that are
# not installed yet (with sudo when not root), and checks for Node.js 20 or newer.
apt_ensure() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "Installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
  fi
  if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
    echo "doorpass needs Node.js 20 or newer (Debian: apt-get install nodejs npm, or NodeSource)." >&2
    exit 1
  fi
}
