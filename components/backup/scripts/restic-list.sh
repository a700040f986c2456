#!/bin/sh
# restic-list.sh: list this prefix's snapshots in a restic repository (restic
# engine), one per line, per volume oldest first:
#   <short id> <TAB> <volume> <TAB> <time, UTC ISO 8601> <TAB> <age, e.g. 45s 12m 3h 5d> <TAB> <size>
# Only snapshots tagged stack=<BACKUP_PREFIX> are listed; one without a
# volume= tag shows "-" as its volume.
#
# Size: snapshots made by restic < 0.17 carry no size in `snapshots --json`, and
# `restic stats <id>` costs one repository open (key derivation, ~0.5 s) plus a
# walk of the snapshot's trees PER snapshot. So the size column is "-" unless
# BACKUP_LIST_SIZES=true, which runs `restic stats --mode restore-size` for
# each snapshot: the bytes a restore writes (the volume's size at backup
# time), not what the snapshot takes in the deduplicated repository.
#
# Environment:
#   RESTIC_REPOSITORY     required; local path or sftp:/rest:/s3: location
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; never printed,
#                         never put in an argument or the environment
#   RESTIC_CACHE_DIR      default /tmp/restic-cache
#   BACKUP_PREFIX         required; whose snapshots (tag stack=<prefix>)
#   BACKUP_VOLUMES        optional; list only these volume keys
#   BACKUP_LIST_SIZES     true | false (default); see "Size" above
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to retry while another restic
#                         process holds an exclusive repository lock
#   BACKUP_TIMESTAMP      optional; "now" as yyyymmddThhmmssZ (tests)
#
# Exit codes: 0 listed (possibly nothing); 1 the repository cannot be opened
# or read; 2 configuration error; 3 timed out waiting for the repository lock.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$PDS_DIR/lib.sh"
# shellcheck source=restic-lib.sh
. "$PDS_DIR/restic-lib.sh"

load_config() {
	require_prefix
	load_restic_config
	BACKUP_LIST_SIZES=${BACKUP_LIST_SIZES:-false}
	case "$BACKUP_LIST_SIZES" in
	true | false) ;;
	*) die_config "BACKUP_LIST_SIZES must be true or false, got '$BACKUP_LIST_SIZES'" ;;
	esac
	WANTED=
	set -f
	for _lc_key in ${BACKUP_VOLUMES:-}; do
		is_name "$_lc_key" || die_config "volume key '$_lc_key' in BACKUP_VOLUMES is invalid: it must match $NAME_RULE"
		WANTED="$WANTED $_lc_key"
	done
	set +f
}

# snapshot_size ID -> restore size in bytes, or "-" when stats fails.
snapshot_size() {
	if restic_run stats stats --json --mode restore-size "$1"; then
		json_flatten <"$PDS_WORK/stats.out" >"$PDS_WORK/stats.flat"
		_ss_size=$(json_get "$PDS_WORK/stats.flat" total_size)
		printf '%s\n' "${_ss_size:--}"
	else
		restic_relay stats
		warn "no size for snapshot $1 (restic stats failed)"
		echo -
	fi
}

main() {
	pds_init
	load_config
	list_snapshots snaps --tag "stack=$BACKUP_PREFIX"
	_m_now=$(now_epoch)
	_m_tab=$(printf '\t')
	# Per volume, oldest first: the tsv is sorted by time; a stable sort on
	# the volume column keeps that order within each volume.
	awk -F '\t' '{ print $6 "\t" $0 }' "$PDS_WORK/snaps.tsv" | sort -s -t "$_m_tab" -k 1,1 | cut -f 2- >"$PDS_WORK/list.tsv"
	while IFS=$_m_tab read -r _m_key _m_epoch _m_id _m_short _m_time _m_vol _m_stack _m_host _m_path; do
		if [ -n "$WANTED" ]; then
			case "$WANTED " in
			*" $_m_vol "*) ;;
			*) continue ;;
			esac
		fi
		_m_age=$((_m_now - _m_epoch))
		[ "$_m_age" -ge 0 ] || _m_age=0
		_m_size=-
		[ "$BACKUP_LIST_SIZES" != true ] || _m_size=$(snapshot_size "$_m_id")
		printf '%s\t%s\t%s\t%s\t%s\n' "$_m_short" "$_m_vol" "$_m_time" "$(human_age "$_m_age")" "$_m_size"
	done <"$PDS_WORK/list.tsv"
}

main "$@"
