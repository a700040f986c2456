#!/usr/bin/env bash
# A second Docker daemon on this machine, for the two-engine tests: its own
# socket, data root, exec root, pid file and bridge, no iptables rules (it must
# not touch the first daemon's), and the busybox test image loaded into it.
# Idempotent: if its socket answers, only the image is checked.
#
# Usage: bash .ci/docker-second.sh         start it; print its DOCKER_HOST
#        bash .ci/docker-second.sh --stop  stop it (its data root stays)
# Env:   PDS_DOCKER2_ROOT (default /var/lib/pds-docker2), TEST_IMAGE_PREFIX
set -euo pipefail
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

ROOT="${PDS_DOCKER2_ROOT:-/var/lib/pds-docker2}"
RUN_DIR=/run/pds-docker2
SOCK="$RUN_DIR/docker.sock"
HOST="unix://$SOCK"
PIDFILE="$RUN_DIR/dockerd.pid"
LOG=/var/log/pds-docker2.log
BRIDGE=pds-docker2
BRIDGE_CIDR=10.213.0.1/24
IMAGE="${TEST_IMAGE_PREFIX:-pds-test}/busybox:latest"
log() { echo "docker-second.sh: $*" >&2; }
up() { docker -H "$HOST" info >/dev/null 2>&1; }

if [ "${1:-}" = --stop ]; then
  if [ -f "$PIDFILE" ]; then
    kill "$(cat "$PIDFILE")" 2>/dev/null || true
    for _ in $(seq 1 30); do [ -f "$PIDFILE" ] || break; sleep 1; done
  fi
  exit 0
fi

if ! up; then
  mkdir -p "$ROOT" "$RUN_DIR/exec"
  # The first daemon's storage driver, so both behave alike.
  driver="$(docker info --format '{{.Driver}}' 2>/dev/null || echo overlay2)"
  # Its own bridge: by default both daemons would claim docker0 and renumber it.
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$BRIDGE_CIDR" dev "$BRIDGE"
    ip link set "$BRIDGE" up
  fi
  log "starting a second dockerd on $HOST (data root $ROOT, bridge $BRIDGE, storage $driver, log $LOG)"
  setsid nohup dockerd \
    --host "$HOST" \
    --data-root "$ROOT" \
    --exec-root "$RUN_DIR/exec" \
    --pidfile "$PIDFILE" \
    --storage-driver "$driver" \
    --bridge "$BRIDGE" \
    --default-address-pool base=10.214.0.0/16,size=24 \
    --iptables=false --ip-masq=false \
    </dev/null >>"$LOG" 2>&1 &
  for i in $(seq 1 60); do
    if up; then log "answered after ~${i}s"; break; fi
    sleep 1
  done
  if ! up; then
    log "the second dockerd did not answer; last log lines:"
    tail -n 30 "$LOG" >&2 || true
    exit 1
  fi
fi

if ! docker -H "$HOST" image inspect "$IMAGE" >/dev/null 2>&1; then
  docker save "$IMAGE" | docker -H "$HOST" load >/dev/null
  log "loaded $IMAGE"
fi
echo "$HOST"
