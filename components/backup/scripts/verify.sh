#!/bin/sh
# verify.sh [ARCHIVE...]: check archives against their .sha256 and test-read
# them in full (decompress and list every entry).
#
# ARCHIVE is a file name or a path relative to BACKUP_TARGET_DIR (absolute
# paths are taken as they are). Without arguments every archive of
# BACKUP_PREFIX in the target is checked.
#
# Prints one line per archive on stdout:
#   OK <name>
#   CORRUPT <name>: <reason>     (also for a missing archive or checksum file)
#
# Environment:
#   BACKUP_PREFIX        required without arguments; archive name prefix
#   BACKUP_TARGET_DIR    default /backup; where archives are
#
# Exit codes: 0 all good (or nothing to check); 1 at least one archive is
# corrupt, missing or has no checksum; 2 configuration error.
#
# Read-only and lock-free: archives appear by rename and vanish whole, so a
# concurrent run can at worst make an archive disappear, which is reported.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

# check ARG PATH: print the verdict; return 1 if not good.
check() {
	if archive_verify "$2"; then
		printf 'OK %s\n' "$1"
	else
		printf 'CORRUPT %s: %s\n' "$1" "$VERIFY_REASON"
		return 1
	fi
}

main() {
	pds_init
	load_target_config
	require_cmd sha256sum
	require_cmd tar
	_m_total=0
	_m_bad=0
	if [ "$#" -gt 0 ]; then
		for _m_arg in "$@"; do
			case "$_m_arg" in
			/*) _m_path=$_m_arg ;;
			*) _m_path="$BACKUP_TARGET_DIR/$_m_arg" ;;
			esac
			_m_total=$((_m_total + 1))
			check "$_m_arg" "$_m_path" || _m_bad=$((_m_bad + 1))
		done
	else
		require_prefix
		require_target_dir
		_m_list=$(list_archives)
		if [ -z "$_m_list" ]; then
			log "no archives of prefix $BACKUP_PREFIX in $BACKUP_TARGET_DIR"
			exit "$EX_OK"
		fi
		while read -r _m_vol _m_ts _m_name; do
			_m_total=$((_m_total + 1))
			check "$_m_name" "$BACKUP_TARGET_DIR/$_m_name" || _m_bad=$((_m_bad + 1))
		done <<LIST
$_m_list
LIST
	fi
	if [ "$_m_bad" -gt 0 ]; then
		die "$_m_bad of $_m_total archive(s) failed verification"
	fi
	log "$_m_total archive(s) verified good"
}

main "$@"
