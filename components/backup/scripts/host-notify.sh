#!/bin/sh
# host-notify.sh TRIGGER SCRIPT EXIT ERRFILE START: the notification of a
# one-shot job (the pre-deploy gate, the final backup on destroy, the usage
# probe) that failed before run-job.sh could report it. It runs on the machine
# that runs `pulumi`, in the command's shell, not in a container: when `docker
# run` itself failed (exit 125: the engine is unreachable, the image or a
# mount is missing; 126/127: the image cannot run `sh`), or the container was
# killed (128+n, e.g. 137 for the OOM killer) or stopped before run-job.sh
# logged "$NOTIFY_REPORTED". It sends the message run-job.sh would have sent
# (notify_job), with docker's last error lines, to every target whose `on`
# includes failures. Nothing is recorded in `status`: the record lives on the
# backup target, which the job could not reach.
#
#   TRIGGER, SCRIPT   as for run-job.sh (deploy, destroy, usage; backup.sh...)
#   EXIT              the exit code of `docker run`
#   ERRFILE           docker's standard error (and the job's, if it ran)
#   START             when the job started (epoch seconds)
#
# Environment: notify.sh's, with BACKUP_NOTIFY_DIR holding the URL files the
# command wrote from its secret environment; BACKUP_STACK_NAME, BACKUP_ENGINE,
# BACKUP_VOLUMES. Needs sh, sed, awk, tail, date, and curl, wget or node.
set -u

PDS_DIR=$(dirname "$0")
# shellcheck source=status.sh
. "$PDS_DIR/status.sh"
# shellcheck source=notify.sh
. "$PDS_DIR/notify.sh"

host_reason() {
	case "$1" in
	125) echo "the job container did not start (docker run exited 125)" ;;
	126 | 127) echo "the job image cannot run the job (docker run exited $1: no usable sh)" ;;
	*) echo "the job container ended before reporting (exit $1$([ "$1" -le 128 ] || printf ', signal %s' $(($1 - 128))))" ;;
	esac
}

main() {
	JOB_TRIGGER=$1
	JOB_KIND=$(job_kind "$2")
	JOB_RC=$3
	_m_err=$4
	JOB_START=$5
	JOB_END=$(date -u +%s)
	JOB_DURATION=$((JOB_END - JOB_START))
	JOB_RESULT=failure
	JOB_VOLUMES=${BACKUP_VOLUMES:-}
	# docker's error line (it ends with a hint to `docker run --help`), else the last line.
	_m_last=$(grep -i 'error' "$_m_err" 2>/dev/null | tail -n 1 | redact_stream | status_oneline)
	[ -n "$_m_last" ] || _m_last=$(grep -v '^[[:space:]]*$' "$_m_err" 2>/dev/null | tail -n 1 | redact_stream | status_oneline)
	JOB_FAILED="$(host_reason "$JOB_RC")${_m_last:+: $_m_last}"
	JOB_REASON=$JOB_FAILED
	notify_job "$(tail -n "${BACKUP_NOTIFY_LOG_LINES:-20}" "$_m_err" 2>/dev/null | redact_stream)" || true
	if [ "$NOTIFY_RESULT" != none ]; then
		printf 'host-notify.sh: notification: %s\n' "$NOTIFY_DETAIL" >&2
	fi
}

main "$@"
