#!/bin/sh
# restic-restore.sh: restore one volume from a restic snapshot (restic engine).
#
# Non-destructive by default: a target with any entry (dotfiles included) is
# refused, exit 4, unless RESTORE_FORCE=true. The snapshot is resolved before
# anything is written, so a missing snapshot, a wrong password or an
# unreachable repository leaves the target untouched.
#
# How the volume root gets exactly the backed-up tree: restic-backup.sh backs
# up the absolute path <sources dir>/<key>, so the snapshot holds the volume
# root as a directory node. The snapshot is restored into a fresh staging
# directory INSIDE the target (same filesystem), then:
#   - with force, the target's previous entries are removed (only now: a
#     restore that fails midway leaves the previous contents as they were,
#     at the price of room for both trees while it runs);
#   - the volume root's entries are moved (renamed) into the target;
#   - the target directory gets the root's numeric owner, mode and mtime;
#   - the staging directory is removed.
# restic restores numeric owners (as root), modes incl. setuid/setgid/sticky,
# symlinks, hard links, empty directories and mtimes.
#
# Environment:
#   RESTIC_REPOSITORY     required; local path or sftp:/rest:/s3: location
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; never printed,
#                         never put in an argument or the environment
#   RESTIC_CACHE_DIR      default /tmp/restic-cache
#   BACKUP_PREFIX         whose snapshots; required for RESTORE_FROM=latest
#   RESTORE_VOLUME        volume key; required for RESTORE_FROM=latest
#   RESTORE_FROM          "latest" (default): the newest snapshot tagged
#                         stack=<BACKUP_PREFIX> and volume=<RESTORE_VOLUME>;
#                         or a snapshot id (full or a unique prefix, >= 4 hex
#                         digits) of any snapshot in the repository, e.g. to
#                         seed staging from prod; a volume tag that differs
#                         from RESTORE_VOLUME is warned about
#   RESTORE_TARGET_DIR    default /restore; the volume, mounted read-write
#   RESTORE_FORCE         true | false (default); replace a non-empty target
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to retry while another restic
#                         process holds a conflicting (exclusive) lock
#
# stdout: restored snapshot <short id> of <volume> (<time>) into <dir>: ...
#
# Exit codes: 0 restored; 1 no such snapshot, repository cannot be opened
# (wrong password ...), or the restore failed; 2 configuration error; 3 timed
# out waiting for the repository lock; 4 refused: target not empty and
# RESTORE_FORCE is not true.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$PDS_DIR/lib.sh"
# shellcheck source=restic-lib.sh
. "$PDS_DIR/restic-lib.sh"

STAGE=

cleanup() {
	[ -z "$STAGE" ] || rm -rf -- "$STAGE"
}

load_config() {
	load_restore_config snapshot
	if [ "$RESTORE_FROM" != latest ]; then
		case "$RESTORE_FROM" in
		????*) ;;
		*) die_config "RESTORE_FROM must be 'latest' or a snapshot id (at least 4 hex digits), got '$RESTORE_FROM'" ;;
		esac
		case "$RESTORE_FROM" in
		*[!0-9a-f]*) die_config "RESTORE_FROM must be 'latest' or a snapshot id (hex digits), got '$RESTORE_FROM'" ;;
		esac
	fi
	WHAT="volume ${RESTORE_VOLUME:-at $RESTORE_TARGET_DIR}"
	[ -d "$RESTORE_TARGET_DIR" ] ||
		die_config "$WHAT: restore target $RESTORE_TARGET_DIR does not exist (mount the volume there)"
	load_restic_config
}

# find_snapshots FILTER...: the matching snapshots into $PDS_WORK/snaps.tsv
# (see snapshots_tsv), or die naming the reason: the target is untouched.
find_snapshots() {
	if ! restic_run snaps snapshots --json "$@"; then
		restic_relay snaps
		restic_failure snaps
		die "$WHAT: $RESTIC_FAILURE; target left untouched"
	fi
	snapshots_tsv snaps >"$PDS_WORK/snaps.tsv"
}

# resolve_snapshot: RESTORE_FROM -> SNAP_ID, SNAP_SHORT, SNAP_TIME, SNAP_VOLUME,
# SNAP_PATH. Reads the repository only.
resolve_snapshot() {
	if [ "$RESTORE_FROM" = latest ]; then
		find_snapshots --tag "stack=$BACKUP_PREFIX,volume=$RESTORE_VOLUME"
		_rs_line=$(tail -n 1 "$PDS_WORK/snaps.tsv")
		[ -n "$_rs_line" ] ||
			die "$WHAT: no snapshot of volume $RESTORE_VOLUME with prefix $BACKUP_PREFIX in repository $REPO_DISPLAY; target left untouched"
	else
		find_snapshots "$RESTORE_FROM"
		_rs_line=$(cat "$PDS_WORK/snaps.tsv")
		case "$_rs_line" in
		'') die "$WHAT: snapshot $RESTORE_FROM not found in repository $REPO_DISPLAY (or the id prefix is ambiguous); target left untouched" ;;
		*"
"*) die "$WHAT: snapshot id $RESTORE_FROM is ambiguous in repository $REPO_DISPLAY; give more digits" ;;
		esac
	fi
	_rs_tab=$(printf '\t')
	IFS=$_rs_tab read -r _rs_key _rs_epoch SNAP_ID SNAP_SHORT SNAP_TIME SNAP_VOLUME _rs_stack _rs_host SNAP_PATH <<EOF
$_rs_line
EOF
	case "$SNAP_PATH" in
	/*) ;;
	*) die "$WHAT: snapshot $SNAP_SHORT records no absolute path ('$SNAP_PATH'); it was not made by restic-backup.sh" ;;
	esac
	if [ -n "$RESTORE_VOLUME" ] && [ "$SNAP_VOLUME" != "$RESTORE_VOLUME" ]; then
		warn "$WHAT: snapshot $SNAP_SHORT is of volume '$SNAP_VOLUME' (prefix '$_rs_stack'), not '$RESTORE_VOLUME'; restoring it as asked"
	fi
}

# empty_target: remove every entry of the target except the staging dir.
empty_target() {
	log "$WHAT: removing the current contents of $RESTORE_TARGET_DIR (force)"
	find "$RESTORE_TARGET_DIR" -mindepth 1 -maxdepth 1 ! -name "${STAGE##*/}" -exec rm -rf -- {} + ||
		die "$WHAT: could not empty $RESTORE_TARGET_DIR; it may be partially emptied"
}

# restore_snapshot: restic restore into $STAGE, then the volume root's
# entries and metadata into the target.
restore_snapshot() {
	STAGE=$(mktemp -d "$RESTORE_TARGET_DIR/.pds-restic-restore.XXXXXX") ||
		die "$WHAT: cannot create a staging directory in $RESTORE_TARGET_DIR (is it writable?)"
	if ! restic_run restore restore "$SNAP_ID" --target "$STAGE"; then
		restic_relay restore
		restic_failure restore
		die "$WHAT: restoring snapshot $SNAP_SHORT failed; the target's previous contents are untouched: $RESTIC_FAILURE"
	fi
	restic_relay restore
	_rs_root="$STAGE$SNAP_PATH"
	if ! [ -d "$_rs_root" ] || [ -L "$_rs_root" ]; then
		die "$WHAT: snapshot $SNAP_SHORT has no directory $SNAP_PATH; target left untouched"
	fi
	if [ -e "$_rs_root/${STAGE##*/}" ] || [ -L "$_rs_root/${STAGE##*/}" ]; then
		die "$WHAT: the snapshot holds an entry named like the staging directory ${STAGE##*/}; run again"
	fi
	read -r _rs_uid _rs_gid _rs_mode _rs_mtime <<EOF
$(stat -c '%u %g %a %Y' "$_rs_root")
EOF

	dir_is_empty_but_stage || empty_target
	find "$_rs_root" -mindepth 1 -maxdepth 1 -exec mv -- {} "$RESTORE_TARGET_DIR/" \; ||
		die "$WHAT: moving the restored tree into $RESTORE_TARGET_DIR failed; the target is partially restored"
	rm -rf -- "$STAGE" || die "$WHAT: cannot remove the staging directory $STAGE"
	STAGE=
	# chown first: it clears setuid/setgid bits, chmod puts them back.
	if ! { chown "$_rs_uid:$_rs_gid" "$RESTORE_TARGET_DIR" &&
		chmod "$_rs_mode" "$RESTORE_TARGET_DIR" &&
		touch -d "@$_rs_mtime" "$RESTORE_TARGET_DIR"; }; then
		die "$WHAT: cannot give $RESTORE_TARGET_DIR the volume root's owner $_rs_uid:$_rs_gid, mode $_rs_mode and mtime"
	fi
}

# dir_is_empty_but_stage: the target holds nothing but the staging dir.
dir_is_empty_but_stage() {
	[ -z "$(find "$RESTORE_TARGET_DIR" -mindepth 1 -maxdepth 1 ! -name "${STAGE##*/}" | head -n 1)" ]
}

main() {
	pds_init
	load_config

	if ! dir_is_empty "$RESTORE_TARGET_DIR" && [ "$RESTORE_FORCE" != true ]; then
		err "$WHAT: restore target $RESTORE_TARGET_DIR is not empty; refusing to overwrite existing data (set force: true, i.e. RESTORE_FORCE=true, to replace it)"
		exit "$EX_REFUSED"
	fi

	resolve_snapshot
	log "$WHAT: restoring snapshot $SNAP_SHORT (volume $SNAP_VOLUME, $SNAP_TIME) from $REPO_DISPLAY"
	restore_snapshot
	sync_file "$RESTORE_TARGET_DIR" || true

	read -r _m_files _m_entries _m_bytes <<STATS
$(tree_stats "$RESTORE_TARGET_DIR")
STATS
	printf 'restored snapshot %s of %s (%s) into %s: %s files, %s entries, %s\n' \
		"$SNAP_SHORT" "$SNAP_VOLUME" "$SNAP_TIME" "$RESTORE_TARGET_DIR" "$_m_files" "$_m_entries" "$(human_size "$_m_bytes")"
}

main "$@"
