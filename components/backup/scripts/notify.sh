#!/bin/sh
# notify.sh: send a job's result to the configured notification targets.
# Sourced by run-job.sh.
#
# Targets, i = 1..BACKUP_NOTIFY_COUNT:
#   file $BACKUP_NOTIFY_DIR/<i>  the URL (a secret: a file, never argv of a
#                                docker command, the environment or a log line)
#   BACKUP_NOTIFY_<i>_FORMAT     auto (default) | json | ntfy | slack | discord
#   BACKUP_NOTIFY_<i>_ON         failure (default) | success | always
# auto picks by URL: Slack (hooks.slack.com) and Mattermost (/hooks/) get
# slack, Discord webhooks discord, hosts named ntfy* ntfy, anything else json.
#
#   BACKUP_NOTIFY_TIMEOUT   seconds per attempt (default 10)
#   BACKUP_NOTIFY_RETRIES   attempts per target (default 3), 2s, 4s... apart
#
# Delivery uses curl when the image has it (it validates TLS certificates),
# else busybox wget (POST with --post-file; the whole attempt bounded by
# `timeout`, as the -T option crashes some busybox builds). busybox's built-in
# TLS does not validate certificates.
#
# A delivery failure is logged and returned (notify_send's status), never
# more: the job's own exit code is the caller's business.

NOTIFY_DIR_DEFAULT=/run/pds/notify

# What run-job.sh logs once it has recorded and notified a run: a one-shot
# job's host side (host-notify.sh) notifies when the job ended without it.
NOTIFY_REPORTED="reported: recorded and notified"

# job_kind SCRIPT -> backup | check | usage | job
job_kind() {
	case "$1" in
	backup.sh | restic-backup.sh) echo backup ;;
	verify.sh | restic-check.sh) echo check ;;
	usage.sh) echo usage ;;
	*) echo job ;;
	esac
}

# notify_job LOG: build the notification of a run (NOTE_*) from the JOB_*
# variables (JOB_RESULT, JOB_KIND, JOB_TRIGGER, JOB_VOLUMES, JOB_RC,
# JOB_START, JOB_END, JOB_DURATION, JOB_FAILED or JOB_REASON) and LOG (its
# last lines, redacted), then send it (notify_send). The one message format of
# run-job.sh and host-notify.sh.
notify_job() {
	NOTE_EVENT=$JOB_RESULT
	NOTE_STACK=${BACKUP_STACK_NAME:-${BACKUP_PREFIX:-}}
	NOTE_ENGINE=${BACKUP_ENGINE:-tar}
	NOTE_JOB=$JOB_KIND
	NOTE_TRIGGER=$JOB_TRIGGER
	NOTE_VOLUMES=$JOB_VOLUMES
	NOTE_EXIT=$JOB_RC
	NOTE_STARTED=$(status_iso "$JOB_START")
	NOTE_FINISHED=$(status_iso "$JOB_END")
	NOTE_DURATION=$JOB_DURATION
	NOTE_FAILED=${JOB_FAILED:-$JOB_REASON}
	NOTE_LOG=$1
	if [ "$JOB_RESULT" = success ]; then
		NOTE_TITLE="Backup OK: $JOB_KIND of $NOTE_STACK"
		NOTE_PRIORITY=default
		NOTE_TAGS=white_check_mark
	else
		NOTE_TITLE="Backup FAILED: $JOB_KIND of $NOTE_STACK"
		NOTE_PRIORITY=high
		NOTE_TAGS=warning
	fi
	NOTE_TEXT=$(
		printf 'stack: %s\njob: %s (%s engine), trigger: %s\nvolumes: %s\n' "$NOTE_STACK" "$NOTE_JOB" "$NOTE_ENGINE" "$NOTE_TRIGGER" "$NOTE_VOLUMES"
		printf 'result: %s (exit %s) at %s after %ss\n' "$JOB_RESULT" "$JOB_RC" "$NOTE_FINISHED" "$JOB_DURATION"
		[ -z "$NOTE_FAILED" ] || printf 'failed: %s\n' "$NOTE_FAILED"
		[ -z "$NOTE_LOG" ] || printf 'last log lines:\n%s\n' "$NOTE_LOG"
	)
	notify_send "$JOB_RESULT"
}

# notify_format URL FORMAT -> the body format to use.
notify_format() {
	case "$2" in
	json | ntfy | slack | discord)
		printf '%s\n' "$2"
		return 0
		;;
	esac
	_nf_host=$(printf '%s' "$1" | sed 's#^[a-zA-Z]*://##; s#^[^@/]*@##; s#[:/?].*$##')
	case "$_nf_host:$1" in
	hooks.slack.com:*) echo slack ;;
	discord.com:*/api/webhooks/* | discordapp.com:*/api/webhooks/*) echo discord ;;
	ntfy*) echo ntfy ;;
	*:*://*/hooks/*) echo slack ;;
	*) echo json ;;
	esac
}

# notify_json_string VALUE -> JSON string literal; newlines kept as \n.
notify_json_string() {
	printf '%s' "$1" | awk '
		BEGIN { ORS = "" }
		{
			gsub(/\\/, "\\\\"); gsub(/"/, "\\\""); gsub(/\t/, " "); gsub(/\r/, "")
			gsub(/[\001-\037]/, "")
			out = out (NR > 1 ? "\\n" : "") $0
		}
		END { print "\"" out "\"" }'
}

# notify_body FORMAT FILE: the request body for FORMAT, from the NOTE_*
# variables the caller set (see run-job.sh).
notify_body() {
	case "$1" in
	ntfy) printf '%s\n' "$NOTE_TEXT" ;;
	slack) printf '{"text": %s}\n' "$(notify_json_string "$NOTE_TITLE
$NOTE_TEXT")" ;;
	discord)
		# Discord refuses content over 2000 characters.
		printf '{"content": %s}\n' "$(notify_json_string "$(printf '%s\n%s' "**$NOTE_TITLE**" "$NOTE_TEXT" | head -c 1900)")"
		;;
	*)
		printf '{\n  "source": "persistent-docker",\n  "event": %s,\n  "title": %s,\n  "stack": %s,\n  "engine": %s,\n  "job": %s,\n  "trigger": %s,\n  "volumes": [%s],\n  "exitCode": %s,\n  "started": %s,\n  "finished": %s,\n  "durationSeconds": %s,\n  "failed": %s,\n  "message": %s,\n  "log": %s\n}\n' \
			"$(notify_json_string "$NOTE_EVENT")" "$(notify_json_string "$NOTE_TITLE")" "$(notify_json_string "$NOTE_STACK")" \
			"$(notify_json_string "$NOTE_ENGINE")" "$(notify_json_string "$NOTE_JOB")" "$(notify_json_string "$NOTE_TRIGGER")" \
			"$(for _nb_v in $NOTE_VOLUMES; do printf '%s%s' "${_nb_sep:-}" "$(notify_json_string "$_nb_v")"; _nb_sep=', '; done)" \
			"$NOTE_EXIT" "$(notify_json_string "$NOTE_STARTED")" "$(notify_json_string "$NOTE_FINISHED")" "$NOTE_DURATION" \
			"$(if [ -n "$NOTE_FAILED" ]; then notify_json_string "$NOTE_FAILED"; else printf null; fi)" \
			"$(notify_json_string "$NOTE_TEXT")" "$(notify_json_string "$NOTE_LOG")"
		;;
	esac
}

# notify_post URL FORMAT BODYFILE: one attempt; the reason of a failure on
# stdout. The URL never goes on a command line (other users of a host see
# those): curl reads it from its config on stdin, node from its environment;
# only busybox/GNU wget, the last resort, takes it as an argument.
notify_post() {
	_np_url=$1
	_np_format=$2
	_np_body=$3
	_np_type=application/json
	[ "$_np_format" != ntfy ] || _np_type='text/plain; charset=utf-8'
	_np_timeout=${BACKUP_NOTIFY_TIMEOUT:-10}
	if command -v curl >/dev/null 2>&1; then
		set -- -H "Content-Type: $_np_type"
		[ "$_np_format" != ntfy ] || set -- "$@" -H "Title: $NOTE_TITLE" -H "Priority: $NOTE_PRIORITY" -H "Tags: $NOTE_TAGS"
		printf 'url = "%s"\n' "$(printf '%s' "$_np_url" | sed 's/[\\"]/\\&/g')" |
			curl -K - -fsS -o /dev/null --max-time "$_np_timeout" -X POST --data-binary "@$_np_body" "$@" 2>&1 | tail -n 1
		return 0
	fi
	if command -v node >/dev/null 2>&1; then
		# The host side of a one-shot job (host-notify.sh) on a machine without curl.
		PDS_NOTIFY_URL=$_np_url PDS_NOTIFY_TYPE=$_np_type PDS_NOTIFY_TIMEOUT=$_np_timeout \
			PDS_NOTIFY_TITLE=$([ "$_np_format" != ntfy ] || printf '%s' "$NOTE_TITLE") \
			PDS_NOTIFY_PRIORITY=$([ "$_np_format" != ntfy ] || printf '%s' "$NOTE_PRIORITY") \
			PDS_NOTIFY_TAGS=$([ "$_np_format" != ntfy ] || printf '%s' "$NOTE_TAGS") \
			node -e "$NOTIFY_NODE_POST" "$_np_body" 2>&1 | tail -n 1
		return 0
	fi
	set -- --header "Content-Type: $_np_type"
	[ "$_np_format" != ntfy ] || set -- "$@" --header "Title: $NOTE_TITLE" --header "Priority: $NOTE_PRIORITY" --header "Tags: $NOTE_TAGS"
	_np_rc=0
	_np_out=$(timeout "$_np_timeout" wget -q -O /dev/null --post-file "$_np_body" "$@" "$_np_url" 2>&1) || _np_rc=$?
	if [ "$_np_rc" -ne 0 ]; then
		[ "$_np_rc" -ne 143 ] || _np_out="timed out after ${_np_timeout}s"
		printf '%s\n' "${_np_out:-wget exit $_np_rc}" | tail -n 1
	fi
}

# The POST of notify_post with node: body file in argv[1], the rest in PDS_NOTIFY_*.
NOTIFY_NODE_POST='
const e = process.env, u = new URL(e.PDS_NOTIFY_URL), body = require("fs").readFileSync(process.argv[1]);
const headers = { "Content-Type": e.PDS_NOTIFY_TYPE, "Content-Length": body.length };
for (const k of ["Title", "Priority", "Tags"]) if (e["PDS_NOTIFY_" + k.toUpperCase()]) headers[k] = e["PDS_NOTIFY_" + k.toUpperCase()];
const fail = (why) => { console.log(why); process.exit(1); };
const req = require(u.protocol === "https:" ? "https" : "http").request(u, { method: "POST", headers }, (res) => {
  res.resume();
  res.on("end", () => (res.statusCode < 400 ? process.exit(0) : fail("HTTP " + res.statusCode)));
});
req.setTimeout(Number(e.PDS_NOTIFY_TIMEOUT) * 1000, () => req.destroy(new Error("timed out after " + e.PDS_NOTIFY_TIMEOUT + "s")));
req.on("error", (err) => fail(err.message));
req.end(body);
'

# notify_send EVENT: EVENT is success or failure; every target whose `on`
# matches gets the notification. Sets NOTIFY_RESULT (none, delivered, failed)
# and NOTIFY_DETAIL (one line, no URL); returns 1 when a delivery failed.
notify_send() {
	NOTIFY_RESULT=none
	NOTIFY_DETAIL=
	_ns_dir=${BACKUP_NOTIFY_DIR:-$NOTIFY_DIR_DEFAULT}
	_ns_count=${BACKUP_NOTIFY_COUNT:-0}
	_ns_retries=${BACKUP_NOTIFY_RETRIES:-3}
	_ns_i=0
	_ns_body="${TMPDIR:-/tmp}/pds-notify.$$"
	while [ "$_ns_i" -lt "$_ns_count" ]; do
		_ns_i=$((_ns_i + 1))
		_ns_on=$(eval "printf '%s' \"\${BACKUP_NOTIFY_${_ns_i}_ON:-failure}\"")
		_ns_format=$(eval "printf '%s' \"\${BACKUP_NOTIFY_${_ns_i}_FORMAT:-auto}\"")
		case "$_ns_on:$1" in
		always:* | failure:failure | success:success) ;;
		*) continue ;;
		esac
		if ! _ns_url=$(cat "$_ns_dir/$_ns_i" 2>/dev/null) || [ -z "$_ns_url" ]; then
			NOTIFY_RESULT=failed
			NOTIFY_DETAIL="${NOTIFY_DETAIL:+$NOTIFY_DETAIL; }target $_ns_i: no URL in $_ns_dir/$_ns_i"
			continue
		fi
		_ns_format=$(notify_format "$_ns_url" "$_ns_format")
		notify_body "$_ns_format" >"$_ns_body"
		_ns_try=0
		_ns_why=
		while [ "$_ns_try" -lt "$_ns_retries" ]; do
			_ns_try=$((_ns_try + 1))
			_ns_why=$(notify_post "$_ns_url" "$_ns_format" "$_ns_body" | redact_stream | status_oneline)
			if [ -z "$_ns_why" ]; then
				break
			fi
			[ "$_ns_try" -ge "$_ns_retries" ] || sleep $((_ns_try * 2))
		done
		if [ -z "$_ns_why" ]; then
			[ "$NOTIFY_RESULT" = failed ] || NOTIFY_RESULT=delivered
			NOTIFY_DETAIL="${NOTIFY_DETAIL:+$NOTIFY_DETAIL; }target $_ns_i ($_ns_format): delivered"
		else
			NOTIFY_RESULT=failed
			NOTIFY_DETAIL="${NOTIFY_DETAIL:+$NOTIFY_DETAIL; }target $_ns_i ($_ns_format): failed after $_ns_try attempt(s): $_ns_why"
		fi
	done
	rm -f -- "$_ns_body"
	[ "$NOTIFY_RESULT" != failed ]
}

# redact_stream: stdin with every secret the job has (notification URLs, the
# restic password) replaced by ***, so no log line or body carries one.
redact_stream() {
	_rs_list="${TMPDIR:-/tmp}/pds-secrets.$$"
	: >"$_rs_list"
	chmod 600 "$_rs_list" 2>/dev/null || true
	for _rs_f in "${BACKUP_NOTIFY_DIR:-$NOTIFY_DIR_DEFAULT}"/* "${RESTIC_PASSWORD_FILE:-}"; do
		[ -f "$_rs_f" ] && [ -s "$_rs_f" ] && { cat "$_rs_f"; echo; } >>"$_rs_list"
	done
	awk -v list="$_rs_list" 'BEGIN { while ((getline line < list) > 0) if (length(line) >= 4) secrets[++n] = line }
		{
			for (i = 1; i <= n; i++) {
				while ((p = index($0, secrets[i])) > 0) {
					$0 = substr($0, 1, p - 1) "***" substr($0, p + length(secrets[i]))
				}
			}
			print
		}'
	rm -f -- "$_rs_list"
}
