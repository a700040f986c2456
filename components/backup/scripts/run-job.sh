#!/bin/sh
# run-job.sh TRIGGER SCRIPT [ARGS...]: run a job script (backup.sh, verify.sh,
# restic-backup.sh, restic-check.sh, usage.sh) and then
#   - record its result (status.sh): the run, and per volume the last success,
#     the last failure with its reason, the newest good backup;
#   - rewrite the metrics file (BACKUP_METRICS_DIR);
#   - notify the targets whose `on` matches (notify.sh).
# The job's stdout and stderr pass through unchanged. The exit code is the
# job's: recording or notifying can fail (logged, and noted in `status`), but
# never turns a good run into a failed one.
#
# TRIGGER names what started the run: schedule, check-schedule, backup-now,
# verify, deploy (the pre-deploy gate), destroy (the final backup), usage.
#
# Environment: that of the job, plus status.sh's and notify.sh's.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=status.sh
. "$PDS_DIR/status.sh"
# shellcheck source=notify.sh
. "$PDS_DIR/notify.sh"

# Lines of the job's log a notification carries.
NOTIFY_LOG_LINES=${BACKUP_NOTIFY_LOG_LINES:-20}

job_log() {
	printf 'run-job.sh: %s\n' "$*" >&2
}

# job_volumes: the volumes the job worked on.
job_volumes() {
	if [ -n "${BACKUP_VOLUMES:-}" ]; then
		printf '%s\n' "$BACKUP_VOLUMES"
		return 0
	fi
	for _jv_d in "${BACKUP_SOURCES_DIR:-/sources}"/*/; do
		[ -d "$_jv_d" ] || continue
		_jv_d=${_jv_d%/}
		printf '%s ' "${_jv_d##*/}"
	done
	echo
}

# job_reason: the job's error lines, redacted, on one line (the last 3).
job_reason() {
	grep -E '(^|: )(error|ALERT)[: ]' "$JOB_WORK/err" 2>/dev/null | tail -n 3 | redact_stream | status_oneline
}

# record_volume VOL: what the run did to VOL, from the job's output.
record_volume() {
	_rv_vol=$1
	_rv_created=$(sed -n "s/^created \(snapshot \([0-9a-f]*\) of $_rv_vol\)\$/\1/p; s/^created \(${BACKUP_PREFIX:-}-$_rv_vol-[0-9T]*Z\.tar[.a-z]*\)\$/\1/p" "$JOB_WORK/out" | tail -n 1)
	if grep -q "^skipped $_rv_vol " "$JOB_WORK/out" 2>/dev/null; then
		return 0
	fi
	if [ -n "$_rv_created" ]; then
		_rv_bytes=
		case "$_rv_created" in
		snapshot*) ;;
		*) _rv_bytes=$(stat -c %s -- "${BACKUP_TARGET_DIR:-/backup}/$_rv_created" 2>/dev/null) || _rv_bytes= ;;
		esac
		status_write "volume-$_rv_vol" result=success runTime="$JOB_END" duration="$JOB_DURATION" \
			successTime="$JOB_END" newestTime="$JOB_END" newestBytes="$_rv_bytes" newestName="$_rv_created"
		return 0
	fi
	_rv_why=$(grep -E "error: volume $_rv_vol: " "$JOB_WORK/err" 2>/dev/null | tail -n 1 | sed 's/^.*error: //' | redact_stream | status_oneline)
	if [ -z "$_rv_why" ] && [ "$JOB_RC" -ne 0 ]; then
		_rv_why=${JOB_REASON:-exit $JOB_RC}
	fi
	[ -n "$_rv_why" ] || return 0
	status_write "volume-$_rv_vol" result=failure runTime="$JOB_END" duration="$JOB_DURATION" \
		failureTime="$JOB_END" failureTrigger="$JOB_TRIGGER" failureReason="$_rv_why"
	JOB_FAILED="${JOB_FAILED:+$JOB_FAILED; }$_rv_why"
}

# record_run: the run, and per volume for backups.
record_run() {
	status_init || {
		job_log "warning: cannot write the status record in $(status_dir)"
		return 1
	}
	if [ "$JOB_KIND" = backup ]; then
		for _rr_vol in $JOB_VOLUMES; do
			record_volume "$_rr_vol" || job_log "warning: cannot record volume $_rr_vol in $(status_dir)"
		done
	fi
	status_write last-run job="$JOB_KIND" script="$JOB_SCRIPT" trigger="$JOB_TRIGGER" result="$JOB_RESULT" exit="$JOB_RC" \
		started="$JOB_START" finished="$JOB_END" duration="$JOB_DURATION" reason="$JOB_REASON" volumes="$JOB_VOLUMES"
}

# notify_run: notify the run (notify_job), and record the notification.
notify_run() {
	[ "${BACKUP_NOTIFY_COUNT:-0}" -gt 0 ] || return 0
	_nr_rc=0
	notify_job "$(tail -n "$NOTIFY_LOG_LINES" "$JOB_WORK/err" | redact_stream)" || _nr_rc=1
	[ "$NOTIFY_RESULT" != none ] || return 0
	job_log "notification: $NOTIFY_DETAIL"
	if status_init 2>/dev/null; then
		status_write notify time="$JOB_END" result="$NOTIFY_RESULT" detail="$NOTIFY_DETAIL" || true
		for _nr_vol in $JOB_VOLUMES; do
			[ "$JOB_KIND" != backup ] ||
				status_write "volume-$_nr_vol" notification="$NOTIFY_RESULT: $NOTIFY_DETAIL" 2>/dev/null || true
		done
	fi
	return "$_nr_rc"
}

main() {
	if [ $# -lt 2 ]; then
		echo "usage: run-job.sh TRIGGER SCRIPT [ARGS...]" >&2
		exit 2
	fi
	JOB_TRIGGER=$1
	JOB_SCRIPT=$2
	shift 2
	JOB_KIND=$(job_kind "$JOB_SCRIPT")
	JOB_VOLUMES=$(job_volumes)
	JOB_FAILED=
	JOB_WORK=$(mktemp -d "${TMPDIR:-/tmp}/pds-job.XXXXXX")
	trap 'rm -rf -- "$JOB_WORK"' EXIT
	trap 'exit 143' TERM
	trap 'exit 130' INT
	mkfifo "$JOB_WORK/out.fifo" "$JOB_WORK/err.fifo"
	# The job's output goes where it always went, and into files for the record.
	tee "$JOB_WORK/out" <"$JOB_WORK/out.fifo" &
	_m_out=$!
	tee "$JOB_WORK/err" <"$JOB_WORK/err.fifo" >&2 &
	_m_err=$!
	JOB_START=$(status_now)
	JOB_RC=0
	sh "$PDS_DIR/$JOB_SCRIPT" "$@" >"$JOB_WORK/out.fifo" 2>"$JOB_WORK/err.fifo" || JOB_RC=$?
	wait "$_m_out" "$_m_err" || true
	JOB_END=$(status_now)
	JOB_DURATION=$((JOB_END - JOB_START))
	if [ "$JOB_RC" -eq 0 ]; then
		JOB_RESULT=success
		JOB_REASON=
	else
		JOB_RESULT=failure
		JOB_REASON=$(job_reason)
		[ -n "$JOB_REASON" ] || JOB_REASON="exit $JOB_RC: $(tail -n 1 "$JOB_WORK/err" | redact_stream | status_oneline)"
	fi
	record_run || job_log "warning: the run was not recorded"
	notify_run || job_log "warning: a notification was not delivered (see status)"
	status_metrics 2>/dev/null || job_log "warning: cannot write the metrics file in ${BACKUP_METRICS_DIR:-}"
	# The host side of a one-shot job notifies only when this line is missing (host-notify.sh).
	job_log "$NOTIFY_REPORTED"
	exit "$JOB_RC"
}

main "$@"
