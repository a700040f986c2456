#!/bin/sh
# status.sh: the record of backup runs, the container's health, and metrics.
#
# Sourced by run-job.sh (which records every run), and run as a command:
#   status.sh            print the status as JSON (the `status` command)
#   status.sh --health   exit 1 with the reasons when unhealthy (the Docker
#                        healthcheck, also the `health` command)
#   status.sh --metrics  rewrite the metrics file now
#
# The record lives in $BACKUP_STATUS_DIR (default
# $BACKUP_TARGET_DIR/.pds-status/$BACKUP_PREFIX, on the backup target, so
# one-shot jobs and the backup container share it). One small file per subject,
# `key=value` lines, single-line values, each file replaced atomically:
#   since          first time the record was used (epoch)
#   last-run       the last run of any job: job, trigger, result, exit, ...
#   volume-<key>   per volume: last success, last failure with reason, newest
#                  good backup (time, bytes, name), last result, duration
#   notify         the last notification: time, result, detail
#
# Environment:
#   BACKUP_PREFIX, BACKUP_TARGET_DIR, BACKUP_STATUS_DIR
#   BACKUP_STACK_NAME    the stack's name in reports (default BACKUP_PREFIX)
#   BACKUP_ENGINE        tar (default) | restic
#   BACKUP_VOLUMES       the backed-up volume keys
#   BACKUP_MAX_AGE       seconds; unhealthy when a volume's newest good backup
#                        is older (0 or unset: no age check)
#   BACKUP_METRICS_DIR   where <prefix>.prom goes (unset: no metrics)
#   BACKUP_TIMESTAMP     "now" override, yyyymmddThhmmssZ (tests)
#
# Targets busybox sh; variables of functions carry a _<function>_ prefix.

status_dir() {
	printf '%s\n' "${BACKUP_STATUS_DIR:-${BACKUP_TARGET_DIR:-/backup}/.pds-status/${BACKUP_PREFIX:-pds}}"
}

# status_now: epoch seconds; BACKUP_TIMESTAMP fakes the clock in tests.
status_now() {
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		date -u -d "$(printf '%s\n' "$BACKUP_TIMESTAMP" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z$/\1-\2-\3 \4:\5:\6/')" +%s
	else
		date -u +%s
	fi
}

# status_iso EPOCH -> 2026-01-02T03:04:05Z
status_iso() {
	# GNU and busybox date, else BSD date (host-notify.sh runs on the pulumi host).
	date -u -d "@$1" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$1" +%Y-%m-%dT%H:%M:%SZ
}

# status_oneline: stdin as one line, control characters gone (safe in a
# key=value file, a JSON string and a metrics label).
status_oneline() {
	tr '\n\r\t' '   ' | tr -d '\000-\037' | sed 's/  */ /g; s/^ //; s/ $//'
}

# status_get FILE KEY -> the value, or nothing.
status_get() {
	[ -f "$1" ] || return 0
	sed -n "s/^$2=//p" "$1" | head -n 1
}

# status_init: create the record directory (and `since`) if missing.
status_init() {
	_si_dir=$(status_dir)
	mkdir -p -- "$_si_dir" 2>/dev/null || return 1
	[ -s "$_si_dir/since" ] || status_now >"$_si_dir/since" 2>/dev/null || return 1
}

# status_write NAME KEY=VALUE...: replace file NAME atomically. Values are made
# single-line; keys not given keep their old value. On a full target the
# atomic write can fail: the file is then rewritten in place (truncating it
# frees the blocks the new content needs), so a failure on a full disk is
# still recorded.
status_write() {
	_sw_file="$(status_dir)/$1"
	shift
	_sw_tmp="$_sw_file.tmp.$$"
	_sw_content=$(
		for _sw_kv in "$@"; do
			printf '%s=%s\n' "${_sw_kv%%=*}" "$(printf '%s' "${_sw_kv#*=}" | status_oneline)"
		done
		if [ -f "$_sw_file" ]; then
			while IFS= read -r _sw_line; do
				_sw_key=${_sw_line%%=*}
				_sw_given=false
				for _sw_kv in "$@"; do
					[ "${_sw_kv%%=*}" != "$_sw_key" ] || _sw_given=true
				done
				[ "$_sw_given" = true ] || printf '%s\n' "$_sw_line"
			done <"$_sw_file"
		fi
	)
	if printf '%s\n' "$_sw_content" >"$_sw_tmp" 2>/dev/null && mv -f -- "$_sw_tmp" "$_sw_file"; then
		return 0
	fi
	rm -f -- "$_sw_tmp"
	printf '%s\n' "$_sw_content" >"$_sw_file"
}

# status_volumes: BACKUP_VOLUMES, or every volume with a record.
status_volumes() {
	if [ -n "${BACKUP_VOLUMES:-}" ]; then
		printf '%s\n' "$BACKUP_VOLUMES" | tr ' ' '\n' | sed '/^$/d'
		return 0
	fi
	for _sv_file in "$(status_dir)"/volume-*; do
		[ -f "$_sv_file" ] && printf '%s\n' "${_sv_file##*/volume-}"
	done
	return 0
}

# status_json_string VALUE -> a JSON string literal (VALUE is single-line).
status_json_string() {
	printf '"%s"' "$(printf '%s' "$1" | status_oneline | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# status_json_value VALUE -> a JSON number/string literal, or null when empty.
status_json_time() {
	if [ -n "$1" ]; then status_json_string "$(status_iso "$1")"; else printf 'null'; fi
}

status_json_number() {
	if [ -n "$1" ]; then printf '%s' "$1"; else printf 'null'; fi
}

status_json_text() {
	if [ -n "$1" ]; then status_json_string "$1"; else printf 'null'; fi
}

# status_problems: one line per reason the backups are unhealthy.
status_problems() {
	_sp_dir=$(status_dir)
	_sp_now=$(status_now)
	if [ "$(status_get "$_sp_dir/last-run" result)" = failure ]; then
		printf 'last run failed: %s (%s, %s) at %s: %s\n' \
			"$(status_get "$_sp_dir/last-run" job)" "$(status_get "$_sp_dir/last-run" trigger)" \
			"exit $(status_get "$_sp_dir/last-run" exit)" \
			"$(status_iso "$(status_get "$_sp_dir/last-run" finished)")" \
			"$(status_get "$_sp_dir/last-run" reason)"
	fi
	_sp_max=${BACKUP_MAX_AGE:-0}
	[ "$_sp_max" -gt 0 ] 2>/dev/null || return 0
	_sp_since=$(cat "$_sp_dir/since" 2>/dev/null) || _sp_since=
	for _sp_vol in $(status_volumes); do
		_sp_newest=$(status_get "$_sp_dir/volume-$_sp_vol" newestTime)
		if [ -n "$_sp_newest" ]; then
			_sp_age=$((_sp_now - _sp_newest))
			[ "$_sp_age" -le "$_sp_max" ] ||
				printf 'volume %s: newest good backup is %ss old (maxAge %ss)\n' "$_sp_vol" "$_sp_age" "$_sp_max"
		elif [ -n "$_sp_since" ] && [ $((_sp_now - _sp_since)) -gt "$_sp_max" ]; then
			printf 'volume %s: no good backup in %ss (maxAge %ss)\n' "$_sp_vol" "$((_sp_now - _sp_since))" "$_sp_max"
		fi
	done
}

# status_json: the whole record as one JSON document on stdout.
status_json() {
	_sj_dir=$(status_dir)
	_sj_now=$(status_now)
	_sj_problems=$(status_problems)
	_sj_run="$_sj_dir/last-run"
	_sj_notify="$_sj_dir/notify"
	printf '{\n  "stack": %s,\n  "engine": %s,\n' \
		"$(status_json_string "${BACKUP_STACK_NAME:-${BACKUP_PREFIX:-}}")" "$(status_json_string "${BACKUP_ENGINE:-tar}")"
	printf '  "healthy": %s,\n  "problems": [' "$([ -z "$_sj_problems" ] && echo true || echo false)"
	_sj_sep=
	while IFS= read -r _sj_p; do
		[ -n "$_sj_p" ] || continue
		printf '%s%s' "$_sj_sep" "$(status_json_string "$_sj_p")"
		_sj_sep=', '
	done <<EOF
$_sj_problems
EOF
	printf '],\n  "maxAgeSeconds": %s,\n' "$(status_json_number "${BACKUP_MAX_AGE:-}")"
	if [ -f "$_sj_run" ]; then
		printf '  "lastRun": {"job": %s, "trigger": %s, "result": %s, "exitCode": %s, "started": %s, "finished": %s, "durationSeconds": %s, "reason": %s},\n' \
			"$(status_json_text "$(status_get "$_sj_run" job)")" "$(status_json_text "$(status_get "$_sj_run" trigger)")" \
			"$(status_json_text "$(status_get "$_sj_run" result)")" "$(status_json_number "$(status_get "$_sj_run" exit)")" \
			"$(status_json_time "$(status_get "$_sj_run" started)")" "$(status_json_time "$(status_get "$_sj_run" finished)")" \
			"$(status_json_number "$(status_get "$_sj_run" duration)")" "$(status_json_text "$(status_get "$_sj_run" reason)")"
	else
		printf '  "lastRun": null,\n'
	fi
	if [ -f "$_sj_notify" ]; then
		printf '  "lastNotification": {"time": %s, "result": %s, "detail": %s},\n' \
			"$(status_json_time "$(status_get "$_sj_notify" time)")" "$(status_json_text "$(status_get "$_sj_notify" result)")" \
			"$(status_json_text "$(status_get "$_sj_notify" detail)")"
	else
		printf '  "lastNotification": null,\n'
	fi
	printf '  "volumes": {'
	_sj_sep=
	for _sj_vol in $(status_volumes); do
		_sj_f="$_sj_dir/volume-$_sj_vol"
		_sj_newest=$(status_get "$_sj_f" newestTime)
		_sj_age=
		[ -z "$_sj_newest" ] || _sj_age=$((_sj_now - _sj_newest))
		_sj_fail=$(status_get "$_sj_f" failureTime)
		printf '%s\n    %s: {\n' "$_sj_sep" "$(status_json_string "$_sj_vol")"
		printf '      "lastResult": %s,\n      "lastRun": %s,\n      "lastDurationSeconds": %s,\n' \
			"$(status_json_text "$(status_get "$_sj_f" result)")" "$(status_json_time "$(status_get "$_sj_f" runTime)")" \
			"$(status_json_number "$(status_get "$_sj_f" duration)")"
		printf '      "lastSuccess": %s,\n' "$(status_json_time "$(status_get "$_sj_f" successTime)")"
		if [ -n "$_sj_fail" ]; then
			printf '      "lastFailure": {"time": %s, "trigger": %s, "reason": %s},\n' "$(status_json_time "$_sj_fail")" \
				"$(status_json_text "$(status_get "$_sj_f" failureTrigger)")" "$(status_json_text "$(status_get "$_sj_f" failureReason)")"
		else
			printf '      "lastFailure": null,\n'
		fi
		if [ -n "$_sj_newest" ]; then
			printf '      "newestBackup": {"time": %s, "ageSeconds": %s, "bytes": %s, "name": %s},\n' "$(status_json_time "$_sj_newest")" \
				"$_sj_age" "$(status_json_number "$(status_get "$_sj_f" newestBytes)")" "$(status_json_text "$(status_get "$_sj_f" newestName)")"
		else
			printf '      "newestBackup": null,\n'
		fi
		printf '      "lastNotification": %s\n    }' "$(status_json_text "$(status_get "$_sj_f" notification)")"
		_sj_sep=,
	done
	printf '\n  }\n}\n'
}

# status_metrics: the record in Prometheus text format (node_exporter textfile
# collector), written atomically to $BACKUP_METRICS_DIR/<prefix>.prom.
status_metrics() {
	[ -n "${BACKUP_METRICS_DIR:-}" ] || return 0
	_sm_dir=$(status_dir)
	_sm_file="$BACKUP_METRICS_DIR/${BACKUP_PREFIX:-pds}.prom"
	_sm_tmp="$BACKUP_METRICS_DIR/.${BACKUP_PREFIX:-pds}.prom.tmp.$$"
	_sm_stack=$(printf '%s' "${BACKUP_STACK_NAME:-${BACKUP_PREFIX:-}}" | sed 's/\\/\\\\/g; s/"/\\"/g')
	_sm_engine=${BACKUP_ENGINE:-tar}
	{
		for _sm_metric in \
			"last_success_timestamp_seconds|successTime|Time of the volume's last successful backup." \
			"last_run_timestamp_seconds|runTime|Time of the volume's last backup run." \
			"last_duration_seconds|duration|Duration of the volume's last backup run." \
			"last_bytes|newestBytes|Size of the volume's newest good backup (tar archives)." \
			"last_result|result|1 when the volume's last backup run succeeded, 0 when it failed."; do
			_sm_name=pds_backup_${_sm_metric%%|*}
			_sm_rest=${_sm_metric#*|}
			_sm_key=${_sm_rest%%|*}
			printf '# HELP %s %s\n# TYPE %s gauge\n' "$_sm_name" "${_sm_rest#*|}" "$_sm_name"
			for _sm_vol in $(status_volumes); do
				_sm_value=$(status_get "$_sm_dir/volume-$_sm_vol" "$_sm_key")
				case "$_sm_key:$_sm_value" in
				result:success) _sm_value=1 ;;
				result:failure) _sm_value=0 ;;
				esac
				[ -z "$_sm_value" ] ||
					printf '%s{stack="%s",volume="%s",engine="%s"} %s\n' "$_sm_name" "$_sm_stack" "$_sm_vol" "$_sm_engine" "$_sm_value"
			done
		done
		printf '# HELP pds_backup_healthy 1 when the backup container is healthy (see the status command).\n'
		printf '# TYPE pds_backup_healthy gauge\n'
		printf 'pds_backup_healthy{stack="%s"} %s\n' "$_sm_stack" "$([ -z "$(status_problems)" ] && echo 1 || echo 0)"
		_sm_notify=$(status_get "$_sm_dir/notify" result)
		if [ -n "$_sm_notify" ]; then
			printf '# HELP pds_backup_notification_ok 1 when the last notification was delivered to every target, 0 when one failed.\n'
			printf '# TYPE pds_backup_notification_ok gauge\n'
			printf 'pds_backup_notification_ok{stack="%s"} %s\n' "$_sm_stack" "$([ "$_sm_notify" = delivered ] && echo 1 || echo 0)"
		fi
	} >"$_sm_tmp" || {
		rm -f -- "$_sm_tmp"
		return 1
	}
	mv -f -- "$_sm_tmp" "$_sm_file"
}

status_main() {
	case "${1:-}" in
	'' | --json) status_json ;;
	--health)
		_stm_problems=$(status_problems)
		if [ -n "$_stm_problems" ]; then
			printf '%s\n' "$_stm_problems"
			exit 1
		fi
		echo healthy
		;;
	--metrics) status_metrics ;;
	*)
		echo "usage: status [--health | --metrics]" >&2
		exit 2
		;;
	esac
}

# Run as a command, not when sourced.
case "${0##*/}" in
status.sh | status | health) status_main "$@" ;;
esac
