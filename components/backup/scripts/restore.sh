#!/bin/sh
# restore.sh: restore one volume from a verified archive.
#
# Non-destructive by default: a target with any entry (dotfiles included) is
# refused unless RESTORE_FORCE=true. The archive is extracted, with numeric
# owners, modes, links and times, into a hidden staging directory inside the
# target (.pds-restore.partial-<pid>) while its checksum is computed on another
# core: the extraction is the full test read. Only when the checksum matches and
# the extraction succeeded are the target's current contents removed (with
# force; the directory itself stays: it is the volume's mount point) and the
# staged entries renamed into place, so a missing or corrupt archive, or a
# failing extraction, leaves the target as it was.
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

# stage_archive NAME: checksum and extract $BACKUP_TARGET_DIR/NAME into STAGING
# in one pass (the hash reads the file on another core). Returns 1 with
# VERIFY_REASON when the archive is not good (STAGING removed); dies when a
# good archive cannot be extracted.
stage_archive() {
	_sa_path="$BACKUP_TARGET_DIR/$1"
	archive_precheck "$_sa_path" || return 1
	remove_staging
	mkdir -m 700 -- "$STAGING" || die "$WHAT: cannot create $STAGING; target left untouched"
	sha256_of "$_sa_path" >"$PDS_WORK/restore.sha256" 2>/dev/null &
	_sa_pid=$!
	_sa_extract=ok
	if can_decompress; then
		pipe_begin
		stage decompress decompress_file "$AV_EXT" "$_sa_path" |
			stage tar tar -C "$STAGING" -xf - --numeric-owner
		pipe_check || _sa_extract=failed
	fi
	wait "$_sa_pid" || true
	if ! checksum_matches "$(cat "$PDS_WORK/restore.sha256")" || ! can_decompress; then
		remove_staging
		return 1
	fi
	if [ "$_sa_extract" != ok ]; then
		remove_staging
		die "$WHAT: extracting $1 failed: $PIPE_ERROR; target left untouched"
	fi
}

remove_staging() {
	[ ! -e "$STAGING" ] || rm -rf -- "$STAGING" || die "$WHAT: cannot remove $STAGING"
}

# pick_latest: newest archive of the volume that verifies good, staged -> ARCHIVE.
pick_latest() {
	_pl_list=$(list_archives "$RESTORE_VOLUME" | sort -r)
	[ -n "$_pl_list" ] ||
		die "$WHAT: no archive named $BACKUP_PREFIX-$RESTORE_VOLUME-* in $BACKUP_TARGET_DIR; target left untouched"
	_pl_bad=0
	while read -r _pl_vol _pl_ts _pl_name; do
		if stage_archive "$_pl_name"; then
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

# empty_target: remove every entry inside the mount point but the staging
# directory, not the mount point.
empty_target() {
	log "$WHAT: removing the current contents of $RESTORE_TARGET_DIR (force)"
	find "$RESTORE_TARGET_DIR" -mindepth 1 -maxdepth 1 ! -path "$STAGING" -exec rm -rf -- {} + ||
		die "$WHAT: could not empty $RESTORE_TARGET_DIR; it may be partially emptied"
}

# move_into_place: the staged tree becomes the target's contents; the staging
# directory (the archive's root entry) hands its owner and mode to the mount point.
move_into_place() {
	find "$STAGING" -mindepth 1 -maxdepth 1 -exec mv -f -- {} "$RESTORE_TARGET_DIR/" \; ||
		die "$WHAT: moving the extracted tree into $RESTORE_TARGET_DIR failed; the target may be partially restored"
	if ! chown "$(stat -c %u:%g "$STAGING")" "$RESTORE_TARGET_DIR" ||
		! chmod "$(stat -c %a "$STAGING")" "$RESTORE_TARGET_DIR"; then
		warn "$WHAT: could not give $RESTORE_TARGET_DIR the archive's owner and mode"
	fi
	rmdir -- "$STAGING" || die "$WHAT: cannot remove $STAGING"
}

# cleanup_staging_leftovers: staging directories of killed restores.
cleanup_staging_leftovers() {
	for _csl_dir in "$RESTORE_TARGET_DIR"/.pds-restore.partial-*; do
		[ -d "$_csl_dir" ] || continue
		log "$WHAT: removing ${_csl_dir##*/} (left by an interrupted restore)"
		rm -rf -- "$_csl_dir"
	done
}

cleanup() {
	[ -z "${STAGING:-}" ] || rm -rf -- "$STAGING"
}

main() {
	pds_init
	load_config
	lock_target shared
	STAGING="$RESTORE_TARGET_DIR/.pds-restore.partial-$$"
	cleanup_staging_leftovers

	if ! dir_is_empty "$RESTORE_TARGET_DIR" && [ "$RESTORE_FORCE" != true ]; then
		err "$WHAT: restore target $RESTORE_TARGET_DIR is not empty; refusing to overwrite existing data (set force: true, i.e. RESTORE_FORCE=true, to replace it)"
		exit "$EX_REFUSED"
	fi

	if [ "$RESTORE_FROM" = latest ]; then
		pick_latest
	else
		ARCHIVE=$RESTORE_FROM
		stage_archive "$ARCHIVE" ||
			die "$WHAT: archive $ARCHIVE cannot be restored: $VERIFY_REASON; target left untouched"
	fi
	log "$WHAT: restoring from $ARCHIVE (verified)"

	empty_target_if_needed
	move_into_place
	STAGING=
	sync_file "$RESTORE_TARGET_DIR" || true

	read -r _m_files _m_entries _m_bytes <<STATS
$(tree_stats "$RESTORE_TARGET_DIR")
STATS
	printf 'restored %s into %s: %s files, %s entries, %s\n' \
		"$ARCHIVE" "$RESTORE_TARGET_DIR" "$_m_files" "$_m_entries" "$(human_size "$_m_bytes")"
}

# empty_target_if_needed: anything but the staging directory goes (force was
# checked before anything was staged).
empty_target_if_needed() {
	_etn_other=$(find "$RESTORE_TARGET_DIR" -mindepth 1 -maxdepth 1 ! -path "$STAGING" | head -n 1)
	[ -z "$_etn_other" ] || empty_target
}

main "$@"
