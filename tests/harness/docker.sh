#!/usr/bin/env bash
# Make a Docker engine answer: the one already running, else (root on Debian/Ubuntu) install
# docker.io and start dockerd in the background. Hosts without systemd as PID 1 (CI containers,
# these dev machines) cannot use `systemctl start docker`, hence the plain background start.
set -euo pipefail

log() { printf '[docker] %s\n' "$*" >&2; }

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

if command -v docker >/dev/null 2>&1 && engine_answers; then
  exit 0
fi

if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  log "no Docker engine answers and this is not root on Debian/Ubuntu: start Docker yourself, then rerun"
  exit 1
fi

if ! command -v dockerd >/dev/null 2>&1; then
  log "installing docker.io"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io >/dev/null
fi

if command -v systemctl >/dev/null 2>&1 && [ "$(ps -o comm= -p 1)" = systemd ]; then
  systemctl start docker
else
  log "starting dockerd in the background (log: /var/log/sipstack-dockerd.log)"
  nohup dockerd >/var/log/sipstack-dockerd.log 2>&1 &
fi

for _ in $(seq 1 60); do
  engine_answers && exit 0
  sleep 1
done
log "dockerd did not answer within 60 s; see /var/log/sipstack-dockerd.log"
exit 1
