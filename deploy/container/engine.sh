#!/usr/bin/env bash
# Make sure a container engine answers: install Debian's docker.io when docker is missing, and
# start its daemon in the background when `docker info` fails (no systemd on CI or dev boxes).
# The vfs storage driver works inside any filesystem (no overlay mounts needed); no iptables and
# no bridge, so containers run with `--network host`. Needs root (or sudo).
set -euo pipefail
LOG_DIR=${1:-build/container/logs}
SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
if ! command -v dockerd >/dev/null; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends docker.io
fi
if docker info >/dev/null 2>&1; then exit 0; fi
mkdir -p "$LOG_DIR"
echo "starting dockerd (vfs, no bridge); log: $LOG_DIR/dockerd.log"
$SUDO sh -c "nohup dockerd --storage-driver=vfs --iptables=false --bridge=none \
  >'$LOG_DIR/dockerd.log' 2>&1 &"
for _ in $(seq 60); do
  if docker info >/dev/null 2>&1; then exit 0; fi
  sleep 1
done
echo "dockerd did not answer in 60 s; see $LOG_DIR/dockerd.log" >&2
exit 1
