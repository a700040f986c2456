#!/bin/sh
# backup.sh: back up Docker volumes into versioned, verified tar archives, then
# apply retention.
#
# Every volume is mounted read-only at $BACKUP_SOURCES_DIR/<volume>. Per run and
# volume this writes into $BACKUP_TARGET_DIR:
#   <prefix>-<volume>-<yyyymmddThhmmssZ>.tar.gz  (.tar.zst for zstd, .tar for none)
#   <archive>.sha256         sha256sum format, relative file name
#   <archive>.manifest.json  prefix, volume, time, sizes, file count, tools
# The archive holds the volume's contents relative to its root, with numeric
# owners, modes, symlinks, hard links and empty directories.
#
# Environment:
#   BACKUP_PREFIX        required; archive name prefix, normally the stack name;
#                        must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$
#   BACKUP_SOURCES_DIR   default /sources; volume <key> is mounted at <dir>/<key>
#   BACKUP_VOLUMES       space-separated volume keys; default: every directory
#                        in BACKUP_SOURCES_DIR
#   BACKUP_TARGET_DIR    default /backup; where archives go
#   BACKUP_COMPRESSION   gzip (default) | zstd | none
#   BACKUP_KEEP_LAST     default 7; keep the newest N archives per volume (0 = off)
#   BACKUP_KEEP_DAYS     default 0; keep archives younger than N days (0 = off)
#   BACKUP_LOCK_TIMEOUT  default 300; seconds to wait while another run holds
#                        the target lock
#   BACKUP_TIMESTAMP     optional; the run's UTC timestamp, yyyymmddThhmmssZ (tests)
#   BACKUP_SKIP_EMPTY    true | false (default); true skips a volume with no
#                        entries at all (no archive, no retention): a backup
#                        before the first deploy has nothing worth keeping
#   BACKUP_STOP, BACKUP_PAUSE, BACKUP_HOOKS, BACKUP_HOOK_<i>_*
#                        consistency hooks around each volume (see hooks.sh)
#
# Exit codes: 0 every volume backed up and retention applied; 1 a volume or
# retention failed (named on stderr); 2 configuration error; 3 lock timeout;
# 5 backed up, but a disk-usage threshold is exceeded (ALERT line on stderr).
#
# Safety: an archive is written as .<archive>.partial-<pid> in one pass that
# also checksums exactly the bytes written and test-reads them in full (both
# on the other cores, while the archive is written), then synced; its sidecars
# are renamed into place, and the archive is renamed LAST: a final archive
# name always means a complete, verified archive. Runs on one target
# are serialised by flock on $BACKUP_TARGET_DIR/.pds.lock; the lock holder
# removes partial files and orphan sidecars left by killed runs.
#
# Same-second runs: an existing archive is never overwritten. Archive names
# keep their fixed shape (no suffix), so with the real clock a run whose
# timestamp is taken waits for the next second (up to 3 times); with a forced
# BACKUP_TIMESTAMP the clashing volume fails instead.
#
# Retention runs only for volumes backed up in this run: a failing volume keeps
# all its history until it is backed up again.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"
# shellcheck source=hooks.sh
. "$(dirname "$(readlink -f "$0")")/hooks.sh"
# shellcheck source=disk.sh
. "$(dirname "$(readlink -f "$0")")/disk.sh"

load_config() {
	require_prefix
	load_target_config
	load_retention_config
	BACKUP_SOURCES_DIR=${BACKUP_SOURCES_DIR:-/sources}
	BACKUP_COMPRESSION=${BACKUP_COMPRESSION:-gzip}
	BACKUP_SKIP_EMPTY=${BACKUP_SKIP_EMPTY:-false}
	case "$BACKUP_SKIP_EMPTY" in
	true | false) ;;
	*) die_config "BACKUP_SKIP_EMPTY must be true or false, got '$BACKUP_SKIP_EMPTY'" ;;
	esac
	EXT=$(ext_for_compression "$BACKUP_COMPRESSION") ||
		die_config "BACKUP_COMPRESSION '$BACKUP_COMPRESSION' is invalid: use gzip, zstd or none"
	require_cmd tar
	require_cmd sha256sum
	require_compressor "$EXT"
}

# timestamp_taken TS: some queued volume already has an archive named for TS.
timestamp_taken() {
	for _tt_vol in $VOLUMES; do
		for _tt_ext in tar tar.gz tar.zst; do
			[ ! -e "$BACKUP_TARGET_DIR/$BACKUP_PREFIX-$_tt_vol-$1.$_tt_ext" ] || return 0
		done
	done
	return 1
}

# choose_timestamp: taken under the lock, so a run that waited for another
# does not reuse its second (see "Same-second runs" above).
choose_timestamp() {
	RUN_TS=$(run_timestamp)
	[ -z "${BACKUP_TIMESTAMP:-}" ] || return 0
	_ct_tries=0
	while [ "$_ct_tries" -lt 3 ] && timestamp_taken "$RUN_TS"; do
		sleep 1
		RUN_TS=$(run_timestamp)
		_ct_tries=$((_ct_tries + 1))
	done
}

# tool_versions: recorded in every manifest, so an archive says what made it.
tool_versions() {
	TOOL_BUSYBOX=$(busybox 2>/dev/null | head -n 1) || TOOL_BUSYBOX=
	TOOL_TAR=$(tar --version 2>/dev/null | head -n 1) || TOOL_TAR=
	TOOL_ZSTD=
	if command -v zstd >/dev/null 2>&1; then
		TOOL_ZSTD=$(zstd --version 2>/dev/null | head -n 1) || TOOL_ZSTD=
	fi
}

remove_temps() {
	for _rt_file in "${TMP_ARCHIVE:-}" "${TMP_SHA:-}" "${TMP_MANIFEST:-}"; do
		[ -z "$_rt_file" ] || rm -f -- "$_rt_file"
	done
	TMP_ARCHIVE=
	TMP_SHA=
	TMP_MANIFEST=
}

cleanup() {
	remove_temps
	# Containers stopped or paused for consistency come back even when the run
	# is interrupted.
	resume_all || true
}

# fail_volume VOLUME MESSAGE: one error line, temporary files gone.
fail_volume() {
	remove_temps
	err "volume $1: $2"
	return 1
}

write_manifest() { # VOLUME NAME SHA BYTES FILES ENTRIES SOURCE_BYTES
	cat <<EOF
{
  "schema": 1,
  "engine": "tar",
  "prefix": $(json_string "$BACKUP_PREFIX"),
  "stack": $(json_string "$BACKUP_PREFIX"),
  "volume": $(json_string "$1"),
  "archive": $(json_string "$2"),
  "timestamp": "$RUN_TS",
  "time": "$(ts_iso "$RUN_TS")",
  "compression": "$BACKUP_COMPRESSION",
  "sha256": "$3",
  "archiveBytes": $4,
  "sourceBytes": $7,
  "fileCount": $5,
  "entryCount": $6,
  "tools": {
    "busybox": $(json_string_or_null "$TOOL_BUSYBOX"),
    "tar": $(json_string_or_null "$TOOL_TAR"),
    "zstd": $(json_string_or_null "$TOOL_ZSTD")
  }
}
EOF
}

# archive_volume VOLUME SOURCE EXT: one pass over the volume writes
# TMP_ARCHIVE and checks exactly the bytes written: their sha256 and a full
# test read (decompress, list every entry) whose listing gives the manifest's
# counts ($PDS_WORK/stats), so the volume is never walked twice. Sets
# ARCHIVE_SHA. Runs in an if, like backup_volume.
#
# gzip, the slow single-threaded compressor, is checked while it writes, on
# the other core: tee hands the stream to sha256sum (through a FIFO) and to
# check_stream, and busybox tee's small copies hide behind gzip's pace. zstd
# (on every core) and an uncompressed tar are written at full speed first and
# then checked from the page cache: the hash, the test read and the flush to
# disk side by side. An uncompressed archive is listed by seeking from header
# to header; the hash reads every byte of it.
archive_volume() {
	pipe_begin
	check_begin
	_av_hash_pid=
	if [ "$3" != tar.gz ]; then
		write_archive "$2" "$3"
		if pipe_check; then
			sha256sum <"$TMP_ARCHIVE" >"$PDS_WORK/stream.sha256" 2>"$PDS_WORK/hash.stderr" &
			_av_hash_pid=$!
			# Starts the flush early; backup_volume's sync_file checks it.
			sync_file "$TMP_ARCHIVE" 2>/dev/null &
			_av_sync_pid=$!
			check_archive "$3" >"$PDS_WORK/stats"
			wait "$_av_sync_pid" || true
		fi
	else
		_av_fifo="$PDS_WORK/hash.fifo"
		rm -f -- "$_av_fifo"
		mkfifo -- "$_av_fifo" || fail_volume "$1" "cannot create a FIFO in $PDS_WORK" || return 1
		sha256sum <"$_av_fifo" >"$PDS_WORK/stream.sha256" 2>"$PDS_WORK/hash.stderr" &
		_av_hash_pid=$!
		stage tar tar -C "$2" -cf - . |
			stage compress compress_stream "$3" |
			stage write tee -- "$TMP_ARCHIVE" "$_av_fifo" |
			check_stream "$3" >"$PDS_WORK/stats"
	fi
	if ! pipe_check; then
		# The FIFO may never have been opened for writing: do not wait for the hash.
		if [ -n "$_av_hash_pid" ]; then
			kill "$_av_hash_pid" 2>/dev/null || true
			wait "$_av_hash_pid" 2>/dev/null || true
		fi
		_av_free=$(free_space "$BACKUP_TARGET_DIR") || _av_free=unknown
		fail_volume "$1" "archiving failed: $PIPE_ERROR (free space in $BACKUP_TARGET_DIR: $_av_free)"
		return 1
	fi
	wait "$_av_hash_pid" ||
		fail_volume "$1" "verify failed: cannot checksum the stream: $(head -n 1 "$PDS_WORK/hash.stderr")" || return 1
	check_check || fail_volume "$1" "verify failed: test read: $CHECK_ERROR" || return 1
	ARCHIVE_SHA=$(awk '{ print $1 }' "$PDS_WORK/stream.sha256")
	case "$ARCHIVE_SHA" in
	[0-9a-f][0-9a-f][0-9a-f][0-9a-f]*) ;;
	*) fail_volume "$1" "verify failed: no checksum of the stream" || return 1 ;;
	esac
}

# write_archive SOURCE EXT: tar SOURCE (compressed for EXT) into TMP_ARCHIVE.
# An uncompressed stream has no compress stage, so a failed write names only
# the stages that ran.
write_archive() {
	if [ "$2" = tar ]; then
		stage tar tar -C "$1" -cf - . | stage write write_file "$TMP_ARCHIVE"
	else
		stage tar tar -C "$1" -cf - . | stage compress compress_stream "$2" | stage write write_file "$TMP_ARCHIVE"
	fi
}

# check_archive EXT: the test read of the written TMP_ARCHIVE, the manifest's
# counts on stdout (see check_stream); an uncompressed archive is listed by
# seeking.
check_archive() {
	if [ "$1" = tar ]; then
		check_stage tar tar -tvf "$TMP_ARCHIVE" | check_stage count listing_stats
	else
		check_stream "$1" <"$TMP_ARCHIVE"
	fi
}

# write_file FILE: stdin to FILE; inside a stage, so that an error opening
# FILE is recorded like any other.
write_file() {
	cat >"$1"
}

# backup_volume VOLUME. Runs in an if, where set -e is off: every step checks
# its own status.
backup_volume() {
	_bv_vol=$1
	_bv_src="$BACKUP_SOURCES_DIR/$_bv_vol"
	_bv_name="$BACKUP_PREFIX-$_bv_vol-$RUN_TS.$EXT"
	_bv_final="$BACKUP_TARGET_DIR/$_bv_name"

	[ -d "$_bv_src" ] ||
		fail_volume "$_bv_vol" "source directory $_bv_src does not exist (is the volume mounted?)" || return 1
	if [ "$BACKUP_SKIP_EMPTY" = true ]; then
		_bv_entries=$(ls -A -- "$_bv_src") || fail_volume "$_bv_vol" "cannot list $_bv_src" || return 1
		if [ -z "$_bv_entries" ]; then
			log "volume $_bv_vol: $_bv_src is empty; skipped (BACKUP_SKIP_EMPTY=true)"
			printf 'skipped %s (empty)\n' "$_bv_vol"
			BV_SKIPPED=true
			return 0
		fi
	fi
	for _bv_ext in tar tar.gz tar.zst; do
		_bv_other="$BACKUP_PREFIX-$_bv_vol-$RUN_TS.$_bv_ext"
		if [ -e "$BACKUP_TARGET_DIR/$_bv_other" ]; then
			fail_volume "$_bv_vol" "$_bv_other already exists; not overwriting it (two runs in the same second?)"
			return 1
		fi
	done

	fits_on_target "$_bv_src" "$BACKUP_TARGET_DIR" || fail_volume "$_bv_vol" "$FIT_ERROR" || return 1

	TMP_ARCHIVE="$BACKUP_TARGET_DIR/.$_bv_name.partial-$$"
	TMP_SHA="$BACKUP_TARGET_DIR/.$_bv_name.sha256.partial-$$"
	TMP_MANIFEST="$BACKUP_TARGET_DIR/.$_bv_name.manifest.json.partial-$$"
	log "volume $_bv_vol: archiving $_bv_src to $_bv_name"

	archive_volume "$_bv_vol" "$_bv_src" "$EXT" || return 1
	sync_file "$TMP_ARCHIVE" || fail_volume "$_bv_vol" "sync of $TMP_ARCHIVE failed" || return 1
	_bv_sha=$ARCHIVE_SHA
	_bv_bytes=$(stat -c %s "$TMP_ARCHIVE") || fail_volume "$_bv_vol" "cannot stat $TMP_ARCHIVE" || return 1
	read -r _bv_files _bv_entries _bv_src_bytes <"$PDS_WORK/stats"

	printf '%s  %s\n' "$_bv_sha" "$_bv_name" >"$TMP_SHA" ||
		fail_volume "$_bv_vol" "cannot write $TMP_SHA" || return 1
	write_manifest "$_bv_vol" "$_bv_name" "$_bv_sha" "$_bv_bytes" \
		"${_bv_files:-0}" "${_bv_entries:-0}" "${_bv_src_bytes:-0}" >"$TMP_MANIFEST" ||
		fail_volume "$_bv_vol" "cannot write $TMP_MANIFEST" || return 1
	sync_file "$TMP_SHA" && sync_file "$TMP_MANIFEST" ||
		fail_volume "$_bv_vol" "sync of sidecar files failed" || return 1

	# Sidecars first, archive last: a crash in between leaves orphan sidecars
	# (removed by the next run), never an archive without its checksum.
	mv -f -- "$TMP_SHA" "$_bv_final.sha256" &&
		mv -f -- "$TMP_MANIFEST" "$_bv_final.manifest.json" &&
		mv -f -- "$TMP_ARCHIVE" "$_bv_final" ||
		fail_volume "$_bv_vol" "cannot rename the verified archive into place" || return 1
	TMP_ARCHIVE=
	TMP_SHA=
	TMP_MANIFEST=
	# Persist the renames.
	sync_file "$BACKUP_TARGET_DIR" || true

	log "volume $_bv_vol: wrote $_bv_name ($(human_size "$_bv_bytes"), $_bv_files files, $(human_size "$_bv_src_bytes") source), verified"
	printf 'created %s\n' "$_bv_name"
}

apply_retention() {
	RETENTION_FAILED=
	for _ar_vol in $SUCCEEDED; do
		prune_volume "$_ar_vol" "$BACKUP_PREFIX-$_ar_vol-$RUN_TS.$EXT" ||
			RETENTION_FAILED="$RETENTION_FAILED $_ar_vol"
	done
}

main() {
	pds_init
	load_config
	hooks_load_config
	disk_load_config
	FAILED=
	resolve_volumes
	mkdir -p -- "$BACKUP_TARGET_DIR" 2>/dev/null || true
	require_target_dir
	lock_target exclusive
	cleanup_stale
	choose_timestamp
	tool_versions

	backup_each_volume backup_volume
	apply_retention

	if [ -n "$FAILED" ]; then
		die "backup failed for volume(s):$FAILED"
	fi
	if [ -n "$RETENTION_FAILED" ]; then
		die "retention failed for volume(s):$RETENTION_FAILED"
	fi
	log "done: backed up${SUCCEEDED:- nothing} at $RUN_TS${SKIPPED:+ (skipped empty:$SKIPPED)}"
	report_usage
}

# Disk usage after every run, in the job's log. An exceeded threshold fails the
# run loudly (exit 5, one ALERT line each) although the archives are good.
report_usage() {
	# shellcheck disable=SC2086 # keys are names: no spaces
	usage_report $VOLUMES >"$PDS_WORK/usage" || true
	while IFS= read -r _ru_line; do
		log "usage: $_ru_line"
	done <"$PDS_WORK/usage"
	[ "$USAGE_ALERTS" -eq 0 ] || exit "$EX_USAGE_ALERT"
}

main "$@"
