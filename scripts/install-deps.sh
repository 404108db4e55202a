#!/usr/bin/env bash
# Installs what buttervolume needs on Debian 12 (run as root). Idempotent.
#   scripts/install-deps.sh          the daemon's and CLI's needs
#   scripts/install-deps.sh --test   plus what the tests need (a private dockerd, sshd for
#                                    host B in a network namespace, busybox for the image,
#                                    prometheus/promtool for the metrics tests)
set -euo pipefail
PNPM_VERSION=12.4.2
export DEBIAN_FRONTEND=noninteractive

packages=(
  btrfs-progs e2fsprogs util-linux kmod # btrfs, chattr/lsattr, losetup/mount
  openssh-client rsync                  # replication and sync
  ca-certificates
)
if [[ "${1:-}" == "--test" ]]; then
  packages+=(openssh-server iproute2 busybox-static docker-compose debootstrap prometheus)
  # Any Docker engine will do; install Debian's only when none is there (it conflicts with docker-ce).
  command -v dockerd >/dev/null || packages+=(docker.io)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # The tests start their own Prometheus on loopback; the package's service (on :9090, with
  # its own data) has no business running on a test machine.
  if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  fi
fi

if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' 2>/dev/null; then
  echo "install-deps.sh: buttervolume needs Node.js >= 20.19 (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "Install a current Node.js (e.g. Debian 13's nodejs package, or your usual Node.js source) and run this again." >&2
  exit 1
fi

if [[ "$(pnpm --version 2>/dev/null || true)" != "$PNPM_VERSION" ]]; then
  npm install -g --no-fund --no-audit "pnpm@$PNPM_VERSION"
fi
