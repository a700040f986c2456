#!/bin/sh
# shellcheck disable=SC2034 # variables set here are read by the scripts that source it
# lib.sh: helpers shared by the backup job scripts (tar engine).
#
# Sourced, never run: each script does
#     set -eu
#     . "$(dirname "$(readlink -f "$0")")/lib.sh"
# (readlink -f so a command symlinked to the script still finds its lib.)
#
# Targets busybox sh: POSIX sh plus busybox applets (tar, gzip, sha256sum,
# flock, find, stat, date, sed, awk, ...). zstd is an optional external binary.
# POSIX sh has no `local`, so function variables carry a _<function>_ prefix.
#
# Environment read here (each script documents the ones it uses):
#   BACKUP_PREFIX        archive name prefix (normally the stack name)
#   BACKUP_TARGET_DIR    directory holding the archives      (default /backup)
#   BACKUP_LOCK_TIMEOUT  seconds to wait for the target lock (default 300)
#   BACKUP_TIMESTAMP     "now" override, yyyymmddThhmmssZ    (tests)

PDS_SCRIPT=${PDS_SCRIPT:-$(basename "$0")}

# Exit codes, the same for every script.
EX_OK=0
EX_FAIL=1    # the operation failed (a volume, an archive, a restore)
EX_CONFIG=2  # bad or missing configuration, missing tool
EX_LOCK=3    # the target lock was not acquired in time
EX_REFUSED=4 # restore refused: target not empty and force not set

# Prefixes and volume keys end up inside file names and must be parseable back
# out of them, so both are restricted to this character set.
NAME_RULE='^[a-zA-Z0-9][a-zA-Z0-9_.-]*$'
TS_GLOB='[0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]T[0-9][0-9][0-9][0-9][0-9][0-9]Z'

# --- messages ---------------------------------------------------------------

log() {
	printf '%s: %s %s\n' "$PDS_SCRIPT" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2
}

warn() {
	printf '%s: warning: %s\n' "$PDS_SCRIPT" "$*" >&2
}

err() {
	printf '%s: error: %s\n' "$PDS_SCRIPT" "$*" >&2
}

die() {
	err "$*"
	exit "$EX_FAIL"
}

die_config() {
	err "$*"
	exit "$EX_CONFIG"
}

# --- lifecycle ----------------------------------------------------------------

# Scripts override cleanup() to remove their own temporary files.
cleanup() {
	:
}

pds_on_exit() {
	_poe_rc=$?
	trap - EXIT
	cleanup || true
	[ -z "${PDS_WORK:-}" ] || rm -rf -- "$PDS_WORK"
	exit "$_poe_rc"
}

# pds_init: private work dir for pipeline status and captured stderr, and traps
# so that a normal exit or a catchable signal removes temporary files. A kill -9
# cannot be trapped: the next locked run removes what it left (cleanup_stale).
pds_init() {
	PDS_WORK=$(mktemp -d "${TMPDIR:-/tmp}/pds.XXXXXX") ||
		die_config "cannot create a temporary directory in ${TMPDIR:-/tmp}"
	trap pds_on_exit EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 143' TERM
}

# --- validation -------------------------------------------------------------

# is_name VALUE: VALUE matches NAME_RULE (case, not grep: a newline in VALUE
# must not let one good line pass).
is_name() {
	case "$1" in
	'' | [!a-zA-Z0-9]* | *[!a-zA-Z0-9_.-]*) return 1 ;;
	esac
	return 0
}

require_prefix() {
	[ -n "${BACKUP_PREFIX:-}" ] || die_config "BACKUP_PREFIX is required (archive name prefix, normally the stack name)"
	is_name "$BACKUP_PREFIX" || die_config "BACKUP_PREFIX '$BACKUP_PREFIX' is invalid: it must match $NAME_RULE"
}

# require_uint VAR VALUE
require_uint() {
	case "$2" in
	'' | *[!0-9]*) die_config "$1 must be a non-negative integer, got '$2'" ;;
	esac
}

require_cmd() {
	command -v "$1" >/dev/null 2>&1 || die_config "'$1' not found on PATH${2:+ ($2)}"
}

# load_target_config: the settings every script shares.
load_target_config() {
	BACKUP_TARGET_DIR=${BACKUP_TARGET_DIR:-/backup}
	BACKUP_LOCK_TIMEOUT=${BACKUP_LOCK_TIMEOUT:-300}
	require_uint BACKUP_LOCK_TIMEOUT "$BACKUP_LOCK_TIMEOUT"
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		ts_valid "$BACKUP_TIMESTAMP" ||
			die_config "BACKUP_TIMESTAMP '$BACKUP_TIMESTAMP' is invalid: expected yyyymmddThhmmssZ"
	fi
}

require_target_dir() {
	[ -d "$BACKUP_TARGET_DIR" ] || die_config "backup target directory $BACKUP_TARGET_DIR does not exist"
}

# --- time -------------------------------------------------------------------

# ts_valid TS: yyyymmddThhmmssZ with fields in range, so that date(1) can
# always convert it (a bogus name must not break retention or listing).
ts_valid() {
	# shellcheck disable=SC2254 # TS_GLOB is a pattern on purpose
	case "$1" in
	$TS_GLOB) ;;
	*) return 1 ;;
	esac
	_tv_rest=${1#????} # mmddThhmmssZ
	case "$_tv_rest" in
	0[1-9]* | 1[0-2]*) ;;
	*) return 1 ;;
	esac
	_tv_rest=${_tv_rest#??} # ddThhmmssZ
	case "$_tv_rest" in
	0[1-9]* | [12][0-9]* | 3[01]*) ;;
	*) return 1 ;;
	esac
	_tv_rest=${_tv_rest#???} # hhmmssZ
	case "$_tv_rest" in
	[01][0-9][0-5][0-9][0-5][0-9]Z | 2[0-3][0-5][0-9][0-5][0-9]Z) return 0 ;;
	esac
	return 1
}

# run_timestamp: BACKUP_TIMESTAMP, or the current UTC time, as yyyymmddThhmmssZ.
run_timestamp() {
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		printf '%s\n' "$BACKUP_TIMESTAMP"
	else
		date -u +%Y%m%dT%H%M%SZ
	fi
}

# ts_iso 20240102T030405Z -> 2024-01-02T03:04:05Z
ts_iso() {
	printf '%s\n' "$1" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z$/\1-\2-\3T\4:\5:\6Z/'
}

# ts_epoch TIMESTAMP -> seconds since the epoch
ts_epoch() {
	date -u -d "$(printf '%s\n' "$1" | sed 's/^\(....\)\(..\)\(..\)T\(..\)\(..\)\(..\)Z$/\1-\2-\3 \4:\5:\6/')" +%s
}

# now_epoch: "now" for ages and retention; BACKUP_TIMESTAMP wins so tests can
# fake the clock.
now_epoch() {
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		ts_epoch "$BACKUP_TIMESTAMP"
	else
		date -u +%s
	fi
}

# human_age SECONDS -> 45s, 12m, 3h, 5d
human_age() {
	if [ "$1" -lt 60 ]; then
		printf '%ss\n' "$1"
	elif [ "$1" -lt 3600 ]; then
		printf '%sm\n' "$(($1 / 60))"
	elif [ "$1" -lt 86400 ]; then
		printf '%sh\n' "$(($1 / 3600))"
	else
		printf '%sd\n' "$(($1 / 86400))"
	fi
}

# human_size BYTES -> 512 B, 1.5 KiB, 3.2 MiB, ...
human_size() {
	awk -v b="$1" 'BEGIN {
		split("B KiB MiB GiB TiB PiB", u, " ")
		i = 1
		while (b >= 1024 && i < 6) { b = b / 1024; i++ }
		if (i == 1) printf "%d %s\n", b, u[i]; else printf "%.1f %s\n", b, u[i]
	}'
}

# --- archive names ----------------------------------------------------------

# ext_for_compression gzip|zstd|none -> tar.gz|tar.zst|tar
ext_for_compression() {
	case "$1" in
	gzip) echo tar.gz ;;
	zstd) echo tar.zst ;;
	none) echo tar ;;
	*) return 1 ;;
	esac
}

compression_for_ext() {
	case "$1" in
	tar.gz) echo gzip ;;
	tar.zst) echo zstd ;;
	tar) echo none ;;
	*) return 1 ;;
	esac
}

# archive_ext NAME -> tar.gz|tar.zst|tar, for any archive name (any prefix).
archive_ext() {
	case "$1" in
	*.tar.gz) echo tar.gz ;;
	*.tar.zst) echo tar.zst ;;
	*.tar) echo tar ;;
	*) return 1 ;;
	esac
}

# archive_parse NAME: if NAME is exactly <BACKUP_PREFIX>-<volume>-<timestamp>.<ext>
# sets AR_VOLUME, AR_TS and AR_EXT and returns 0; otherwise returns 1. The
# timestamp has a fixed shape, so a volume key may itself contain '-'.
archive_parse() {
	case "$1" in
	"$BACKUP_PREFIX"-*) ;;
	*) return 1 ;;
	esac
	AR_EXT=$(archive_ext "$1") || return 1
	_ap_base=${1#"$BACKUP_PREFIX"-}
	_ap_base=${_ap_base%."$AR_EXT"}
	AR_TS=${_ap_base##*-}
	AR_VOLUME=${_ap_base%-*}
	[ "$AR_VOLUME-$AR_TS" = "$_ap_base" ] || return 1
	ts_valid "$AR_TS" || return 1
	is_name "$AR_VOLUME" || return 1
}

# archive_is_foreign PATH: the manifest says the archive belongs to another
# prefix. Names alone are ambiguous when prefixes share a target ("prod" with
# volume "db-data" vs "prod-db" with volume "data"); the manifest settles it.
archive_is_foreign() {
	[ -f "$1.manifest.json" ] || return 1
	_aif_prefix=$(sed -n 's/^[[:space:]]*"prefix":[[:space:]]*"\([^"]*\)".*$/\1/p' "$1.manifest.json" | head -n 1)
	[ -n "$_aif_prefix" ] && [ "$_aif_prefix" != "$BACKUP_PREFIX" ]
}

# list_archives [VOLUME]: one line "volume timestamp name" per archive of
# BACKUP_PREFIX in the target dir (optionally one volume), oldest first per
# volume. Parsed names hold no blanks, so lines split safely with read.
list_archives() {
	for _la_path in "$BACKUP_TARGET_DIR/$BACKUP_PREFIX"-*; do
		[ -f "$_la_path" ] || continue
		archive_parse "${_la_path##*/}" || continue
		[ -z "${1:-}" ] || [ "$AR_VOLUME" = "$1" ] || continue
		! archive_is_foreign "$_la_path" || continue
		printf '%s %s %s\n' "$AR_VOLUME" "$AR_TS" "${_la_path##*/}"
	done | sort
}

# --- compression --------------------------------------------------------------

require_compressor() {
	case "$1" in
	tar.zst) require_cmd zstd "needed for zstd compression; install it or use gzip" ;;
	tar.gz) require_cmd gzip ;;
	esac
}

# compress_stream EXT: stdin tar -> stdout compressed
compress_stream() {
	case "$1" in
	tar.gz) gzip -c ;;
	tar.zst) zstd -3 -T0 -q -c ;;
	tar) cat ;;
	*) return 1 ;;
	esac
}

# decompress_stream EXT: stdin compressed -> stdout tar
decompress_stream() {
	case "$1" in
	tar.gz) gzip -dc ;;
	tar.zst) zstd -dcq ;;
	tar) cat ;;
	*) return 1 ;;
	esac
}

# decompress_file EXT FILE: FILE -> stdout tar
decompress_file() {
	case "$1" in
	tar.gz) gzip -dc <"$2" ;;
	tar.zst) zstd -dcq <"$2" ;;
	tar) cat <"$2" ;;
	*) return 1 ;;
	esac
}

# --- pipelines ------------------------------------------------------------------

# POSIX sh has no pipefail and reports only the last command's status, which
# would hide a failing tar behind a happy gzip. So every stage of a pipeline
# runs through stage(), which appends a failure to a status file and its stderr
# to an error file; pipe_check turns both into one line in PIPE_ERROR.
pipe_begin() {
	stages_reset ""
	PIPE_ERROR=
}

# stage NAME COMMAND [ARG...]
stage() {
	stages_run "" "$@"
}

pipe_check() {
	PIPE_ERROR=$(stages_error "") && return 0
	return 1
}

# The shared mechanism: stages_reset PREFIX, stages_run PREFIX NAME COMMAND
# [ARG...], and stages_error PREFIX (prints "<first error line> [failed:
# <stages>]" and fails when a stage failed) over $PDS_WORK/<PREFIX>status and
# $PDS_WORK/<PREFIX>stderr, so two pipelines can run side by side.
stages_reset() {
	: >"$PDS_WORK/${1}status"
	: >"$PDS_WORK/${1}stderr"
}

stages_run() {
	_sr_prefix=$1
	_sr_name=$2
	shift 2
	"$@" 2>>"$PDS_WORK/${_sr_prefix}stderr" || echo "$_sr_name:$?" >>"$PDS_WORK/${_sr_prefix}status"
}

stages_error() {
	[ -s "$PDS_WORK/${1}status" ] || return 0
	_se_stages=$(tr '\n' ' ' <"$PDS_WORK/${1}status" | sed 's/ $//')
	_se_msg=$(head -n 1 "$PDS_WORK/${1}stderr")
	echo "${_se_msg:-no error output} [failed: $_se_stages]"
	return 1
}

# --- checksums and verification ---------------------------------------------

sha256_of() {
	sha256sum <"$1" | awk '{ print $1 }'
}

# sync_file FILE: flush FILE to disk; busybox sync takes files, fall back to a
# global sync where it does not.
sync_file() {
	sync -- "$1" 2>/dev/null || sync
}

# check_begin: like pipe_begin, for the checker that reads a stream while it
# is written (check_stage, check_check; CHECK_ERROR).
check_begin() {
	stages_reset check.
	CHECK_ERROR=
}

# check_stage NAME COMMAND [ARG...]
check_stage() {
	stages_run check. "$@"
}

check_check() {
	CHECK_ERROR=$(stages_error check.) && return 0
	return 1
}

# check_stream EXT: the full test read of an archive stream on stdin, done
# while the archive is written: decompress, list every entry verbosely, and
# print the manifest's counts (listing_stats) on stdout. stdin is always read
# to its end, even when the decompressor gives up, so the writer never blocks
# or dies on a closed pipe. Failures are in check.status (check_check).
check_stream() {
	{
		check_stage decompress decompress_stream "$1"
		cat >/dev/null
	} | {
		check_stage tar tar -tvf -
		cat >/dev/null
	} | check_stage count listing_stats
}

# listing_stats: `tar -tv` lines of an archive of "." on stdin -> "files
# entries bytes", as tree_stats counts the tree: regular files (each name; a
# hard link is listed with size 0, so its bytes count once),
# entries below the root ("./" itself excluded). Only lines of the listing's
# exact shape count (busybox's, or GNU tar's without seconds), so a name with
# a newline cannot add an entry. GNU tar lists a hard link as type h.
listing_stats() {
	awk '
		/^[-dlhcbps][-rwxsStT]{9} [^ ]+\/[^ ]+ +[0-9]+ [0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}(:[0-9]{2})? \.\// {
			if ($6 == "./" && NF == 6) next
			entries++
			if ($1 ~ /^[-h]/) { files++; bytes += $3 }
		}
		END { printf "%.0f %.0f %.0f\n", files, entries, bytes }'
}

# test_read FILE EXT: decompress and list every entry, reading the whole stream.
test_read() {
	pipe_begin
	stage decompress decompress_file "$2" "$1" | stage tar tar -tf - >/dev/null
	pipe_check
}

# archive_precheck PATH: what can be checked without reading the archive: it
# exists, has a well-formed checksum file and an archive name. Sets AV_EXT and
# AV_EXPECTED; returns 1 with VERIFY_REASON.
archive_precheck() {
	VERIFY_REASON=
	if [ ! -f "$1" ]; then
		VERIFY_REASON="archive not found"
		return 1
	fi
	if [ ! -f "$1.sha256" ]; then
		VERIFY_REASON="missing checksum file ${1##*/}.sha256"
		return 1
	fi
	if ! AV_EXT=$(archive_ext "$1"); then
		VERIFY_REASON="not an archive name (.tar, .tar.gz or .tar.zst expected)"
		return 1
	fi
	AV_EXPECTED=$(sed -n '1s/^\([0-9a-f]\{64\}\)[ *].*$/\1/p' "$1.sha256")
	if [ -z "$AV_EXPECTED" ]; then
		VERIFY_REASON="malformed checksum file ${1##*/}.sha256"
		return 1
	fi
}

# can_decompress: the tool AV_EXT needs is there, else returns 1 with VERIFY_REASON.
can_decompress() {
	if [ "$AV_EXT" = tar.zst ] && ! command -v zstd >/dev/null 2>&1; then
		VERIFY_REASON="cannot test-read: zstd not found on PATH"
		return 1
	fi
}

# checksum_matches ACTUAL: ACTUAL (from sha256sum) is AV_EXPECTED, else
# returns 1 with VERIFY_REASON.
checksum_matches() {
	if [ -z "$1" ]; then
		VERIFY_REASON="cannot read archive"
		return 1
	fi
	if [ "$1" != "$AV_EXPECTED" ]; then
		VERIFY_REASON="checksum mismatch (expected $AV_EXPECTED, got $1)"
		return 1
	fi
}

# archive_verify PATH: checksum against PATH.sha256, then a full test read.
# Returns 1 with a one-line reason in VERIFY_REASON when PATH is not good.
archive_verify() {
	archive_precheck "$1" || return 1
	# The checksum reads the file on another core while the test read does.
	sha256_of "$1" >"$PDS_WORK/verify.sha256" 2>/dev/null &
	_av_pid=$!
	_av_read=ok
	if can_decompress; then
		test_read "$1" "$AV_EXT" || _av_read=failed
	fi
	wait "$_av_pid" || true
	checksum_matches "$(cat "$PDS_WORK/verify.sha256")" || return 1
	can_decompress || return 1
	if [ "$_av_read" != ok ]; then
		VERIFY_REASON="test read failed: $PIPE_ERROR"
		return 1
	fi
}

# --- locking ------------------------------------------------------------------

# lock_target exclusive|shared: flock on $BACKUP_TARGET_DIR/.pds.lock through fd
# 9, held until the script exits (the kernel drops it even on kill -9). Writers
# (backup, prune) lock exclusively, restore shares. busybox flock may lack -w,
# so poll flock -n once a second up to BACKUP_LOCK_TIMEOUT.
lock_target() {
	_lt_file="$BACKUP_TARGET_DIR/.pds.lock"
	require_cmd flock "busybox flock applet or util-linux flock"
	if [ "$1" = shared ]; then
		# Restores may mount the backups read-only: use the lock file as it
		# is, create it if possible, else go on without a lock.
		if ! [ -e "$_lt_file" ] && ! (: >>"$_lt_file") 2>/dev/null; then
			warn "cannot create lock file $_lt_file (read-only target?); continuing without a lock"
			return 0
		fi
		if ! [ -r "$_lt_file" ]; then
			warn "cannot read lock file $_lt_file; continuing without a lock"
			return 0
		fi
		exec 9<"$_lt_file"
		_lt_mode=-s
	else
		(: >>"$_lt_file") 2>/dev/null ||
			die "cannot open lock file $_lt_file for writing: is $BACKUP_TARGET_DIR writable?"
		exec 9>>"$_lt_file"
		_lt_mode=-x
	fi
	_lt_waited=0
	until flock -n "$_lt_mode" 9; do
		if [ "$_lt_waited" -ge "$BACKUP_LOCK_TIMEOUT" ]; then
			err "timed out after ${BACKUP_LOCK_TIMEOUT}s waiting for lock $_lt_file: another backup, prune or restore is running on this target"
			exit "$EX_LOCK"
		fi
		[ "$_lt_waited" -gt 0 ] || log "waiting up to ${BACKUP_LOCK_TIMEOUT}s for lock $_lt_file"
		sleep 1
		_lt_waited=$((_lt_waited + 1))
	done
}

# cleanup_stale: with the exclusive lock held no other run can be writing, so
# every partial file is left over from a killed run, and sidecars without
# their archive are left over from a run killed between the final renames.
cleanup_stale() {
	for _cs_path in "$BACKUP_TARGET_DIR"/.*.partial-*; do
		[ -f "$_cs_path" ] || [ -L "$_cs_path" ] || continue
		log "removing stale partial file ${_cs_path##*/} (left by an interrupted run)"
		rm -f -- "$_cs_path"
	done
	for _cs_path in "$BACKUP_TARGET_DIR/$BACKUP_PREFIX"-*.sha256 "$BACKUP_TARGET_DIR/$BACKUP_PREFIX"-*.manifest.json; do
		[ -f "$_cs_path" ] || continue
		_cs_archive=${_cs_path%.sha256}
		_cs_archive=${_cs_archive%.manifest.json}
		archive_parse "${_cs_archive##*/}" || continue
		[ ! -e "$_cs_archive" ] || continue
		log "removing orphan sidecar ${_cs_path##*/} (its archive does not exist)"
		rm -f -- "$_cs_path"
	done
}

# --- retention ----------------------------------------------------------------

load_retention_config() {
	BACKUP_KEEP_LAST=${BACKUP_KEEP_LAST:-7}
	BACKUP_KEEP_DAYS=${BACKUP_KEEP_DAYS:-0}
	require_uint BACKUP_KEEP_LAST "$BACKUP_KEEP_LAST"
	require_uint BACKUP_KEEP_DAYS "$BACKUP_KEEP_DAYS"
}

# retention_keeps RANK TIMESTAMP NOW: the keep rules alone (RANK 1 = newest).
# A rule set to 0 is off; with both off everything is kept; with both on an
# archive is kept if EITHER rule keeps it.
retention_keeps() {
	if [ "$BACKUP_KEEP_LAST" -eq 0 ] && [ "$BACKUP_KEEP_DAYS" -eq 0 ]; then
		return 0
	fi
	if [ "$BACKUP_KEEP_LAST" -gt 0 ] && [ "$1" -le "$BACKUP_KEEP_LAST" ]; then
		return 0
	fi
	if [ "$BACKUP_KEEP_DAYS" -gt 0 ]; then
		# An unconvertible time (e.g. Feb 30 under GNU date) counts as young:
		# when in doubt, keep.
		_rk_epoch=$(ts_epoch "$2" 2>/dev/null) && [ -n "$_rk_epoch" ] || return 0
		[ $(($3 - _rk_epoch)) -lt $((BACKUP_KEEP_DAYS * 86400)) ] && return 0
	fi
	return 1
}

# delete_archive NAME: the archive first, then its sidecars, so an interrupted
# delete leaves orphan sidecars (cleaned later), never an unchecked archive.
delete_archive() {
	rm -f -- "$BACKUP_TARGET_DIR/$1" || return 1
	rm -f -- "$BACKUP_TARGET_DIR/$1.sha256" "$BACKUP_TARGET_DIR/$1.manifest.json" || return 1
	printf 'deleted %s\n' "$1"
}

# prune_volume VOLUME [KNOWN_GOOD]: apply retention to one volume's archives.
# The newest archive that verifies good is never deleted, whatever the rules
# say; KNOWN_GOOD names an archive the caller has just verified, which saves
# reading it again.
prune_volume() {
	_pv_list=$(list_archives "$1" | sort -r)
	[ -n "$_pv_list" ] || return 0
	_pv_now=$(now_epoch)
	_pv_rank=0
	_pv_doomed=
	while read -r _pv_vol _pv_ts _pv_name; do
		_pv_rank=$((_pv_rank + 1))
		retention_keeps "$_pv_rank" "$_pv_ts" "$_pv_now" || _pv_doomed="$_pv_doomed $_pv_name"
	done <<EOF
$_pv_list
EOF
	[ -n "$_pv_doomed" ] || return 0

	_pv_protect=
	while read -r _pv_vol _pv_ts _pv_name; do
		if [ "$_pv_name" = "${2:-}" ] || archive_verify "$BACKUP_TARGET_DIR/$_pv_name"; then
			_pv_protect=$_pv_name
			break
		fi
		warn "volume $1: $_pv_name does not verify ($VERIFY_REASON)"
	done <<EOF
$_pv_list
EOF
	[ -n "$_pv_protect" ] || warn "volume $1: no archive verifies good; applying the keep rules alone"

	_pv_failed=0
	for _pv_name in $_pv_doomed; do
		if [ "$_pv_name" = "$_pv_protect" ]; then
			log "volume $1: keeping $_pv_name although the keep rules drop it: it is the newest archive that verifies good"
			continue
		fi
		delete_archive "$_pv_name" || {
			err "volume $1: could not delete $_pv_name"
			_pv_failed=1
		}
	done
	return "$_pv_failed"
}

# archive_volumes: every volume that has archives of BACKUP_PREFIX.
archive_volumes() {
	list_archives | awk '{ print $1 }' | uniq
}

# --- misc -------------------------------------------------------------------

# free_space DIR -> "123.4 MiB": what df says is left, to tell a full disk
# apart from other write errors (busybox tee reports ENOSPC as an I/O error).
free_space() {
	_fs_kib=$(df -Pk -- "$1" 2>/dev/null | awk 'NR == 2 { print $4 }')
	[ -n "$_fs_kib" ] || return 1
	human_size "$((_fs_kib * 1024))"
}

# json_string VALUE -> VALUE as a JSON string literal (control characters dropped).
json_string() {
	printf '"%s"' "$(printf '%s' "$1" | tr -d '\000-\037' | sed 's/\\/\\\\/g; s/"/\\"/g')"
}

# json_string_or_null VALUE
json_string_or_null() {
	if [ -n "$1" ]; then json_string "$1"; else printf 'null'; fi
}

# tree_stats DIR -> "files entries bytes": regular files (each name), all
# entries below DIR, and bytes of distinct regular-file inodes (a hard-linked
# file counts once, as tar stores it once). Names are never printed, so any
# character in them is harmless.
tree_stats() {
	find "$1" -mindepth 1 -exec stat -c '%i %s %F' {} + | awk '
		{ entries++ }
		$3 == "regular" { files++; if (!($1 in seen)) { seen[$1] = 1; bytes += $2 } }
		END { printf "%.0f %.0f %.0f\n", files, entries, bytes }'
}

# dir_is_empty DIR: no entry at all, dotfiles included.
dir_is_empty() {
	_dei_list=$(ls -A -- "$1") || die "cannot list $1"
	[ -z "$_dei_list" ]
}

# --- volumes -------------------------------------------------------------------

# add_volume KEY: queue a volume once; an invalid key fails that volume only.
add_volume() {
	if ! is_name "$1"; then
		err "volume '$1': invalid volume key: it must match $NAME_RULE"
		FAILED="$FAILED '$1'"
		return 0
	fi
	case " $VOLUMES " in
	*" $1 "*) ;;
	*) VOLUMES="${VOLUMES:+$VOLUMES }$1" ;;
	esac
}

# resolve_volumes: BACKUP_VOLUMES, else every directory in the sources dir.
# VOLUMES holds only valid keys, so it splits safely on blanks.
resolve_volumes() {
	VOLUMES=
	if [ -n "$(printf '%s' "${BACKUP_VOLUMES:-}" | tr -d ' \t\n')" ]; then
		set -f # keys are not globs
		for _rv_key in $BACKUP_VOLUMES; do
			add_volume "$_rv_key"
		done
		set +f
	else
		[ -d "$BACKUP_SOURCES_DIR" ] ||
			die_config "sources directory $BACKUP_SOURCES_DIR does not exist and BACKUP_VOLUMES is empty"
		for _rv_dir in "$BACKUP_SOURCES_DIR"/*; do
			[ -d "$_rv_dir" ] || continue
			add_volume "${_rv_dir##*/}"
		done
	fi
	[ -n "$VOLUMES" ] || [ -n "$FAILED" ] ||
		die_config "nothing to back up: no directories in $BACKUP_SOURCES_DIR and BACKUP_VOLUMES is empty"
}

# --- restores -------------------------------------------------------------------

# load_restore_config WHAT: the RESTORE_* settings both engines share; WHAT
# (archive, snapshot) names what "latest" picks in messages.
load_restore_config() {
	RESTORE_VOLUME=${RESTORE_VOLUME:-}
	RESTORE_FROM=${RESTORE_FROM:-latest}
	RESTORE_TARGET_DIR=${RESTORE_TARGET_DIR:-/restore}
	RESTORE_FORCE=${RESTORE_FORCE:-false}
	case "$RESTORE_FORCE" in
	true | false) ;;
	*) die_config "RESTORE_FORCE must be true or false, got '$RESTORE_FORCE'" ;;
	esac
	if [ -n "$RESTORE_VOLUME" ]; then
		is_name "$RESTORE_VOLUME" || die_config "RESTORE_VOLUME '$RESTORE_VOLUME' is invalid: it must match $NAME_RULE"
	fi
	if [ "$RESTORE_FROM" = latest ]; then
		require_prefix
		[ -n "$RESTORE_VOLUME" ] || die_config "RESTORE_VOLUME is required to restore the latest $1"
	fi
}
