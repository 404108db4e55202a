#!/usr/bin/env bash
# Installs what buttervolume and its tests need on Debian 12 (run as root). Idempotent.
set -euo pipefail
PNPM_VERSION=12.4.2
export DEBIAN_FRONTEND=noninteractive

packages=(
  btrfs-progs e2fsprogs util-linux kmod  # btrfs, chattr/lsattr, losetup/mount
  openssh-client openssh-server rsync iproute2  # replication and host B in a namespace
  docker.io busybox-static  # the end-to-end tests' private dockerd and image
  ca-certificates
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [[ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]]; then
  npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION"
fi
