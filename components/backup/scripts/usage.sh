#!/bin/sh
# usage.sh: disk usage of the backed-up volumes and of the backup target, with
# the thresholds of disk.sh. `usage --json` prints one JSON document (the
# stack's diskUsage output).
#
# Environment: BACKUP_PREFIX, BACKUP_SOURCES_DIR (default /sources),
# BACKUP_VOLUMES (default: every directory there), BACKUP_TARGET_DIR (default
# /backup), and the thresholds of disk.sh.
#
# Exit codes: 0 within limits; 5 a threshold is exceeded (one ALERT line each,
# on stderr); 2 configuration error.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
# shellcheck source=disk.sh
. "$(dirname "$(readlink -f "$0")")/disk.sh"

main() {
	require_prefix
	BACKUP_SOURCES_DIR=${BACKUP_SOURCES_DIR:-/sources}
	BACKUP_TARGET_DIR=${BACKUP_TARGET_DIR:-/backup}
	disk_load_config
	if [ -z "${BACKUP_VOLUMES:-}" ]; then
		BACKUP_VOLUMES=$(find "$BACKUP_SOURCES_DIR" -mindepth 1 -maxdepth 1 -type d -exec basename {} \; 2>/dev/null | sort | tr '\n' ' ')
	fi
	if [ "${1:-}" = --json ]; then
		# shellcheck disable=SC2086 # keys are names: no spaces
		usage_report $BACKUP_VOLUMES >/dev/null
		printf '%s\n' "$USAGE_JSON"
	else
		# shellcheck disable=SC2086
		usage_report $BACKUP_VOLUMES
	fi
	[ "$USAGE_ALERTS" -eq 0 ] || exit "$EX_USAGE_ALERT"
}

main "$@"
