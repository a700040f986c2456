#!/bin/sh
# restic-backup.sh: back up Docker volumes into a restic repository (restic
# engine), then apply the retention policy (forget + prune).
#
# Every volume is mounted read-only at $BACKUP_SOURCES_DIR/<key>. Per run:
#  1. The repository is opened, or initialized when there is none:
#     `restic cat config` succeeds -> already initialized; it fails with "no
#     repository there" -> `restic init`; it fails any other way (a wrong
#     password above all) -> exit 1 with the reason, nothing written.
#  2. Per volume, one snapshot:
#       restic backup --host <prefix> --tag stack=<prefix> --tag volume=<key> \
#           $BACKUP_SOURCES_DIR/<key>
#     The ABSOLUTE path is backed up (not `cd <dir> && restic backup .`): the
#     snapshot then holds the volume root as a directory node of its own, so
#     its owner, mode and mtime are kept, and restic-restore.sh can give the
#     restored volume root exactly these (a "." backup puts the contents at
#     the snapshot root and loses the root's metadata). Owners are numeric,
#     and modes, symlinks, hard links and empty directories are kept. With the
#     same host and path, restic picks the volume's previous snapshot as the
#     parent, so unchanged files are not even read again.
#     A failing volume does not stop the others; stdout gets
#       initialized repository <location>     (first run only)
#       created snapshot <short id> of <volume>
#       skipped <volume> (empty)
#       forgot snapshot <short id> of <volume> (<time>)   (retention)
#  3. Retention (see restic-forget.sh) for the volumes backed up in this run;
#     a failed volume keeps its whole history. Skipped in the run that
#     initialized the repository (one snapshot per volume: nothing to forget).
#
# Environment:
#   RESTIC_REPOSITORY     required; local path (/backup/restic) or
#                         sftp:user@host:/path, rest:..., s3:...
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; never printed,
#                         never put in an argument or the environment
#   RESTIC_CACHE_DIR      default /tmp/restic-cache
#   BACKUP_PREFIX         required; the stack prefix: snapshot host and tag
#                         stack=<prefix>; must match ^[a-zA-Z0-9][a-zA-Z0-9_.-]*$
#   BACKUP_SOURCES_DIR    default /sources; volume <key> is mounted at <dir>/<key>
#   BACKUP_VOLUMES        space-separated volume keys; default: every directory
#                         in BACKUP_SOURCES_DIR
#   BACKUP_SKIP_EMPTY     true | false (default); true skips a volume with no
#                         entries at all (no snapshot, no retention)
#   BACKUP_KEEP_LAST      default 7; newest N snapshots per volume (0 = off)
#   BACKUP_KEEP_DAILY     default 0; newest snapshot of each of the last N days
#   BACKUP_KEEP_WEEKLY    default 0; ... of each of the last N ISO weeks
#   BACKUP_KEEP_MONTHLY   default 0; ... of each of the last N months
#                         (all four 0: forget is skipped, everything is kept)
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to retry while another restic
#                         process holds a conflicting repository lock
#   BACKUP_TIMESTAMP      optional, yyyymmddThhmmssZ: the snapshots' time
#                         (restic backup --time, read as UTC; tests)
#
# Exit codes: 0 every volume backed up and retention applied; 1 a volume or
# retention failed (named on stderr), or the repository cannot be opened
# (e.g. the password does not open it); 2 configuration error; 3 timed out
# waiting for a repository lock.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$PDS_DIR/lib.sh"
# shellcheck source=restic-lib.sh
. "$PDS_DIR/restic-lib.sh"
# shellcheck source=hooks.sh
. "$PDS_DIR/hooks.sh"

# Containers stopped or paused for consistency come back even when the run is
# interrupted.
cleanup() {
	resume_all || true
}

load_config() {
	require_prefix
	load_restic_config
	load_keep_policy
	BACKUP_SOURCES_DIR=${BACKUP_SOURCES_DIR:-/sources}
	BACKUP_SKIP_EMPTY=${BACKUP_SKIP_EMPTY:-false}
	case "$BACKUP_SKIP_EMPTY" in
	true | false) ;;
	*) die_config "BACKUP_SKIP_EMPTY must be true or false, got '$BACKUP_SKIP_EMPTY'" ;;
	esac
	SNAPSHOT_TIME=
	if [ -n "${BACKUP_TIMESTAMP:-}" ]; then
		SNAPSHOT_TIME=$(ts_iso "$BACKUP_TIMESTAMP" | sed 's/T/ /; s/Z$//')
		# restic reads --time in the local time zone.
		TZ=UTC
		export TZ
	fi
}

# ensure_repository: open the repository, or initialize it when there is none.
# A password that does not open an existing repository is an error, never a
# reason to init: nothing is written then.
ensure_repository() {
	if restic_run config cat config; then
		log "repository $REPO_DISPLAY: opened"
		return 0
	fi
	restic_no_repo config || restic_die config "cannot open the repository"
	log "repository $REPO_DISPLAY: no repository there yet; initializing it"
	if restic_run init init; then
		REPO_CREATED=true
		_er_id=$(sed -n 's/^created restic repository \([0-9a-f]*\) .*$/\1/p' "$PDS_WORK/init.out")
		log "repository $REPO_DISPLAY: initialized${_er_id:+ (id $_er_id)}"
		printf 'initialized repository %s\n' "$REPO_DISPLAY"
		return 0
	fi
	# Another job may have initialized it in the meantime.
	if grep -q 'already exists' "$PDS_WORK/init.err" && restic_run config cat config; then
		log "repository $REPO_DISPLAY: initialized by another run meanwhile; opened"
		return 0
	fi
	restic_die init "cannot initialize the repository"
}

# backup_volume KEY. Runs in an if, where set -e is off: every step checks its
# own status. Sets BV_SKIPPED=true when the volume was skipped.
backup_volume() {
	_bv_vol=$1
	_bv_src="$BACKUP_SOURCES_DIR/$_bv_vol"
	if ! [ -d "$_bv_src" ]; then
		err "volume $_bv_vol: source directory $_bv_src does not exist (is the volume mounted?)"
		return 1
	fi
	if ! _bv_entries=$(ls -A -- "$_bv_src"); then
		err "volume $_bv_vol: cannot list $_bv_src"
		return 1
	fi
	if [ "$BACKUP_SKIP_EMPTY" = true ] && [ -z "$_bv_entries" ]; then
		log "volume $_bv_vol: $_bv_src is empty; skipped (BACKUP_SKIP_EMPTY=true)"
		printf 'skipped %s (empty)\n' "$_bv_vol"
		BV_SKIPPED=true
		return 0
	fi

	log "volume $_bv_vol: backing up $_bv_src"
	# --no-scan: no second walk of the volume to estimate progress, which a
	# --quiet --json run never shows (the summary comes from the backup itself).
	set -- backup --json --quiet --no-scan --host "$BACKUP_PREFIX" \
		--tag "stack=$BACKUP_PREFIX" --tag "volume=$_bv_vol"
	[ -z "$SNAPSHOT_TIME" ] || set -- "$@" --time "$SNAPSHOT_TIME"
	_bv_rc=0
	restic_run backup "$@" "$_bv_src" || _bv_rc=$?
	restic_relay backup

	# The summary is the one JSON line with "message_type":"summary".
	grep '"message_type":"summary"' "$PDS_WORK/backup.out" | json_flatten >"$PDS_WORK/summary" || true
	_bv_id=$(json_get "$PDS_WORK/summary" snapshot_id)
	case "$_bv_rc" in
	0) ;;
	3)
		err "volume $_bv_vol: some files could not be read; snapshot ${_bv_id:-?} is incomplete (see the restic lines above)"
		return 1
		;;
	*)
		restic_failure backup
		err "volume $_bv_vol: backup failed: $RESTIC_FAILURE"
		return 1
		;;
	esac
	if [ -z "$_bv_id" ]; then
		err "volume $_bv_vol: restic reported success but no snapshot id"
		return 1
	fi
	_bv_files=$(json_get "$PDS_WORK/summary" total_files_processed)
	_bv_bytes=$(json_get "$PDS_WORK/summary" total_bytes_processed)
	_bv_added=$(json_get "$PDS_WORK/summary" data_added)
	_bv_secs=$(json_get "$PDS_WORK/summary" total_duration)
	log "volume $_bv_vol: snapshot $_bv_id: ${_bv_files:-?} files, $(human_size "${_bv_bytes:-0}"), $(human_size "${_bv_added:-0}") added to the repository, in $(printf '%.1f' "${_bv_secs:-0}")s"
	# restic >= 0.17 reports the full id; the output line keeps the short one.
	printf 'created snapshot %.8s of %s\n' "$_bv_id" "$_bv_vol"
}

main() {
	pds_init
	FAILED=
	REPO_CREATED=false
	load_config
	hooks_load_config
	resolve_volumes
	ensure_repository

	backup_each_volume backup_volume

	RETENTION_FAILED=false
	if [ -n "$SUCCEEDED" ] && [ "$REPO_CREATED" = true ]; then
		# A repository this run created holds one snapshot per volume: whatever
		# the policy (any keep rule >= 1 keeps each volume's newest; all 0 forget
		# nothing), forget would remove nothing, and costs a repository open.
		log "retention: skipped (the repository is new: one snapshot per volume)"
	elif [ -n "$SUCCEEDED" ]; then
		# shellcheck disable=SC2086 # volume keys are NAME_RULE words
		forget_snapshots $SUCCEEDED || RETENTION_FAILED=true
	fi

	if [ -n "$FAILED" ]; then
		die "backup failed for volume(s):$FAILED"
	fi
	if [ "$RETENTION_FAILED" = true ]; then
		die "retention (forget/prune) failed for volume(s):$SUCCEEDED"
	fi
	log "done: backed up${SUCCEEDED:- nothing}${SKIPPED:+ (skipped empty:$SKIPPED)} to $REPO_DISPLAY"
}

main "$@"
