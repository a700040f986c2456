#!/usr/bin/env bash
# Make sure a Docker daemon is answering on this machine.
#
# Idempotent: if `docker info` already answers, nothing is done. Otherwise
# Debian's docker.io (Docker Engine 20.10) is installed when dockerd is
# missing, dockerd is started in the background (log: /var/log/dockerd-ci.log)
# and we wait, bounded, until it answers.
#
# Storage driver: overlay2 is preferred; vfs is used only if overlay2 fails.
# iptables: the default (iptables on) is tried first; --iptables=false is used
# only if the daemon cannot start with it.
#
# Env:
#   DOCKERD_CI_LOG      log file          (default /var/log/dockerd-ci.log)
#   DOCKERD_CI_TIMEOUT  seconds per start (default 60)
set -euo pipefail

# dockerd/apt-get live in sbin, which a CI PATH may lack. Append, so the
# user's preferred `docker` client keeps precedence.
export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

LOG="${DOCKERD_CI_LOG:-/var/log/dockerd-ci.log}"
TIMEOUT="${DOCKERD_CI_TIMEOUT:-60}"

log() { echo "docker.sh: $*" >&2; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    log "must run as root (or with sudo available)"
    exit 1
  fi
fi

# The Debian package's own client always speaks the daemon's API version, so
# it is the reliable "is the daemon up?" probe even when the `docker` first on
# PATH is a newer CLI.
pkg_cli() {
  if [ -x /usr/bin/docker ]; then echo /usr/bin/docker; else echo docker; fi
}
daemon_up() { "${SUDO[@]}" "$(pkg_cli)" info >/dev/null 2>&1; }
client_ok() { docker info >/dev/null 2>&1; }

# Make sure the `docker` first on PATH talks to the daemon. Client >= 1.13 and
# daemon 20.10 negotiate the API version by themselves; only when that fails
# do we tell the caller to pin DOCKER_API_VERSION (a script cannot export
# into its parent; .ci/run does this itself).
check_client() {
  if client_ok; then
    local cv sv
    cv="$(docker version --format '{{.Client.Version}} (API {{.Client.APIVersion}})' 2>/dev/null || echo '?')"
    sv="$(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})' 2>/dev/null || echo '?')"
    sv="${sv}, storage driver $(docker info --format '{{.Driver}}' 2>/dev/null || echo '?')"
    log "ok: client $(command -v docker) ${cv}; daemon ${sv}"
    return 0
  fi
  local api
  api="$("${SUDO[@]}" "$(pkg_cli)" version --format '{{.Server.APIVersion}}' 2>/dev/null || true)"
  if [ -n "$api" ] && DOCKER_API_VERSION="$api" docker info >/dev/null 2>&1; then
    log "daemon is up but $(command -v docker) does not negotiate its API version;"
    log "run: export DOCKER_API_VERSION=${api}"
    return 0
  fi
  log "daemon is up but $(command -v docker) cannot talk to it:"
  docker info 2>&1 | tail -n 5 >&2 || true
  return 1
}

if client_ok; then
  log "docker already answers; nothing to do"
  exit 0
fi

if daemon_up; then
  check_client
  exit $?
fi

# --- install ---------------------------------------------------------------
if ! command -v dockerd >/dev/null 2>&1; then
  log "dockerd missing; installing docker.io"
  "${SUDO[@]}" apt-get update
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io
fi
DOCKERD="$(command -v dockerd)"

# A dockerd may already be starting (e.g. a concurrent run, or systemd after
# the package install); wait for it rather than racing it.
if pgrep -x dockerd >/dev/null 2>&1; then
  log "a dockerd process exists (pid $(pgrep -x dockerd | tr '\n' ' ')); waiting for it"
  for _ in $(seq 1 "$TIMEOUT"); do
    if daemon_up; then check_client; exit $?; fi
    pgrep -x dockerd >/dev/null 2>&1 || break
    sleep 1
  done
  if pgrep -x dockerd >/dev/null 2>&1; then
    log "existing dockerd did not answer within ${TIMEOUT}s; last log lines:"
    tail -n 40 "$LOG" >&2 2>/dev/null || true
    exit 1
  fi
fi

# --- start -----------------------------------------------------------------
"${SUDO[@]}" mkdir -p "$(dirname "$LOG")"
"${SUDO[@]}" touch "$LOG"

# try_start FLAGS... : 0 = answering, 1 = dockerd exited, 2 = timed out
try_start() {
  log "starting: dockerd $* (log ${LOG})"
  local from
  from=$(($(wc -l <"$LOG") + 1))
  printf '\n===== %s docker.sh: dockerd %s =====\n' "$(date -u +%FT%TZ)" "$*" \
    | "${SUDO[@]}" tee -a "$LOG" >/dev/null
  # setsid+nohup: the daemon must outlive this script and its process group.
  # The redirection happens inside the (possibly sudo'ed) shell so that a
  # non-root caller can still write the root-owned log.
  # shellcheck disable=SC2016 # $@ and $LOG expand in the inner sh
  "${SUDO[@]}" env LOG="$LOG" sh -c 'exec setsid nohup "$@" </dev/null >>"$LOG" 2>&1' \
    dockerd "$DOCKERD" "$@" &
  local pid=$! i
  for i in $(seq 1 "$TIMEOUT"); do
    if daemon_up; then
      log "dockerd answered after ~${i}s"
      return 0
    fi
    if ! kill -0 "$pid" 2>/dev/null && ! pgrep -x dockerd >/dev/null 2>&1; then
      log "dockerd exited; last log lines:"
      tail -n "+${from}" "$LOG" | tail -n 15 >&2 || true
      return 1
    fi
    sleep 1
  done
  log "dockerd did not answer within ${TIMEOUT}s; last log lines:"
  tail -n "+${from}" "$LOG" | tail -n 40 >&2 || true
  # Leave no half-started daemon behind.
  "${SUDO[@]}" kill "$pid" 2>/dev/null || true
  return 2
}

attempts=(
  "--storage-driver=overlay2"
  "--storage-driver=overlay2 --iptables=false --ip-masq=false"
  "--storage-driver=vfs"
  "--storage-driver=vfs --iptables=false --ip-masq=false"
)
for flags in "${attempts[@]}"; do
  read -ra flag_args <<<"$flags"
  rc=0
  try_start "${flag_args[@]}" || rc=$?
  case "$rc" in
    0) check_client; exit $? ;;
    1) continue ;;
    *) exit 1 ;;
  esac
done

log "dockerd could not be started with any flag set; see ${LOG}"
exit 1
