#!/bin/sh
# restore-volume.sh: the backup container's `restore <archive|latest> <volume> [--force]`.
#
# The backup container mounts volumes read-only, so it cannot restore into
# them itself: it starts a one-shot job through the Docker socket (only
# present when the stack sets backup.restoreCommand) that mounts the volume
# read-write and runs restore.sh, with the same safety rules as a restore
# through config: the archive is verified first, a non-empty volume is refused
# without --force. A volume that a running container uses is refused too: stop
# that container first.
#
# Environment (set by the component):
#   BACKUP_PREFIX        archive prefix
#   BACKUP_VOLUME_NAMES  "key=docker-volume-name ..." of the backed-up volumes
#   BACKUP_TARGET_MOUNT  --mount value of the backup target (made read-only here)
#   BACKUP_JOB_IMAGE     image of the restore job (this container's image)
#
# Exit codes: those of restore.sh (0 ok, 1 failed, 2 configuration, 4 refused),
# and 4 when a running container uses the volume.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

PDS_DIR=$(dirname "$(readlink -f "$0")")

usage() {
	err "usage: restore <archive file name | latest> <volume key> [--force]"
	exit "$EX_CONFIG"
}

# volume_name KEY: the Docker volume name of a backed-up volume key.
volume_name() {
	for _vn_pair in ${BACKUP_VOLUME_NAMES:-}; do
		case "$_vn_pair" in
		"$1"=*) printf '%s\n' "${_vn_pair#*=}" && return 0 ;;
		esac
	done
	return 1
}

# bundle ENTRY: every job script as a self-extracting program (as the component
# feeds one-shot jobs), then ENTRY is run.
bundle() {
	printf 'set -eu\nmkdir -p %s\n' "$PDS_DIR"
	for _b_file in "$PDS_DIR"/*.sh; do
		printf "cat > %s <<'PDS_SCRIPT_END'\n" "$_b_file"
		cat "$_b_file"
		printf 'PDS_SCRIPT_END\n'
	done
	printf 'exec sh %s/%s\n' "$PDS_DIR" "$1"
}

main() {
	[ $# -ge 2 ] || usage
	_m_from=$1
	_m_key=$2
	_m_force=false
	[ "${3:-}" = --force ] && _m_force=true
	[ $# -le 3 ] || usage
	if [ "${BACKUP_ENGINE:-tar}" != tar ]; then
		die_config "restore restores tar archives; restore ${BACKUP_ENGINE} snapshots through config (restores: in the stack)"
	fi
	require_prefix
	require_cmd docker "the docker CLI (this container's image needs it for restore)"
	docker version >/dev/null 2>&1 ||
		die_config "restore needs the Docker socket: set backup.restoreCommand: true, or restore through config (restores:)"
	_m_volume=$(volume_name "$_m_key") || die_config "unknown volume '$_m_key'; backed up: ${BACKUP_VOLUME_NAMES:-none}"
	if [ -z "${BACKUP_TARGET_MOUNT:-}" ] || [ -z "${BACKUP_JOB_IMAGE:-}" ]; then
		die_config "BACKUP_TARGET_MOUNT and BACKUP_JOB_IMAGE are required"
	fi

	# Running containers using the volume, this backup container excepted (its
	# hostname is its short id).
	_m_users=$(docker ps --filter "volume=$_m_volume" --format '{{.ID}} {{.Names}}' |
		awk -v self="$(hostname)" 'substr($1, 1, 12) != substr(self, 1, 12) { printf "%s%s", sep, $2; sep = " " }')
	if [ -n "$_m_users" ]; then
		err "volume $_m_key ($_m_volume) is in use by running container(s): $_m_users; stop them first (docker stop $_m_users)"
		exit "$EX_REFUSED"
	fi

	log "restoring $_m_from into volume $_m_key ($_m_volume)${_m_force:+, force=$_m_force}"
	_m_rc=0
	bundle restore.sh | docker run --rm -i --pull never --network none \
		--label "pds.kind=backup" \
		--mount "type=volume,source=$_m_volume,target=/restore" \
		--mount "$BACKUP_TARGET_MOUNT,readonly" \
		--env "BACKUP_PREFIX=$BACKUP_PREFIX" \
		--env "BACKUP_TARGET_DIR=/backup" \
		--env "RESTORE_VOLUME=$_m_key" \
		--env "RESTORE_FROM=$_m_from" \
		--env "RESTORE_TARGET_DIR=/restore" \
		--env "RESTORE_FORCE=$_m_force" \
		"$BACKUP_JOB_IMAGE" sh -s || _m_rc=$?
	exit "$_m_rc"
}

main "$@"
