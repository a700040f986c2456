#!/bin/sh
# list.sh: list this prefix's archives, one per line, oldest first per volume:
#   <name> <TAB> <size in bytes> <TAB> <age, e.g. 45s 12m 3h 5d> <TAB> <status>
# status is "verified" when the .sha256 sidecar exists (backup.sh writes it
# only after verifying the archive), else "unverified". Use verify.sh for an
# actual check. The age comes from the timestamp in the name.
#
# Environment:
#   BACKUP_PREFIX        required; archive name prefix
#   BACKUP_TARGET_DIR    default /backup; where archives are
#   BACKUP_TIMESTAMP     optional; "now" as yyyymmddThhmmssZ (tests)
#
# Exit codes: 0 listed (possibly nothing); 2 configuration error.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

main() {
	pds_init
	require_prefix
	load_target_config
	require_target_dir
	_m_now=$(now_epoch)
	_m_list=$(list_archives)
	[ -n "$_m_list" ] || exit "$EX_OK"
	while read -r _m_vol _m_ts _m_name; do
		_m_path="$BACKUP_TARGET_DIR/$_m_name"
		_m_size=$(stat -c %s "$_m_path")
		_m_epoch=$(ts_epoch "$_m_ts" 2>/dev/null) && [ -n "$_m_epoch" ] || _m_epoch=$_m_now
		_m_age=$((_m_now - _m_epoch))
		[ "$_m_age" -ge 0 ] || _m_age=0
		_m_status=unverified
		[ ! -f "$_m_path.sha256" ] || _m_status=verified
		printf '%s\t%s\t%s\t%s\n' "$_m_name" "$_m_size" "$(human_age "$_m_age")" "$_m_status"
	done <<LIST
$_m_list
LIST
}

main "$@"
