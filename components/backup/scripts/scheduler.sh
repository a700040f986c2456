#!/bin/sh
# scheduler.sh: entrypoint of the long-running backup container.
#
# With BACKUP_SCHEDULE set (5-field cron, UTC) it runs busybox crond in the
# foreground with the engine's backup script (backup.sh, or restic-backup.sh
# with BACKUP_ENGINE=restic), and BACKUP_CHECK_SCHEDULE adds the engine's check
# (verify.sh, restic-check.sh); their output goes to the container's log
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
	# Every variable the container was started with (BACKUP_*, restic's backend
	# credentials, whatever their names), single-quoted so the file is safe to
	# source. Names come from `env`; values are read from the shell itself, so
	# a value ending in "=" or holding "=" survives intact.
	for _se_name in $(env | sed -n 's/^\([A-Za-z_][A-Za-z0-9_]*\)=.*/\1/p' | sort -u); do
		case "$_se_name" in
		HOME | PATH | HOSTNAME | PWD | OLDPWD | SHLVL | TERM | _) continue ;;
		esac
		_se_set='' _se_value=''
		eval "_se_set=\${$_se_name+set}"
		[ "$_se_set" = set ] || continue
		eval "_se_value=\${$_se_name}"
		printf "export %s='%s'\n" "$_se_name" "$(printf '%s' "$_se_value" | sed "s/'/'\\\\''/g")"
	done >"$ENV_FILE"
}

main() {
	# The engine's scripts: tar (default) or restic.
	case "${BACKUP_ENGINE:-tar}" in
	restic) BACKUP_SCRIPT=restic-backup.sh BACKUP_CHECK_SCRIPT=restic-check.sh ;;
	*) BACKUP_SCRIPT=backup.sh BACKUP_CHECK_SCRIPT=verify.sh ;;
	esac
	# Secret files arrive world-readable (Docker uploads); ssh refuses such keys.
	chmod -R go-rwx /run/pds 2>/dev/null || true
	save_environment
	# The age check (maxAge) counts from here until the first good backup.
	(. "$PDS_DIR/status.sh" && status_init) || echo "scheduler.sh: warning: cannot create the status record" >&2
	if [ -z "${BACKUP_SCHEDULE:-}" ] && [ -z "${BACKUP_CHECK_SCHEDULE:-}" ]; then
		echo "scheduler.sh: no schedule; waiting for 'backup-now' (docker exec)" >&2
		trap 'exit 0' TERM INT
		while :; do
			sleep 3600 &
			wait $! || true
		done
	fi
	mkdir -p "$CRONTABS"
	{
		if [ -n "${BACKUP_SCHEDULE:-}" ]; then
			printf '%s . %s; sh %s/run-job.sh schedule %s >/proc/1/fd/1 2>/proc/1/fd/2\n' \
				"$BACKUP_SCHEDULE" "$ENV_FILE" "$PDS_DIR" "$BACKUP_SCRIPT"
		fi
		if [ -n "${BACKUP_CHECK_SCHEDULE:-}" ]; then
			printf '%s . %s; sh %s/run-job.sh check-schedule %s >/proc/1/fd/1 2>/proc/1/fd/2\n' \
				"$BACKUP_CHECK_SCHEDULE" "$ENV_FILE" "$PDS_DIR" "$BACKUP_CHECK_SCRIPT"
		fi
	} >"$CRONTABS/root"
	echo "scheduler.sh: backups at '${BACKUP_SCHEDULE:-never}', checks at '${BACKUP_CHECK_SCHEDULE:-never}' (cron, UTC)" >&2
	exec crond -f -l 8 -L /dev/stderr -c "$CRONTABS"
}

# PDS_SOURCE_ONLY=1 loads the functions without running (for the script tests).
if [ "${PDS_SOURCE_ONLY:-}" != 1 ]; then
	main "$@"
fi
