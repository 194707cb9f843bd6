#!/usr/bin/env bash
# Installs everything the tests need on Debian / Raspberry Pi OS (system packages, then npm packages),
# then runs the full suite with `npm test`. Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(build-essential python3 socat libusb-1.0-0 mosquitto mosquitto-clients openssl gcc-avr avr-libc simavr libsimavr-dev libsimavrparts1 libelf-dev systemd)
# shellcheck source=apt-ensure.sh
. scripts/apt-ensure.sh
apt_ensure "${apt_packages[@]}"

npm ci --no-audit --no-fund
npm test
