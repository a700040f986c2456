#!/bin/sh
# restore.sh: restore one volume from a verified archive.
#
# Non-destructive by default: a target with any entry (dotfiles included) is
# refused unless RESTORE_FORCE=true. The archive is verified (checksum + full
# test read) BEFORE the target is touched, so a missing or corrupt archive
# leaves the target as it was. With force, the target's contents are removed
# (the directory itself stays: it is the volume's mount point), then the
# archive is extracted with numeric owners, modes, links and times.
#
# Environment:
#   RESTORE_VOLUME       volume key; required for RESTORE_FROM=latest
#   RESTORE_FROM         "latest" (default): the newest archive of
#                        <BACKUP_PREFIX>-<RESTORE_VOLUME>-* that verifies good
#                        (corrupt ones are reported and skipped); or an archive
#                        file name in BACKUP_TARGET_DIR (any prefix or volume,
#                        e.g. to seed staging from prod)
#   RESTORE_TARGET_DIR   default /restore; the volume, mounted read-write
#   RESTORE_FORCE        true | false (default); replace a non-empty target
#   BACKUP_PREFIX        required for RESTORE_FROM=latest; archive name prefix
#   BACKUP_TARGET_DIR    default /backup; where archives are (may be read-only)
#   BACKUP_LOCK_TIMEOUT  default 300; seconds to wait while a backup or prune
#                        holds the target lock (restore shares it with readers)
#
# Exit codes: 0 restored; 1 no good archive, archive missing or corrupt, or
# extraction failed; 2 configuration error; 3 lock timeout; 4 refused:
# target not empty and RESTORE_FORCE is not true.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

load_config() {
	load_target_config
	load_restore_config archive
	if [ "$RESTORE_FROM" != latest ]; then
		case "$RESTORE_FROM" in
		*/* | .*) die_config "RESTORE_FROM must be 'latest' or an archive file name in $BACKUP_TARGET_DIR, got '$RESTORE_FROM'" ;;
		esac
		archive_ext "$RESTORE_FROM" >/dev/null ||
			die_config "RESTORE_FROM '$RESTORE_FROM' is not an archive name (.tar, .tar.gz or .tar.zst)"
	fi
	# Names the volume in messages even when only a file name was given.
	WHAT="volume ${RESTORE_VOLUME:-at $RESTORE_TARGET_DIR}"
	require_target_dir
	[ -d "$RESTORE_TARGET_DIR" ] ||
		die_config "$WHAT: restore target $RESTORE_TARGET_DIR does not exist (mount the volume there)"
	require_cmd tar
	require_cmd sha256sum
}

# pick_latest: newest archive of the volume that verifies good -> ARCHIVE.
pick_latest() {
	_pl_list=$(list_archives "$RESTORE_VOLUME" | sort -r)
	[ -n "$_pl_list" ] ||
		die "$WHAT: no archive named $BACKUP_PREFIX-$RESTORE_VOLUME-* in $BACKUP_TARGET_DIR; target left untouched"
	_pl_bad=0
	while read -r _pl_vol _pl_ts _pl_name; do
		if archive_verify "$BACKUP_TARGET_DIR/$_pl_name"; then
			ARCHIVE=$_pl_name
			return 0
		fi
		warn "$WHAT: skipping corrupt archive $_pl_name: $VERIFY_REASON"
		_pl_bad=$((_pl_bad + 1))
	done <<LIST
$_pl_list
LIST
	die "$WHAT: none of the $_pl_bad archive(s) of $BACKUP_PREFIX-$RESTORE_VOLUME verifies good; target left untouched"
}

# empty_target: remove every entry inside the mount point, not the mount point.
empty_target() {
	log "$WHAT: removing the current contents of $RESTORE_TARGET_DIR (force)"
	find "$RESTORE_TARGET_DIR" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + ||
		die "$WHAT: could not empty $RESTORE_TARGET_DIR; it may be partially emptied"
	dir_is_empty "$RESTORE_TARGET_DIR" ||
		die "$WHAT: $RESTORE_TARGET_DIR is still not empty after removing its contents"
}

extract() {
	pipe_begin
	stage decompress decompress_file "$1" "$BACKUP_TARGET_DIR/$ARCHIVE" |
		stage tar tar -C "$RESTORE_TARGET_DIR" -xf - --numeric-owner
	pipe_check ||
		die "$WHAT: extracting $ARCHIVE failed, the target may be partially restored: $PIPE_ERROR"
}

main() {
	pds_init
	load_config
	lock_target shared

	if ! dir_is_empty "$RESTORE_TARGET_DIR" && [ "$RESTORE_FORCE" != true ]; then
		err "$WHAT: restore target $RESTORE_TARGET_DIR is not empty; refusing to overwrite existing data (set force: true, i.e. RESTORE_FORCE=true, to replace it)"
		exit "$EX_REFUSED"
	fi

	if [ "$RESTORE_FROM" = latest ]; then
		pick_latest
	else
		ARCHIVE=$RESTORE_FROM
		archive_verify "$BACKUP_TARGET_DIR/$ARCHIVE" ||
			die "$WHAT: archive $ARCHIVE cannot be restored: $VERIFY_REASON; target left untouched"
	fi
	_m_ext=$(archive_ext "$ARCHIVE")
	log "$WHAT: restoring from $ARCHIVE (verified)"

	dir_is_empty "$RESTORE_TARGET_DIR" || empty_target
	extract "$_m_ext"
	sync_file "$RESTORE_TARGET_DIR" || true

	read -r _m_files _m_entries _m_bytes <<STATS
$(tree_stats "$RESTORE_TARGET_DIR")
STATS
	printf 'restored %s into %s: %s files, %s entries, %s\n' \
		"$ARCHIVE" "$RESTORE_TARGET_DIR" "$_m_files" "$_m_entries" "$(human_size "$_m_bytes")"
}

main "$@"
