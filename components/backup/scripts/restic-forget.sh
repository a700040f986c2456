#!/bin/sh
# restic-forget.sh: apply the retention policy to this prefix's snapshots in a
# restic repository (restic engine), then prune the data no snapshot uses.
#
# One `restic forget --prune --group-by host,tags` with the non-zero keep
# flags and one filter per volume, --tag stack=<prefix>,volume=<key>: each
# volume's snapshots form their own group and get the whole policy; snapshots
# of other prefixes (or made by hand without these tags) are never touched.
# A snapshot is kept when ANY rule keeps it (restic's semantics); with every
# rule at 0 nothing is forgotten and restic is not run. stdout gets one line
#   forgot snapshot <short id> of <volume> (<time>)
# per snapshot removed. restic-backup.sh runs the same logic after a backup.
#
# Environment:
#   RESTIC_REPOSITORY     required; local path or sftp:/rest:/s3: location
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; never printed,
#                         never put in an argument or the environment
#   RESTIC_CACHE_DIR      default /tmp/restic-cache
#   BACKUP_PREFIX         required; whose snapshots (tag stack=<prefix>)
#   BACKUP_VOLUMES        space-separated volume keys; default: every volume
#                         of this prefix found in the repository
#   BACKUP_KEEP_LAST      default 7; newest N snapshots per volume (0 = off)
#   BACKUP_KEEP_DAILY     default 0; newest snapshot of each of the last N days
#   BACKUP_KEEP_WEEKLY    default 0; ... of each of the last N ISO weeks
#   BACKUP_KEEP_MONTHLY   default 0; ... of each of the last N months
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to retry while another restic
#                         process holds a conflicting repository lock
#
# Days, weeks and months are those of the snapshot times in the job's time
# zone (UTC in the job image).
#
# Exit codes: 0 policy applied (or skipped: all rules 0); 1 forget or prune
# failed, or the repository cannot be opened; 2 configuration error; 3 timed
# out waiting for the repository lock.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$PDS_DIR/lib.sh"
# shellcheck source=restic-lib.sh
. "$PDS_DIR/restic-lib.sh"

# volume_keys: BACKUP_VOLUMES, validated; empty means "every volume".
volume_keys() {
	KEYS=
	set -f
	for _vk_key in ${BACKUP_VOLUMES:-}; do
		is_name "$_vk_key" || die_config "volume key '$_vk_key' in BACKUP_VOLUMES is invalid: it must match $NAME_RULE"
		case " $KEYS " in
		*" $_vk_key "*) ;;
		*) KEYS="${KEYS:+$KEYS }$_vk_key" ;;
		esac
	done
	set +f
}

main() {
	pds_init
	require_prefix
	load_restic_config
	load_keep_policy
	volume_keys
	# shellcheck disable=SC2086 # volume keys are NAME_RULE words
	forget_snapshots $KEYS || exit "$EX_FAIL"
}

main "$@"
