#!/usr/bin/env bash
# Installs doorpass on Raspberry Pi OS / Debian from this repository checkout, as a systemd service.
# Guide: docs/installing.md. Run `scripts/install.sh --help` for the options.
#
# What goes where (the paths systemd/doorpass.service expects):
#   /opt/doorpass                          the built program: package.json, dist/src, config, docs, systemd and
#                                          the production node_modules (native modules built by `npm ci` here)
#   /usr/bin/doorpass                      wrapper: exec <node> /opt/doorpass/dist/src/cli/main.js "$@"
#   /etc/doorpass/doorpass.yaml            the configuration (0640 root:doorpass in 0750 root:doorpass);
#                                          written from config/doorpass.example.yaml once (storage.dir and
#                                          status.socket set for this layout), never overwritten
#   /var/lib/doorpass                      state: SQLite pass cache, event journal, credential key
#   /etc/systemd/system/doorpass.service   the unit (Type=notify, watchdog, hardening)
#   /etc/udev/rules.d/99-doorpass.rules    /dev/doorpass-bridge, /dev/doorpass-hid-N, GPIO groups
#   /etc/modules-load.d/doorpass.conf      USB serial drivers loaded at boot (the unit's DeviceAllow= needs them)
#
# Safe to run again: an upgrade replaces the program, the wrapper, the unit and the rules, keeps the
# configuration and the state, and restarts the service if it was running.
set -euo pipefail
umask 022

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
APP_DIR=/opt/doorpass
BIN=/usr/bin/doorpass
CONF_DIR=/etc/doorpass
CONF="$CONF_DIR/doorpass.yaml"
STATE_DIR=/var/lib/doorpass
SOCKET=/run/doorpass/doorpass.sock
UNIT_NAME=doorpass.service
UNIT="/etc/systemd/system/$UNIT_NAME"
DROPIN_DIR="/etc/systemd/system/$UNIT_NAME.d"
RULES=/etc/udev/rules.d/99-doorpass.rules
MODULES_CONF=/etc/modules-load.d/doorpass.conf
SERVICE_USER=doorpass
# The unit's SupplementaryGroups=: each must exist, or systemd refuses to start the service (216/GROUP).
DEVICE_GROUPS=(gpio dialout plugdev input)
# USB serial drivers for the bridge (cdc_acm: Arduino Uno; ch341: CH340; ftdi_sio: FTDI) and USB HID.
MODULES=(cdc_acm ch341 ftdi_sio usbhid)
RUNTIME_PACKAGES=(libusb-1.0-0 udev)
# `npm ci` compiles the native modules that have no prebuilt binary for the Pi (epoll, used by onoff).
BUILD_PACKAGES=(build-essential python3)

ARGS="$*"
ROOT=""
DRY_RUN=0
START=0
UNINSTALL=0
PURGE=0
BUILD=1

usage() {
  cat <<EOF
Usage: scripts/install.sh [options]

Installs doorpass from this checkout ($REPO) as a systemd service.
Run as root (sudo) unless --root or --dry-run is given.

Options:
  --start          start (or restart) the service after installing; without it the service is only
                   enabled, so it starts at the next boot or with: sudo systemctl start doorpass
  --no-build       use the existing build (dist/ and node_modules/) instead of npm ci && npm run build
  --uninstall      remove the service, udev rules, wrapper and program; keep $CONF_DIR and $STATE_DIR
  --purge          with --uninstall: also remove $CONF_DIR, $STATE_DIR and the $SERVICE_USER user
  --dry-run, -n    print what would be done, change nothing
  --root DIR       install into DIR as a staging root (an image being prepared, or a test) instead of /:
                   files go under DIR; users, apt, systemctl (except enable) and udevadm are left alone
  --prefix DIR     the same as --root DIR
  -h, --help       this help
EOF
}

say() { printf 'doorpass install: %s\n' "$*"; }
note() { printf '  %s\n' "$*"; }
# The command line, quoted for a shell only where needed.
quoted() {
  local a out=""
  for a in "$@"; do
    if [[ "$a" =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then out+=" $a"; else out+=" $(printf '%q' "$a")"; fi
  done
  printf '%s' "${out# }"
}
section() { printf '\n== %s\n' "$*"; }
die() {
  printf 'doorpass install: error: %s\n' "$*" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --start) START=1 ;;
    --no-build) BUILD=0 ;;
    --uninstall) UNINSTALL=1 ;;
    --purge) PURGE=1 ;;
    -n | --dry-run) DRY_RUN=1 ;;
    --root | --prefix)
      [ $# -ge 2 ] && [ -n "$2" ] || die "$1 needs a directory"
      ROOT="$2"
      shift
      ;;
    --root=* | --prefix=*) ROOT="${1#*=}" ;;
    -h | --help)
      usage
      exit 0
      ;;
    *)
      usage >&2
      die "unknown option: $1"
      ;;
  esac
  shift
done

if [ "$PURGE" = 1 ] && [ "$UNINSTALL" = 0 ]; then
  die "--purge only goes with --uninstall (scripts/install.sh --uninstall --purge)"
fi
if [ -n "$ROOT" ]; then
  [ "${ROOT#/}" != "$ROOT" ] || ROOT="$PWD/$ROOT"
  ROOT="${ROOT%/}"
  [ -n "$ROOT" ] || die "--root /: leave --root out to install on this system"
  if [ "$DRY_RUN" = 0 ]; then mkdir -p "$ROOT"; fi
fi
if [ "$DRY_RUN" = 0 ] && [ -z "$ROOT" ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root: sudo $0 $ARGS (or add --dry-run to see what it would do)"
fi

# A path on the target system (under the staging root with --root).
t() { printf '%s%s' "$ROOT" "$1"; }

# Runs a command, printing it first; with --dry-run only prints it.
run() {
  if [ "$DRY_RUN" = 1 ]; then
    printf '  would run: %s\n' "$(quoted "$@")"
  else
    printf '  + %s\n' "$(quoted "$@")"
    "$@"
  fi
}

# A step that changes the running system (users, apt, systemctl, udev): skipped with --root.
system() {
  if [ -n "$ROOT" ]; then
    printf '  skip (--root): %s\n' "$(quoted "$@")"
  else
    run "$@"
  fi
}

# Writes standard input to a file on the target with a mode (and owner:group on the real system).
write_file() {
  local dest="$1" mode="$2" owner="$3" what="$4" tmp
  tmp="$(mktemp)"
  cat >"$tmp"
  if [ "$DRY_RUN" = 1 ]; then
    printf '  would write: %s (%s %s): %s\n' "$(t "$dest")" "$mode" "$owner" "$what"
    rm -f "$tmp"
    return
  fi
  printf '  write: %s (%s %s): %s\n' "$(t "$dest")" "$mode" "$owner" "$what"
  mkdir -p "$(dirname "$(t "$dest")")"
  if [ -z "$ROOT" ]; then
    install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$dest"
  else
    install -m "$mode" "$tmp" "$(t "$dest")"
  fi
  rm -f "$tmp"
}

# Creates (or fixes the mode and owner of) a folder on the target; the owner only on the real system.
make_dir() {
  local dir="$1" mode="$2" owner="$3"
  if [ -z "$ROOT" ]; then
    run install -d -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$dir"
  else
    run install -d -m "$mode" "$(t "$dir")"
  fi
}

# Runs npm in the checkout as the user who owns it when called through sudo, so that node_modules and
# dist stay theirs.
as_owner() {
  if [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ] && [ "$(stat -c %U "$REPO")" = "$SUDO_USER" ]; then
    run sudo -u "$SUDO_USER" -H "$@"
  else
    run "$@"
  fi
}

# --- Node.js -------------------------------------------------------------------------------------------
NODE=""
check_node() {
  section "Node.js"
  NODE="$(command -v node || true)"
  if [ -z "$NODE" ]; then
    die "Node.js is not installed. doorpass needs Node.js 20 or newer (Debian and Raspberry Pi OS bookworm ship
  18, which is too old). Install it from NodeSource (https://github.com/nodesource/distributions), e.g.:
    curl -fsSL https://deb.nodesource.com/setup_22.x | sudo bash - && sudo apt-get install -y nodejs
  then run this script again."
  fi
  local need version
  need="$(sed -n 's/.*"node": *">=\([0-9.]*\)".*/\1/p' "$REPO/package.json" | head -n 1)"
  need="${need:-20}"
  version="$("$NODE" -p 'process.versions.node')"
  if ! "$NODE" -e '
    const [a, b] = process.versions.node.split(".").map(Number);
    const [x, y = 0] = process.argv[1].split(".").map(Number);
    process.exit(a > x || (a === x && b >= y) ? 0 : 1);' "$need"; then
    die "Node.js $version at $NODE is too old: doorpass needs $need or newer (package.json \"engines\").
  Install Node.js 20 or newer from NodeSource (https://github.com/nodesource/distributions) and run this
  script again."
  fi
  case "$NODE" in
    /home/* | /root/* | /run/user/*)
      local msg="node is $NODE, in a home folder: the service runs with ProtectHome=yes and cannot reach it.
  Install Node.js system-wide (NodeSource or the distribution's package, in /usr/bin) instead of nvm."
      if [ "$DRY_RUN" = 1 ]; then note "warning: $msg"; else die "$msg"; fi
      ;;
  esac
  note "Node.js $version at $NODE (needs $need or newer): ok"
}

# --- Install -------------------------------------------------------------------------------------------
install_packages() {
  section "Debian packages"
  local wanted=("${RUNTIME_PACKAGES[@]}") missing=() p
  [ "$BUILD" = 1 ] && wanted+=("${BUILD_PACKAGES[@]}")
  if ! command -v dpkg >/dev/null || ! command -v apt-get >/dev/null; then
    note "warning: no dpkg/apt-get (not Debian?): install ${wanted[*]} yourself"
    return
  fi
  for p in "${wanted[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  if [ ${#missing[@]} -eq 0 ]; then
    note "already installed: ${wanted[*]}"
    return
  fi
  system apt-get update -qq
  system env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
}

build() {
  section "Build"
  if [ "$BUILD" = 0 ]; then
    if [ -f "$REPO/dist/src/cli/main.js" ] && [ -d "$REPO/node_modules" ]; then
      note "--no-build: using the existing dist/ and node_modules/"
    elif [ "$DRY_RUN" = 1 ]; then
      note "warning: --no-build, but dist/src/cli/main.js or node_modules/ is missing (the install would fail)"
    else
      die "--no-build, but there is no build: dist/src/cli/main.js or node_modules/ is missing (run npm ci && npm run build)"
    fi
    return
  fi
  cd "$REPO"
  as_owner npm ci --no-audit --no-fund
  as_owner npm run build
}

install_program() {
  section "Program: $(t "$APP_DIR"), $(t "$BIN")"
  local stage old
  stage="$(t "$APP_DIR").new"
  old="$(t "$APP_DIR").old"
  # Built in a side folder, then swapped in, so an interrupted install never leaves half a program.
  run rm -rf "$stage" "$old"
  run mkdir -p "$stage/dist"
  run cp -R "$REPO/package.json" "$REPO/package-lock.json" "$REPO/config" "$REPO/docs" "$REPO/systemd" \
    "$REPO/node_modules" "$stage/"
  run cp -R "$REPO/dist/src" "$stage/dist/src"
  # Drop the development packages (TypeScript, tap, eslint…) from the copy; works offline.
  run npm --prefix "$stage" prune --omit=dev --offline --no-audit --no-fund
  if [ -e "$(t "$APP_DIR")" ]; then run mv "$(t "$APP_DIR")" "$old"; fi
  run mv "$stage" "$(t "$APP_DIR")"
  run rm -rf "$old"
  # exec keeps the process id: under systemd node is then the unit's main process (NotifyAccess=main).
  write_file "$BIN" 0755 root:root "wrapper that runs $NODE $APP_DIR/dist/src/cli/main.js" <<EOF
#!/bin/sh
# doorpass command, written by scripts/install.sh: runs the program in $APP_DIR with Node.js.
# exec keeps the process id, so that under systemd node is the service's main process (sd_notify).
exec $NODE $APP_DIR/dist/src/cli/main.js "\$@"
EOF
}

create_user() {
  section "User $SERVICE_USER and device groups"
  local g groups_csv
  groups_csv="$(
    IFS=,
    echo "${DEVICE_GROUPS[*]}"
  )"
  if [ -n "$ROOT" ]; then
    note "skip (--root): create the system user $SERVICE_USER (home $STATE_DIR, no login) in groups $groups_csv,"
    note "  creating any of those groups that are missing; run the installer on the device, or create them there"
    return
  fi
  for g in "${DEVICE_GROUPS[@]}"; do
    if getent group "$g" >/dev/null; then
      note "group $g exists"
    else
      # e.g. gpio on plain Debian: the unit's SupplementaryGroups= needs it to exist.
      system groupadd --system "$g"
    fi
  done
  if id "$SERVICE_USER" >/dev/null 2>&1; then
    note "user $SERVICE_USER exists"
  elif command -v adduser >/dev/null; then
    system adduser --system --group --no-create-home --home "$STATE_DIR" --shell /usr/sbin/nologin \
      --gecos "doorpass door-access daemon" "$SERVICE_USER"
  else
    system useradd --system --user-group --no-create-home --home-dir "$STATE_DIR" --shell /usr/sbin/nologin \
      --comment "doorpass door-access daemon" "$SERVICE_USER"
  fi
  system usermod -a -G "$groups_csv" "$SERVICE_USER"
}

# The example configuration with its demo header replaced, storage.dir switched to /var/lib/doorpass and,
# unless the example sets it, status.socket in the unit's RuntimeDirectory: the daemon finds /run/doorpass
# through $RUNTIME_DIRECTORY, but `doorpass status` run from a shell has no such variable and needs the key.
installed_config() {
  cat <<EOF
# $CONF: the doorpass configuration for this door station.
# Written by scripts/install.sh from config/doorpass.example.yaml, with storage.dir set to $STATE_DIR
# and status.socket to $SOCKET.
# It starts as a simulated door (log-only relays); describe the real doors and inputs here, then:
#   doorpass check-config --config $CONF && sudo systemctl restart doorpass
# The installer never overwrites this file. Every key: $APP_DIR/docs/configuration.md
EOF
  awk -v dir="$STATE_DIR" -v socket="$SOCKET" '
    NR == 1 || header { if ($0 ~ /^#/) { header = 1; next } header = 0 }
    /^status:/ { has_status = 1 }
    /^[^[:space:]#]/ { in_storage = ($0 ~ /^storage:/) }
    in_storage && !done && /^[[:space:]]+dir:/ {
      match($0, /^[[:space:]]+/)
      print substr($0, 1, RLENGTH) "dir: " dir " # SQLite pass cache + event journal + credential key (systemd StateDirectory)"
      done = 1
      next
    }
    { print }
    END {
      if (!done) exit 3
      if (!has_status) {
        print ""
        print "status:"
        print "  socket: " socket " # read by `doorpass status`; /run/doorpass is the unit'"'"'s RuntimeDirectory"
      }
    }
  ' "$REPO/config/doorpass.example.yaml"
}

install_config() {
  section "Configuration: $(t "$CONF")"
  make_dir "$CONF_DIR" 0750 "root:$SERVICE_USER"
  if [ -e "$(t "$CONF")" ]; then
    note "keeping the existing $(t "$CONF") (never overwritten)"
  else
    local text
    text="$(installed_config)" || die "could not find storage.dir in config/doorpass.example.yaml"
    printf '%s\n' "$text" | write_file "$CONF" 0640 "root:$SERVICE_USER" \
      "from config/doorpass.example.yaml, storage.dir: $STATE_DIR, status.socket: $SOCKET"
  fi
  # State folder now, so that `doorpass passes import` works before the first start; systemd also creates
  # it (StateDirectory=) and gives it to the service user.
  make_dir "$STATE_DIR" 0750 "$SERVICE_USER:$SERVICE_USER"
}

install_units() {
  section "systemd unit, udev rules, kernel modules"
  run install -D -m 0644 "$REPO/systemd/doorpass.service" "$(t "$UNIT")"
  run install -D -m 0644 "$REPO/systemd/99-doorpass.rules" "$(t "$RULES")"
  printf '%s\n' "# USB serial and HID drivers for doorpass (scripts/install.sh): loaded at boot, before doorpass.service" \
    "# starts, because its DeviceAllow=char-ttyACM/char-ttyUSB only cover drivers loaded by then." \
    "${MODULES[@]}" | write_file "$MODULES_CONF" 0644 root:root "${MODULES[*]}"
  system systemctl daemon-reload
  system udevadm control --reload
  system udevadm trigger --action=add --subsystem-match=tty --subsystem-match=hidraw --subsystem-match=gpio
  if [ -z "$ROOT" ]; then
    run modprobe -a "${MODULES[@]}" || note "warning: could not load every module (${MODULES[*]}); they load when a device is plugged in"
  else
    system modprobe -a "${MODULES[@]}"
  fi
  if [ -n "$ROOT" ]; then
    # systemctl --root only creates the WantedBy= symlink in the staging root; no running systemd needed.
    if command -v systemctl >/dev/null; then
      run systemctl --root="$ROOT" enable "$UNIT_NAME"
    else
      run mkdir -p "$(t /etc/systemd/system/multi-user.target.wants)"
      run ln -sf "$UNIT" "$(t "/etc/systemd/system/multi-user.target.wants/$UNIT_NAME")"
    fi
  else
    run systemctl enable "$UNIT_NAME"
  fi
}

start_service() {
  section "Service"
  if [ -n "$ROOT" ]; then
    note "staging root: the service is enabled in $ROOT, not started"
    return
  fi
  if [ "$START" = 1 ]; then
    local help=""
    [ "$DRY_RUN" = 1 ] || help="$("$BIN" --help 2>/dev/null || true)"
    if [[ "$help" == *check-config* ]]; then
      run "$BIN" check-config --config "$CONF" ||
        die "$CONF has errors (listed above): fix them, then: sudo systemctl start doorpass"
    fi
    run systemctl restart "$UNIT_NAME"
    [ "$DRY_RUN" = 1 ] || note "started; its log: journalctl -u doorpass -f"
  elif [ "$DRY_RUN" = 0 ] && systemctl is-active --quiet "$UNIT_NAME"; then
    # It was running the previous version: the program under it has just been replaced.
    run systemctl restart "$UNIT_NAME"
    note "it was running: restarted on the new version"
  else
    note "enabled, not started (it starts at boot). Now:"
    note "  1. edit $CONF (docs/installing.md)"
    note "  2. doorpass check-config --config $CONF"
    note "  3. sudo systemctl start doorpass && journalctl -u doorpass -f"
  fi
}

# --- Uninstall -----------------------------------------------------------------------------------------
uninstall() {
  section "Service"
  if [ -n "$ROOT" ]; then
    if [ -e "$(t "$UNIT")" ] && command -v systemctl >/dev/null; then
      run systemctl --root="$ROOT" disable "$UNIT_NAME"
    else
      run rm -f "$(t "/etc/systemd/system/multi-user.target.wants/$UNIT_NAME")"
    fi
  elif [ -e "$UNIT" ]; then
    system systemctl disable --now "$UNIT_NAME"
  else
    note "no $UNIT"
  fi
  section "Files"
  run rm -f "$(t "$UNIT")" "$(t "$RULES")" "$(t "$MODULES_CONF")" "$(t "$BIN")"
  run rm -rf "$(t "$APP_DIR")" "$(t "$APP_DIR").new" "$(t "$APP_DIR").old"
  system systemctl daemon-reload
  system udevadm control --reload
  if [ "$PURGE" = 1 ]; then
    section "Purge: configuration, state and user"
    run rm -rf "$(t "$CONF_DIR")" "$(t "$STATE_DIR")" "$(t "$DROPIN_DIR")"
    if [ -n "$ROOT" ] || id "$SERVICE_USER" >/dev/null 2>&1; then
      if command -v deluser >/dev/null; then
        system deluser --system "$SERVICE_USER"
      else
        system userdel "$SERVICE_USER"
      fi
    fi
    if [ -z "$ROOT" ] && getent group "$SERVICE_USER" >/dev/null; then
      system groupdel "$SERVICE_USER"
    fi
    note "purged (the device groups ${DEVICE_GROUPS[*]} are kept: other programs use them)"
  else
    note "kept $(t "$CONF_DIR") and $(t "$STATE_DIR") (remove them with --uninstall --purge)"
  fi
}

# --- Main ----------------------------------------------------------------------------------------------
where="${ROOT:-this system}"
mode=""
[ "$DRY_RUN" = 1 ] && mode=" (dry run: nothing is changed)"
[ -n "$ROOT" ] && mode="$mode (staging root: users, apt, systemctl and udev are left alone)"

if [ "$UNINSTALL" = 1 ]; then
  say "uninstalling doorpass from $where$mode"
  uninstall
  say "done"
  exit 0
fi

version="$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$REPO/package.json" | head -n 1)"
say "installing doorpass ${version:-?} from $REPO into $where$mode"
check_node
install_packages
build
install_program
create_user
install_config
install_units
start_service
say "done"
