#!/bin/sh
# shellcheck disable=SC2154 # the _rh_*/_rk_* variables are assigned through eval
# hooks.sh: consistency hooks around one volume's backup. Sourced by backup.sh
# (after lib.sh), never run.
#
# A file-level copy of a volume that a database is writing can be torn. Per
# volume, the job can run commands inside app containers first (e.g. pg_dump
# into a dump directory on the volume), stop or pause the containers that mount
# the volume while it is archived, start them again afterwards (also when the
# backup fails), then run post commands. All of this needs the docker CLI and
# the Docker socket, which only jobs configured with hooks get.
#
# Environment:
#   BACKUP_STOP         "volume:container ..." stopped during that volume's backup
#   BACKUP_PAUSE        "volume:container ..." paused (docker pause) instead
#   BACKUP_HOOKS        number N of hook commands (default 0); for i in 1..N:
#     BACKUP_HOOK_<i>_VOLUME     volume key the hook belongs to
#     BACKUP_HOOK_<i>_PHASE      pre | post
#     BACKUP_HOOK_<i>_CONTAINER  container name to `docker exec` in
#     BACKUP_HOOK_<i>_COMMAND    the command as shell words (eval'd into argv)
#     BACKUP_HOOK_<i>_TIMEOUT    seconds (default 300); the exec is killed after it
#     BACKUP_HOOK_<i>_ON_ERROR   fail (default) | continue
#   BACKUP_STOP_TIMEOUT seconds `docker stop` waits before killing (default 30)
#
# Order per volume: pre hooks, stop/pause, archive, start/unpause, post hooks.
# A hook whose container is not running (or does not exist yet) is skipped
# with a warning: nothing is writing the volume then.

HOOKS_RESUME=

hooks_configured() {
	[ -n "${BACKUP_STOP:-}" ] || [ -n "${BACKUP_PAUSE:-}" ] || [ "${BACKUP_HOOKS:-0}" != 0 ]
}

hooks_load_config() {
	BACKUP_HOOKS=${BACKUP_HOOKS:-0}
	BACKUP_STOP_TIMEOUT=${BACKUP_STOP_TIMEOUT:-30}
	require_uint BACKUP_HOOKS "$BACKUP_HOOKS"
	require_uint BACKUP_STOP_TIMEOUT "$BACKUP_STOP_TIMEOUT"
	if hooks_configured; then
		require_cmd docker "the docker CLI, for consistency hooks"
		docker version >/dev/null 2>&1 ||
			die_config "consistency hooks need the Docker socket (/var/run/docker.sock) mounted into the job"
	fi
}

# containers_for VOLUME LIST: the container names LIST pairs with VOLUME.
containers_for() {
	for _cf_pair in $2; do
		case "$_cf_pair" in
		"$1":*) printf '%s\n' "${_cf_pair#*:}" ;;
		esac
	done
}

# quiesce_volume VOLUME: stop, then pause, the containers configured for VOLUME
# that are running; remember how to bring each back.
quiesce_volume() {
	for _qv_c in $(containers_for "$1" "${BACKUP_STOP:-}"); do
		[ "$(docker inspect -f '{{.State.Running}}' "$_qv_c" 2>/dev/null)" = true ] || continue
		log "volume $1: stopping $_qv_c"
		docker stop -t "$BACKUP_STOP_TIMEOUT" "$_qv_c" >/dev/null || {
			err "volume $1: could not stop $_qv_c"
			return 1
		}
		HOOKS_RESUME="$HOOKS_RESUME start:$_qv_c"
	done
	for _qv_c in $(containers_for "$1" "${BACKUP_PAUSE:-}"); do
		[ "$(docker inspect -f '{{.State.Running}} {{.State.Paused}}' "$_qv_c" 2>/dev/null)" = "true false" ] || continue
		log "volume $1: pausing $_qv_c"
		docker pause "$_qv_c" >/dev/null || {
			err "volume $1: could not pause $_qv_c"
			return 1
		}
		HOOKS_RESUME="$HOOKS_RESUME unpause:$_qv_c"
	done
}

# resume_all: start or unpause everything quiesce_volume took away. Every
# container is tried even if one fails.
resume_all() {
	_ra_rc=0
	for _ra_item in $HOOKS_RESUME; do
		_ra_c=${_ra_item#*:}
		log "resuming $_ra_c (${_ra_item%%:*})"
		docker "${_ra_item%%:*}" "$_ra_c" >/dev/null || {
			err "could not ${_ra_item%%:*} $_ra_c: start it by hand (docker ${_ra_item%%:*} $_ra_c)"
			_ra_rc=1
		}
	done
	HOOKS_RESUME=
	return "$_ra_rc"
}

# run_hooks VOLUME PHASE: the hook commands of VOLUME for PHASE, in order.
run_hooks() {
	_rh_i=1
	while [ "$_rh_i" -le "$BACKUP_HOOKS" ]; do
		eval "_rh_vol=\${BACKUP_HOOK_${_rh_i}_VOLUME:-}"
		eval "_rh_phase=\${BACKUP_HOOK_${_rh_i}_PHASE:-}"
		if [ "$_rh_vol" = "$1" ] && [ "$_rh_phase" = "$2" ]; then
			run_hook "$_rh_i" "$1" || return 1
		fi
		_rh_i=$((_rh_i + 1))
	done
}

run_hook() { # INDEX VOLUME
	_rk_vol=$2
	eval "_rk_c=\${BACKUP_HOOK_${1}_CONTAINER:-}"
	eval "_rk_cmd=\${BACKUP_HOOK_${1}_COMMAND:-}"
	eval "_rk_timeout=\${BACKUP_HOOK_${1}_TIMEOUT:-300}"
	eval "_rk_on_error=\${BACKUP_HOOK_${1}_ON_ERROR:-fail}"
	eval "_rk_phase=\${BACKUP_HOOK_${1}_PHASE:-}"
	require_uint "BACKUP_HOOK_${1}_TIMEOUT" "$_rk_timeout"
	# A container that is not running writes nothing: its data is consistent as
	# it is (and on a first deploy, before the container exists, there is
	# nothing to dump yet).
	if [ "$(docker inspect -f '{{.State.Running}}' "$_rk_c" 2>/dev/null)" != true ]; then
		warn "volume $_rk_vol: $_rk_phase hook skipped: container $_rk_c is not running"
		return 0
	fi
	# The command is a list of shell-quoted words made by the component.
	eval "set -- $_rk_cmd"
	# Only the program is logged: the arguments may carry a secret.
	log "volume $_rk_vol: $_rk_phase hook in $_rk_c: ${1:-} (arguments not logged)"
	_rk_rc=0
	timeout "$_rk_timeout" docker exec "$_rk_c" "$@" >&2 || _rk_rc=$?
	[ "$_rk_rc" -eq 0 ] && return 0
	if [ "$_rk_rc" -eq 143 ] || [ "$_rk_rc" -eq 124 ]; then
		_rk_why="timed out after ${_rk_timeout}s"
	else
		_rk_why="exited $_rk_rc"
	fi
	if [ "$_rk_on_error" = continue ]; then
		warn "volume $_rk_vol: $_rk_phase hook in $_rk_c $_rk_why; continuing (onError: continue)"
		return 0
	fi
	err "volume $_rk_vol: $_rk_phase hook in $_rk_c $_rk_why"
	return 1
}

# hooked_backup VOLUME FUNCTION: FUNCTION VOLUME wrapped in the volume's hooks.
hooked_backup() {
	run_hooks "$1" pre || return 1
	_hb_rc=0
	if quiesce_volume "$1"; then
		"$2" "$1" || _hb_rc=1
	else
		_hb_rc=1
	fi
	resume_all || _hb_rc=1
	if [ "$_hb_rc" -eq 0 ]; then
		run_hooks "$1" post || _hb_rc=1
	fi
	return "$_hb_rc"
}

# backup_each_volume FUNCTION: FUNCTION VOLUME, wrapped in the volume's hooks,
# for every queued volume (VOLUMES). Sorts them into SUCCEEDED, SKIPPED (the
# function set BV_SKIPPED=true) and FAILED (appended to).
backup_each_volume() {
	SUCCEEDED=
	SKIPPED=
	for _be_vol in $VOLUMES; do
		BV_SKIPPED=false
		if hooked_backup "$_be_vol" "$1"; then
			if [ "$BV_SKIPPED" = true ]; then
				SKIPPED="$SKIPPED $_be_vol"
			else
				SUCCEEDED="$SUCCEEDED $_be_vol"
			fi
		else
			FAILED="$FAILED $_be_vol"
		fi
	done
}
