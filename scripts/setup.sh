#!/usr/bin/env bash
# Sets up buttervolume on a fresh Debian 12 machine (as root) and runs the plugin:
#   1. installs the Debian packages and pnpm (scripts/install-deps.sh),
#   2. builds the workspace and puts the `buttervolume` command on PATH,
#   3. makes sure VOLUMES_PATH and SNAPSHOTS_PATH are on btrfs (`buttervolume init`: a sparse,
#      loop-mounted image file when the machine has no btrfs partition),
#   4. runs the daemon: as the systemd service when systemd runs the machine, otherwise in the
#      foreground (Ctrl-C stops it).
# Settings (environment): BUTTERVOLUME_* as for the daemon (see README), IMAGE_SIZE (default
# 20G), BIN_DIR (default /usr/local/bin), UNIT_DIR (default /etc/systemd/system),
# SKIP_BUILD=1 (the workspace is already installed and built: skip `pnpm install` and
# `pnpm build`), FOREGROUND=1 (run the daemon in the foreground even where systemd runs).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
cd "$repo"

IMAGE_SIZE="${IMAGE_SIZE:-20G}"
BIN_DIR="${BIN_DIR:-/usr/local/bin}"
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"

if [[ "$(id -u)" != 0 ]]; then
  echo "setup.sh: run as root (it installs packages, mounts btrfs and starts a system service)" >&2
  exit 1
fi

bash scripts/install-deps.sh
if [[ "${SKIP_BUILD:-}" != 1 ]]; then
  pnpm install --frozen-lockfile
  pnpm build
fi

install -d "$BIN_DIR"
cat >"$BIN_DIR/buttervolume.tmp" <<WRAPPER
#!/bin/sh
exec "$repo/apps/cli/dist/bin.js" "\$@"
WRAPPER
chmod 755 "$BIN_DIR/buttervolume.tmp"
mv "$BIN_DIR/buttervolume.tmp" "$BIN_DIR/buttervolume"

if [[ -d /run/systemd/system && "${FOREGROUND:-}" != 1 ]]; then
  "$BIN_DIR/buttervolume" init --size "$IMAGE_SIZE"
  install -m 644 deploy/systemd/buttervolume.service "$UNIT_DIR/buttervolume.service"
  systemctl daemon-reload
  systemctl enable --now buttervolume.service
  systemctl --no-pager --lines=5 status buttervolume.service || true
  echo "buttervolume is running as a service; try: buttervolume snapshots"
else
  "$BIN_DIR/buttervolume" init --size "$IMAGE_SIZE" --no-units
  echo "starting the daemon in the foreground (Ctrl-C stops it)."
  exec "$BIN_DIR/buttervolume" run
fi
