#!/bin/sh
# shellcheck disable=SC2034 # EX_USAGE_ALERT, FIT_ERROR, USAGE_JSON are read by the sourcing script
# disk.sh: disk-usage measurements and thresholds. Sourced by backup.sh and
# usage.sh (after lib.sh), never run.
#
# Environment:
#   BACKUP_USAGE_MAX_PERCENT  alert when a filesystem holding a volume or the
#                             target is fuller than this percent (unset: off)
#   BACKUP_USAGE_MAX_BYTES    alert when a volume holds more than this (unset: off)
#   BACKUP_REFUSE_IF_NO_FIT   true (default) | false: refuse to archive a volume
#                             bigger than the target's free space

EX_USAGE_ALERT=5 # a disk-usage threshold is exceeded

disk_load_config() {
	BACKUP_USAGE_MAX_PERCENT=${BACKUP_USAGE_MAX_PERCENT:-}
	BACKUP_USAGE_MAX_BYTES=${BACKUP_USAGE_MAX_BYTES:-}
	BACKUP_REFUSE_IF_NO_FIT=${BACKUP_REFUSE_IF_NO_FIT:-true}
	[ -z "$BACKUP_USAGE_MAX_PERCENT" ] || require_uint BACKUP_USAGE_MAX_PERCENT "$BACKUP_USAGE_MAX_PERCENT"
	[ -z "$BACKUP_USAGE_MAX_BYTES" ] || require_uint BACKUP_USAGE_MAX_BYTES "$BACKUP_USAGE_MAX_BYTES"
	case "$BACKUP_REFUSE_IF_NO_FIT" in
	true | false) ;;
	*) die_config "BACKUP_REFUSE_IF_NO_FIT must be true or false, got '$BACKUP_REFUSE_IF_NO_FIT'" ;;
	esac
}

# dir_bytes DIR: bytes the tree uses on disk (du), hard links counted once.
dir_bytes() {
	_db_kib=$(du -sk -- "$1" 2>/dev/null | awk '{ print $1 }')
	[ -n "$_db_kib" ] || return 1
	echo "$((_db_kib * 1024))"
}

# fs_stats DIR -> "<size bytes> <used bytes> <available bytes> <percent used>"
fs_stats() {
	df -Pk -- "$1" 2>/dev/null | awk 'NR == 2 { sub("%", "", $5); printf "%.0f %.0f %.0f %d\n", $2 * 1024, $3 * 1024, $4 * 1024, $5 }'
}

# prefix_bytes DIR PREFIX: bytes of this prefix's archives and sidecars in DIR.
prefix_bytes() {
	find "$1" -maxdepth 1 -type f -name "$2-*" -exec stat -c %s {} + 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}

# fits_on_target SOURCE_DIR TARGET_DIR: fails (FIT_ERROR says why) when the
# volume is bigger than the target's free space. The volume's size bounds an
# uncompressed archive; compressed archives are usually smaller.
fits_on_target() {
	[ "$BACKUP_REFUSE_IF_NO_FIT" = true ] || return 0
	_fot_need=$(dir_bytes "$1") || return 0
	_fot_free=$(fs_stats "$2" | awk '{ print $3 }')
	[ -n "$_fot_free" ] || return 0
	if [ "$_fot_need" -gt "$_fot_free" ]; then
		FIT_ERROR="needs up to $(human_size "$_fot_need") but the target has $(human_size "$_fot_free") free; refused instead of filling the disk (diskUsage.refuseIfNoFit)"
		return 1
	fi
}

# usage_report VOLUME...: one line per volume and one for the target on stdout,
# one "ALERT" line per exceeded threshold on stderr. Sets USAGE_ALERTS to their
# count and USAGE_JSON to the numbers as one JSON document.
usage_report() {
	USAGE_ALERTS=0
	_ur_json=
	for _ur_vol in "$@"; do
		_ur_dir="$BACKUP_SOURCES_DIR/$_ur_vol"
		[ -d "$_ur_dir" ] || continue
		_ur_bytes=$(dir_bytes "$_ur_dir") || _ur_bytes=0
		_ur_pct=$(fs_stats "$_ur_dir" | awk '{ print $4 }')
		_ur_pct=${_ur_pct:-0}
		printf 'volume %s: %s (filesystem %s%% full)\n' "$_ur_vol" "$(human_size "$_ur_bytes")" "$_ur_pct"
		_ur_json="$_ur_json${_ur_json:+,}$(json_string "$_ur_vol"):{\"bytes\":$_ur_bytes,\"filesystemPercent\":$_ur_pct}"
		if [ -n "$BACKUP_USAGE_MAX_BYTES" ] && [ "$_ur_bytes" -gt "$BACKUP_USAGE_MAX_BYTES" ]; then
			err "ALERT volume $_ur_vol holds $(human_size "$_ur_bytes"), over the limit of $(human_size "$BACKUP_USAGE_MAX_BYTES") (diskUsage.maxVolumeSize)"
			USAGE_ALERTS=$((USAGE_ALERTS + 1))
		fi
		if [ -n "$BACKUP_USAGE_MAX_PERCENT" ] && [ "$_ur_pct" -gt "$BACKUP_USAGE_MAX_PERCENT" ]; then
			err "ALERT the filesystem of volume $_ur_vol is $_ur_pct% full, over $BACKUP_USAGE_MAX_PERCENT% (diskUsage.maxPercent)"
			USAGE_ALERTS=$((USAGE_ALERTS + 1))
		fi
	done
	_ur_target=$(prefix_bytes "$BACKUP_TARGET_DIR" "$BACKUP_PREFIX")
	_ur_fs=$(fs_stats "$BACKUP_TARGET_DIR")
	_ur_size=$(echo "$_ur_fs" | awk '{ print $1 + 0 }')
	_ur_avail=$(echo "$_ur_fs" | awk '{ print $3 + 0 }')
	_ur_tpct=$(echo "$_ur_fs" | awk '{ print $4 + 0 }')
	printf 'target %s: %s of archives; filesystem %s%% full, %s free\n' "$BACKUP_TARGET_DIR" "$(human_size "${_ur_target:-0}")" \
		"$_ur_tpct" "$(human_size "$_ur_avail")"
	if [ -n "$BACKUP_USAGE_MAX_PERCENT" ] && [ "$_ur_tpct" -gt "$BACKUP_USAGE_MAX_PERCENT" ]; then
		err "ALERT the backup target filesystem is ${_ur_tpct}% full, over $BACKUP_USAGE_MAX_PERCENT% (diskUsage.maxPercent)"
		USAGE_ALERTS=$((USAGE_ALERTS + 1))
	fi
	USAGE_JSON="{\"volumes\":{$_ur_json},\"target\":{\"bytes\":${_ur_target:-0},\"filesystemBytes\":$_ur_size,\"availableBytes\":$_ur_avail,\"filesystemPercent\":$_ur_tpct},\"alerts\":$USAGE_ALERTS}"
}
