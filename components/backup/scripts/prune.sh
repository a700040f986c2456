#!/bin/sh
# prune.sh: apply retention to this prefix's archives, per volume.
#
# Only files named exactly <prefix>-<volume>-<yyyymmddThhmmssZ>.tar[.gz|.zst]
# (and their .sha256 / .manifest.json sidecars) are ever deleted; a manifest
# naming another prefix marks the archive as not ours. Per volume, archives
# are ranked newest first by the timestamp in their name (the name, not the
# mtime, so copies keep their age) and an archive is kept if
#   - BACKUP_KEEP_LAST > 0 and it is among the newest BACKUP_KEEP_LAST, or
#   - BACKUP_KEEP_DAYS > 0 and it is younger than BACKUP_KEEP_DAYS days;
# with both set, EITHER rule keeping it is enough; with both 0 nothing is
# deleted. Whatever the rules say, the newest archive that verifies good
# (checksum + full test read) is never deleted. Deleting an archive deletes
# its sidecars. Prints "deleted <name>" for each archive deleted.
#
# Environment:
#   BACKUP_PREFIX        required; archive name prefix
#   BACKUP_TARGET_DIR    default /backup; where archives are
#   BACKUP_VOLUMES       space-separated volume keys to prune; default every
#                        volume that has archives of this prefix
#   BACKUP_KEEP_LAST     default 7; 0 = unlimited
#   BACKUP_KEEP_DAYS     default 0 = unlimited
#   BACKUP_LOCK_TIMEOUT  default 300; seconds to wait for the target lock
#   BACKUP_TIMESTAMP     optional; "now" as yyyymmddThhmmssZ (tests)
#
# Exit codes: 0 done; 1 a deletion failed; 2 configuration error; 3 lock timeout.
set -eu

# shellcheck source=lib.sh
. "$(dirname "$(readlink -f "$0")")/lib.sh"

main() {
	pds_init
	require_prefix
	load_target_config
	load_retention_config
	require_target_dir
	require_cmd sha256sum
	require_cmd tar
	# Exclusive, like backup.sh: pruning must not race a run that writes.
	lock_target exclusive
	cleanup_stale

	if [ -n "$(printf '%s' "${BACKUP_VOLUMES:-}" | tr -d ' \t\n')" ]; then
		set -f
		_m_volumes=
		for _m_vol in $BACKUP_VOLUMES; do
			is_name "$_m_vol" || die_config "BACKUP_VOLUMES: invalid volume key '$_m_vol'"
			_m_volumes="$_m_volumes $_m_vol"
		done
		set +f
	else
		_m_volumes=$(archive_volumes)
	fi

	_m_failed=
	for _m_vol in $_m_volumes; do
		prune_volume "$_m_vol" || _m_failed="$_m_failed $_m_vol"
	done
	[ -z "$_m_failed" ] || die "pruning failed for volume(s):$_m_failed"
}

main "$@"
