#!/usr/bin/env bash
# Build the base image from Debian's own packages (no image registry is needed or reachable):
# `debootstrap --variant=minbase` of bookworm with Python 3.11 and the Bento's system packages,
# imported with `docker import`. Usage: base-image.sh IMAGE WORK_DIR PACKAGE...
# Cached: nothing is done when IMAGE exists with the same package list (kept as an image label).
set -euo pipefail
IMAGE=$1 WORK=$2
shift 2
packages=$(IFS=,; echo "$*")
built_with=$(docker image inspect -f '{{index .Config.Labels "loan-default.packages"}}' "$IMAGE" \
  2>/dev/null || true)
if [ "$built_with" = "$packages" ]; then
  echo "base image $IMAGE: cached ($packages)"
  exit 0
fi
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v debootstrap >/dev/null || [ ! -e /usr/share/keyrings/debian-archive-keyring.gpg ]
then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends debootstrap \
    debian-archive-keyring
fi
# DEBIAN_MIRROR, else the Debian mirror apt already uses here (deb822 or one-line sources), else
# Debian's CDN (on Ubuntu, for instance).
MIRROR=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list \
  /etc/apt/sources.list 2>/dev/null | grep -oE '^(URIs:|deb) +https?://[^ ]+/debian/?$' \
  | head -1 | awk '{print $2}' || true)}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
ROOTFS="$WORK/rootfs"
$SUDO rm -rf "$ROOTFS"
mkdir -p "$ROOTFS"
echo "debootstrap bookworm from $MIRROR with $packages"
$SUDO debootstrap --variant=minbase --include="$packages" \
  --keyring=/usr/share/keyrings/debian-archive-keyring.gpg bookworm "$ROOTFS" "$MIRROR" \
  >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; exit 1; }
# Nothing of apt's download cache or lists belongs in an image.
$SUDO rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
$SUDO tar -C "$ROOTFS" -c . | docker import \
  --change 'ENV LANG=C.UTF-8' --change 'CMD ["/bin/bash"]' \
  --change "LABEL loan-default.packages=$packages" - "$IMAGE"
$SUDO rm -rf "$ROOTFS"
echo "base image $IMAGE: built"
