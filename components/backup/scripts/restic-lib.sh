#!/bin/sh
# shellcheck disable=SC2034 # variables set here are read by the scripts that source it
# restic-lib.sh: helpers shared by the restic engine's job scripts
# (restic-backup.sh, restic-forget.sh, restic-check.sh, restic-restore.sh,
# restic-list.sh).
#
# Sourced, never run, AFTER lib.sh (log/warn/err/die, exit codes, is_name,
# require_uint, pds_init ...):
#     set -eu
#     PDS_DIR=$(dirname "$(readlink -f "$0")")
#     . "$PDS_DIR/lib.sh"
#     . "$PDS_DIR/restic-lib.sh"
#
# Environment read here (each script documents the ones it uses):
#   RESTIC_REPOSITORY     required; a local path (/backup/restic) or any
#                         restic location: sftp:user@host:/path, rest:..., s3:...
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; the ONLY password
#                         source (RESTIC_PASSWORD and RESTIC_PASSWORD_COMMAND
#                         are removed from the environment, with a warning)
#   RESTIC_CACHE_DIR      default /tmp/restic-cache (HOME may be unwritable);
#                         if it cannot be created restic runs with --no-cache
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to keep retrying while another
#                         restic process holds a conflicting repository lock
#   BACKUP_TIMESTAMP      optional, yyyymmddThhmmssZ; "now" for ages, and the
#                         snapshot time of a backup (tests)
#
# The password: the scripts never read it. They check that the file is a
# readable, non-empty regular file and hand restic its PATH through
# RESTIC_PASSWORD_FILE; restic reads it. It is never in an argument, in the
# environment, or in any output. restic's stdin is always /dev/null, so it can
# never fall back to reading a password from stdin or a terminal.
#
# Locking is restic's own: backup, restore and list take shared locks, forget,
# prune and check exclusive ones. A command that finds the repository locked
# runs again with --retry-lock (restic >= 0.16), restic itself waiting up to
# BACKUP_LOCK_TIMEOUT seconds; one that still finds it locked exits EX_LOCK.
# restic treats a lock as stale (and ignores it) after 30 minutes, or at once
# when it was made on the same host by a process that no longer exists.
#
# Output: restic runs with its stdout and stderr captured in $PDS_WORK; the
# scripts parse what they need (--json where restic offers it) and relay
# restic's messages to stderr as "<script>: restic: <line>", progress lines
# dropped. There is no jq: json_flatten (awk) turns JSON into "path<TAB>value"
# lines.
#
# sftp: repositories: restic runs `ssh <host> -l <user> -s sftp`. Configure ssh
# with a mounted /etc/ssh/ssh_config (or ~/.ssh/config of the running user):
# IdentityFile, BatchMode yes, StrictHostKeyChecking and UserKnownHostsFile.

RESTIC_FLAGS=

# --- configuration ------------------------------------------------------------

# repo_display: RESTIC_REPOSITORY with any "user:password@" in a URL reduced to
# "user:***@", for messages.
repo_display() {
	printf '%s\n' "$RESTIC_REPOSITORY" | sed 's#\(://[^/:@]*\):[^/@]*@#\1:***@#'
}

# load_restic_config: what every restic script needs, checked up front.
load_restic_config() {
	require_cmd restic "the restic engine needs the restic binary in the job image"
	[ -n "${RESTIC_REPOSITORY:-}" ] ||
		die_config "RESTIC_REPOSITORY is required (a path such as /backup/restic, or sftp:user@host:/path, rest:..., s3:...)"
	REPO_DISPLAY=$(repo_display)

	if [ -n "${RESTIC_PASSWORD:-}" ] || [ -n "${RESTIC_PASSWORD_COMMAND:-}" ]; then
		warn "RESTIC_PASSWORD / RESTIC_PASSWORD_COMMAND are ignored; the password comes from RESTIC_PASSWORD_FILE only"
	fi
	unset RESTIC_PASSWORD RESTIC_PASSWORD_COMMAND
	RESTIC_PASSWORD_FILE=${RESTIC_PASSWORD_FILE:-/run/pds/restic-password}
	[ -e "$RESTIC_PASSWORD_FILE" ] ||
		die_config "password file $RESTIC_PASSWORD_FILE does not exist (mount the repository password there, or set RESTIC_PASSWORD_FILE)"
	[ -f "$RESTIC_PASSWORD_FILE" ] || die_config "password file $RESTIC_PASSWORD_FILE is not a regular file"
	[ -r "$RESTIC_PASSWORD_FILE" ] || die_config "password file $RESTIC_PASSWORD_FILE is not readable"
	[ -s "$RESTIC_PASSWORD_FILE" ] || die_config "password file $RESTIC_PASSWORD_FILE is empty"
	case "$(stat -c %A "$RESTIC_PASSWORD_FILE" 2>/dev/null)" in
	???????r??) warn "password file $RESTIC_PASSWORD_FILE is readable by every user (mode $(stat -c %a "$RESTIC_PASSWORD_FILE"))" ;;
	esac

	RESTIC_CACHE_DIR=${RESTIC_CACHE_DIR:-/tmp/restic-cache}
	if ! mkdir -p -- "$RESTIC_CACHE_DIR" 2>/dev/null || ! [ -w "$RESTIC_CACHE_DIR" ]; then
		warn "cache directory $RESTIC_CACHE_DIR is not writable; running restic without a cache (slower)"
		RESTIC_FLAGS=--no-cache
	fi
	export RESTIC_REPOSITORY RESTIC_PASSWORD_FILE RESTIC_CACHE_DIR

	BACKUP_LOCK_TIMEOUT=${BACKUP_LOCK_TIMEOUT:-300}
	require_uint BACKUP_LOCK_TIMEOUT "$BACKUP_LOCK_TIMEOUT"
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		ts_valid "$BACKUP_TIMESTAMP" ||
			die_config "BACKUP_TIMESTAMP '$BACKUP_TIMESTAMP' is invalid: expected yyyymmddThhmmssZ"
	fi
}

# --- running restic -----------------------------------------------------------

# restic_run NAME ARG...: restic ARG... with stdin /dev/null, stdout in
# $PDS_WORK/NAME.out and stderr in $PDS_WORK/NAME.err; returns restic's status.
# A command that finds the repository locked by another process runs once
# more with --retry-lock, restic waiting up to BACKUP_LOCK_TIMEOUT seconds for
# the lock; if it is still locked then, the script exits EX_LOCK.
restic_run() {
	_rr_name=$1
	shift
	_rr_rc=0
	restic_exec "$_rr_name" "$@" || _rr_rc=$?
	restic_locked "$_rr_rc" "$_rr_name" || return "$_rr_rc"
	_rr_lock="repository is already locked"
	if [ "$BACKUP_LOCK_TIMEOUT" -gt 0 ]; then
		log "waiting up to ${BACKUP_LOCK_TIMEOUT}s: $_rr_lock"
		_rr_sub=$1
		shift
		_rr_rc=0
		restic_exec "$_rr_name" "$_rr_sub" --retry-lock "${BACKUP_LOCK_TIMEOUT}s" "$@" || _rr_rc=$?
		restic_locked "$_rr_rc" "$_rr_name" || return "$_rr_rc"
	fi
	err "timed out after ${BACKUP_LOCK_TIMEOUT}s waiting for the lock on repository $REPO_DISPLAY: $_rr_lock (another backup, forget, check or restore is running; restic removes a dead process's lock after 30 minutes)"
	exit "$EX_LOCK"
}

# restic_exec NAME ARG...: one restic run (see restic_run).
restic_exec() {
	_re_name=$1
	shift
	# shellcheck disable=SC2086 # RESTIC_FLAGS is empty or one flag
	restic $RESTIC_FLAGS "$@" </dev/null >"$PDS_WORK/$_re_name.out" 2>"$PDS_WORK/$_re_name.err"
}

# restic_locked RC NAME: the run failed because another process holds a
# conflicting lock (restic exits 11 and says so).
restic_locked() {
	[ "$1" -ne 0 ] && grep -q 'unable to create lock\|repository is already locked' "$PDS_WORK/$2.err"
}

# restic_relay NAME [FILE]: restic's stderr (or FILE) to our stderr, one
# "<script>: restic: <line>" per line, without progress bars or blank lines.
restic_relay() {
	_rl_file=${2:-$PDS_WORK/$1.err}
	[ -s "$_rl_file" ] || return 0
	sed -e '/^\[[0-9:]*\] /d' -e '/^[[:space:]]*$/d' -e "s/^/$PDS_SCRIPT: restic: /" "$_rl_file" >&2
}

# restic_failure NAME: one line saying why restic could not work with the
# repository, from its stderr; sets RESTIC_FAILURE.
restic_failure() {
	_rf_err="$PDS_WORK/$1.err"
	if grep -q 'wrong password or no key found' "$_rf_err"; then
		RESTIC_FAILURE="the password in $RESTIC_PASSWORD_FILE does not open the repository at $REPO_DISPLAY (wrong password, or a key that was removed)"
	elif grep -q 'Is there a repository at the following location' "$_rf_err"; then
		RESTIC_FAILURE="there is no restic repository at $REPO_DISPLAY (restic-backup.sh initializes it on its first run)"
	else
		_rf_line=$(grep -m 1 '^Fatal: ' "$_rf_err" || true)
		[ -n "$_rf_line" ] || _rf_line=$(sed -e '/^\[[0-9:]*\] /d' -e '/^[[:space:]]*$/d' "$_rf_err" | tail -n 1)
		RESTIC_FAILURE="restic failed on repository $REPO_DISPLAY: ${_rf_line:-no error output}"
	fi
}

# restic_no_repo NAME: the command failed because there is no repository (yet).
restic_no_repo() {
	grep -q 'Is there a repository at the following location' "$PDS_WORK/$1.err"
}

# restic_die NAME [CONTEXT]: relay restic's stderr and die with its reason.
restic_die() {
	restic_relay "$1"
	restic_failure "$1"
	die "${2:+$2: }$RESTIC_FAILURE"
}

# --- JSON -----------------------------------------------------------------------

# json_flatten: JSON on stdin -> one "path<TAB>value" line per scalar, paths
# joined with '.' (array indexes are numbers): [{"id":"a","tags":["x"]}] gives
#     0.id	a
#     0.tags.0	x
# Strings lose their quotes; \" and \\ are decoded, other escapes (\n, \t,
# \uXXXX) stay as written, so every value stays on one line. Splitting on '"'
# after hiding escaped quotes keeps this linear in the input size.
json_flatten() {
	awk '
	function emit(v,   p, i) {
		p = ""
		for (i = 1; i <= depth; i++) p = p (i > 1 ? "." : "") key[i]
		gsub(/\001/, "\\", v)
		gsub(/\002/, "\"", v)
		printf "%s\t%s\n", p, v
	}
	function scalar() {
		if (tok != "") { emit(tok); tok = "" }
	}
	{
		gsub(/\\\\/, "\001")
		gsub(/\\"/, "\002")
		buf = buf $0 "\n"
	}
	END {
		n = split(buf, part, "\"")
		depth = 0
		for (f = 1; f <= n; f++) {
			if (f % 2 == 0) { # inside a string
				if (depth > 0 && kind[depth] == "o" && wantkey[depth]) {
					key[depth] = part[f]
					wantkey[depth] = 0
				} else {
					emit(part[f])
				}
				continue
			}
			s = part[f]
			m = length(s)
			for (i = 1; i <= m; i++) {
				c = substr(s, i, 1)
				if (c == "{" || c == "[") {
					depth++
					kind[depth] = (c == "{") ? "o" : "a"
					wantkey[depth] = (c == "{")
					key[depth] = (c == "{") ? "" : 0
				} else if (c == "}" || c == "]") {
					scalar()
					depth--
				} else if (c == ",") {
					scalar()
					if (kind[depth] == "a") key[depth]++
					else wantkey[depth] = 1
				} else if (c == ":" || c == " " || c == "\t" || c == "\n" || c == "\r") {
					scalar()
				} else {
					tok = tok c
				}
			}
		}
	}'
}

# json_get FILE PATH: the value at PATH in json_flatten output FILE (first match).
json_get() {
	awk -F '\t' -v k="$2" '$1 == k { print $2; exit }' "$1"
}

# --- snapshots --------------------------------------------------------------------

# snapshots_tsv NAME: the JSON of `restic snapshots --json` in $PDS_WORK/NAME.out
# -> one line per snapshot, oldest first:
#   sortkey  epoch  id  short_id  time(UTC ISO)  volume  stack  host  path
# TAB-separated; an absent field is "-". The time is converted to UTC here
# (restic records the offset of the machine that made the snapshot), so
# snapshots from differently configured clocks still sort right. In the awk
# program, parse_time turns "2024-01-02T03:04:05.123+01:00" into EPOCH and
# FRAC (9 digits); `cur` is compared as a string: split() gives numeric
# strings, and "0" would equal an unset variable.
snapshots_tsv() {
	json_flatten <"$PDS_WORK/$1.out" | awk -F '\t' '
	function days_from_civil(y, m, d,   era, yoe, doy, doe) {
		y -= (m <= 2)
		era = int(y / 400)
		yoe = y - era * 400
		doy = int((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1
		doe = yoe * 365 + int(yoe / 4) - int(yoe / 100) + doy
		return era * 146097 + doe - 719468
	}
	function civil(days,   z, era, doe, yoe, doy, mp, d, m, y) {
		z = days + 719468
		era = int(z / 146097)
		doe = z - era * 146097
		yoe = int((doe - int(doe / 1460) + int(doe / 36524) - int(doe / 146096)) / 365)
		y = yoe + era * 400
		doy = doe - (365 * yoe + int(yoe / 4) - int(yoe / 100))
		mp = int((5 * doy + 2) / 153)
		d = doy - int((153 * mp + 2) / 5) + 1
		m = mp + (mp < 10 ? 3 : -9)
		y += (m <= 2)
		return sprintf("%04d-%02d-%02d", y, m, d)
	}
	function parse_time(t,   s, off, sign, oh, om) {
		EPOCH = -1
		FRAC = "000000000"
		if (t !~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]/) return
		off = 0
		s = substr(t, 20)
		if (s ~ /^\.[0-9]+/) {
			match(s, /^\.[0-9]+/)
			FRAC = substr(substr(s, 2, RLENGTH - 1) "000000000", 1, 9)
			s = substr(s, RLENGTH + 1)
		}
		if (s ~ /^[+-][0-9][0-9]:[0-9][0-9]$/) {
			sign = (substr(s, 1, 1) == "-") ? -1 : 1
			oh = substr(s, 2, 2) + 0
			om = substr(s, 5, 2) + 0
			off = sign * (oh * 3600 + om * 60)
		}
		EPOCH = days_from_civil(substr(t, 1, 4) + 0, substr(t, 6, 2) + 0, substr(t, 9, 2) + 0) * 86400 + \
			substr(t, 12, 2) * 3600 + substr(t, 15, 2) * 60 + substr(t, 18, 2) - off
	}
	function iso(e,   d, r) {
		d = int(e / 86400)
		r = e - d * 86400
		return sprintf("%sT%02d:%02d:%02dZ", civil(d), int(r / 3600), int((r % 3600) / 60), r % 60)
	}
	function v(x) { return (x == "") ? "-" : x }
	function flush() {
		if (cur == "-") return
		parse_time(tm)
		if (EPOCH >= 0) {
			printf "%015d.%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", EPOCH, FRAC, EPOCH, v(id), v(sid), iso(EPOCH), \
				v(vol), v(stk), v(host), v(p0)
		}
		id = sid = tm = vol = stk = host = p0 = ""
	}
	BEGIN { cur = "-" }
	{
		split($1, k, ".")
		if ((k[1] "") != cur) { flush(); cur = k[1] "" }
		if ($1 == cur ".id") id = $2
		else if ($1 == cur ".short_id") sid = $2
		else if ($1 == cur ".time") tm = $2
		else if ($1 == cur ".hostname") host = $2
		else if ($1 == cur ".paths.0") p0 = $2
		else if (k[2] == "tags" && $2 ~ /^volume=/) vol = substr($2, 8)
		else if (k[2] == "tags" && $2 ~ /^stack=/) stk = substr($2, 7)
	}
	END { flush() }' | sort
}

# list_snapshots NAME [FILTER...]: `restic snapshots --json FILTER...` into
# $PDS_WORK/NAME.out, then snapshots_tsv into $PDS_WORK/NAME.tsv. Dies (with
# restic's reason) when the repository cannot be read.
list_snapshots() {
	_ls_name=$1
	shift
	restic_run "$_ls_name" snapshots --json "$@" || restic_die "$_ls_name" "cannot list snapshots"
	snapshots_tsv "$_ls_name" >"$PDS_WORK/$_ls_name.tsv"
}

# --- retention ----------------------------------------------------------------------

# load_keep_policy: BACKUP_KEEP_* -> KEEP_ARGS (restic flags, blank-separated
# words without blanks) and KEEP_DESC; both empty when every rule is 0.
load_keep_policy() {
	BACKUP_KEEP_LAST=${BACKUP_KEEP_LAST:-7}
	BACKUP_KEEP_DAILY=${BACKUP_KEEP_DAILY:-0}
	BACKUP_KEEP_WEEKLY=${BACKUP_KEEP_WEEKLY:-0}
	BACKUP_KEEP_MONTHLY=${BACKUP_KEEP_MONTHLY:-0}
	KEEP_ARGS=
	KEEP_DESC=
	for _lk_rule in LAST DAILY WEEKLY MONTHLY; do
		eval "_lk_n=\$BACKUP_KEEP_$_lk_rule"
		require_uint "BACKUP_KEEP_$_lk_rule" "$_lk_n"
		_lk_n=$((_lk_n + 0)) # "007" -> 7
		[ "$_lk_n" -gt 0 ] || continue
		_lk_flag=$(printf '%s' "$_lk_rule" | tr '[:upper:]' '[:lower:]')
		KEEP_ARGS="$KEEP_ARGS --keep-$_lk_flag $_lk_n"
		KEEP_DESC="${KEEP_DESC:+$KEEP_DESC, }$_lk_flag $_lk_n"
	done
}

# forget_snapshots [VOLUME...]: apply the keep policy to this prefix's
# snapshots of each VOLUME (all of the prefix's volumes when none is given),
# each volume on its own, then prune unreferenced data. Snapshots of other
# prefixes are never looked at: every filter is stack=<prefix>,volume=<key>
# (or stack=<prefix>). Prints "forgot snapshot <id> of <volume> (<time>)".
forget_snapshots() {
	if [ -z "$KEEP_ARGS" ]; then
		log "retention: BACKUP_KEEP_LAST, _DAILY, _WEEKLY and _MONTHLY are all 0; forget skipped, every snapshot is kept"
		return 0
	fi
	_fs_filters=
	for _fs_vol in "$@"; do
		_fs_filters="$_fs_filters --tag stack=$BACKUP_PREFIX,volume=$_fs_vol"
	done
	[ -n "$_fs_filters" ] || _fs_filters="--tag stack=$BACKUP_PREFIX"
	log "retention for ${*:-every volume of $BACKUP_PREFIX}: keep $KEEP_DESC per volume; then prune"
	# group-by host,tags: one group per volume (every snapshot made here
	# carries exactly the tags stack=<prefix> and volume=<key>, and host
	# <prefix>); paths are left out so a changed BACKUP_SOURCES_DIR does not
	# split a volume's history. Prefixes and keys are NAME_RULE words, so the
	# unquoted expansions below split into exactly the intended arguments.
	# shellcheck disable=SC2086
	if ! restic_run forget forget --json --prune --group-by host,tags $KEEP_ARGS $_fs_filters; then
		restic_relay forget
		restic_failure forget
		err "forget/prune failed: $RESTIC_FAILURE"
		return 1
	fi
	# The JSON report is the first line; prune's text report follows it.
	head -n 1 "$PDS_WORK/forget.out" | json_flatten | awk -F '\t' '
		{ split($1, k, ".") }
		k[2] == "tags" && $2 ~ /^volume=/ { vol[k[1]] = substr($2, 8) }
		k[2] == "keep" && k[4] == "short_id" { kept[k[1]]++ }
		k[2] == "remove" && k[4] == "short_id" { rm[k[1] "." k[3]] = $2; n++ }
		k[2] == "remove" && k[4] == "time" { rmt[k[1] "." k[3]] = $2 }
		END {
			for (g in kept) printf "kept retention: volume %s keeps %d snapshot(s)\n", vol[g], kept[g]
			for (r in rm) { split(r, q, "."); printf "forgot snapshot %s of %s (%s)\n", rm[r], vol[q[1]], rmt[r] }
		}' >"$PDS_WORK/forget.report"
	sed -n 's/^kept //p' "$PDS_WORK/forget.report" | sort |
		while IFS= read -r _fs_line; do log "$_fs_line"; done
	grep '^forgot snapshot ' "$PDS_WORK/forget.report" | sort || true
	# prune runs only when something was forgotten.
	_fs_freed=$(sed -n 's/^total prune:[[:space:]]*//p' "$PDS_WORK/forget.out" | head -n 1)
	[ -z "$_fs_freed" ] || log "pruned: $_fs_freed freed"
	return 0
}
