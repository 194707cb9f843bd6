#!/usr/bin/env bash
# Installs everything the tests need on Debian / Raspberry Pi OS (system packages, then npm packages),
# then runs the full suite with `npm test`. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(build-essential python3 socat libusb-1.0-0 mosquitto mosquitto-clients openssl gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev systemd)
missing=()
for p in "${apt_packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "Installing Debian packages: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi

if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  echo "doorpass needs Node.js 20 or newer." >&2
  exit 1
fi

npm ci --no-audit --no-fund
npm test
