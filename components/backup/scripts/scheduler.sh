#!/bin/sh
# scheduler.sh: entrypoint of the long-running backup container.
#
# With BACKUP_SCHEDULE set (5-field cron, UTC) it runs busybox crond in the
# foreground with one job, backup.sh, whose output goes to the container's log
# (`docker logs <prefix>-backup`). Without a schedule it just stays up, so
# `docker exec <prefix>-backup backup-now` works on demand.
#
# crond starts jobs with an empty environment, so the BACKUP_* variables are
# saved to a file the job sources.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
ENV_FILE="$PDS_DIR/env.sh"
CRONTABS=/var/spool/cron/crontabs

save_environment() {
	# Single-quote every value so the file is safe to source.
	env | grep -E '^(BACKUP|RESTORE)_[A-Z_]*=' | while IFS='=' read -r name value; do
		printf "export %s='%s'\n" "$name" "$(printf '%s' "$value" | sed "s/'/'\\\\''/g")"
	done >"$ENV_FILE"
}

main() {
	save_environment
	if [ -z "${BACKUP_SCHEDULE:-}" ]; then
		echo "scheduler.sh: no schedule; waiting for 'backup-now' (docker exec)" >&2
		trap 'exit 0' TERM INT
		while :; do
			sleep 3600 &
			wait $! || true
		done
	fi
	mkdir -p "$CRONTABS"
	printf '%s . %s; sh %s/backup.sh >/proc/1/fd/1 2>/proc/1/fd/2\n' \
		"$BACKUP_SCHEDULE" "$ENV_FILE" "$PDS_DIR" >"$CRONTABS/root"
	echo "scheduler.sh: backups scheduled at '$BACKUP_SCHEDULE' (UTC)" >&2
	exec crond -f -l 8 -L /dev/stderr -c "$CRONTABS"
}

main "$@"
