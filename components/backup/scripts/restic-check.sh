#!/bin/sh
# restic-check.sh: verify a restic repository (restic engine).
#
# Runs `restic check`: the structure (index, packs, snapshots, trees) always,
# plus a random subset of the data packs read back and hash-checked, sized by
# BACKUP_CHECK_SUBSET (restic's --read-data-subset). The check covers the
# whole repository, whichever prefixes share it, and takes an exclusive lock.
# stdout gets exactly one verdict line:
#   OK <repository>: no errors (structure, and <subset> of the data read)
#   CORRUPT <repository>: <first error restic reported>
# When the repository cannot be opened at all (no repository, wrong password,
# unreachable) there is no verdict: the reason goes to stderr, exit 1.
#
# Environment:
#   RESTIC_REPOSITORY     required; local path or sftp:/rest:/s3: location
#   RESTIC_PASSWORD_FILE  default /run/pds/restic-password; never printed,
#                         never put in an argument or the environment
#   RESTIC_CACHE_DIR      default /tmp/restic-cache (check itself uses a
#                         fresh temporary cache below it, so a damaged
#                         repository is read, not a cached copy)
#   BACKUP_CHECK_SUBSET   default 5%; a percentage (5%, 2.5%, 100%), a share
#                         n/t (1/7: the first of seven slices), or a size
#                         (500M, 2G); 0 = structure only, no data read
#   BACKUP_LOCK_TIMEOUT   default 300; seconds to retry while another restic
#                         process holds a conflicting repository lock
#
# Exit codes: 0 OK; 1 CORRUPT, or the repository cannot be opened; 2
# configuration error; 3 timed out waiting for the repository lock.
set -eu

PDS_DIR=$(dirname "$(readlink -f "$0")")
# shellcheck source=lib.sh
. "$PDS_DIR/lib.sh"
# shellcheck source=restic-lib.sh
. "$PDS_DIR/restic-lib.sh"

load_config() {
	load_restic_config
	BACKUP_CHECK_SUBSET=${BACKUP_CHECK_SUBSET:-5%}
	case "$BACKUP_CHECK_SUBSET" in
	0 | 0% | 0.0%) BACKUP_CHECK_SUBSET=0 ;;
	*%)
		printf '%s\n' "${BACKUP_CHECK_SUBSET%\%}" | grep -Eq '^[0-9]+(\.[0-9]+)?$' ||
			die_config "BACKUP_CHECK_SUBSET '$BACKUP_CHECK_SUBSET' is not a percentage such as 5% or 2.5%"
		awk -v p="${BACKUP_CHECK_SUBSET%\%}" 'BEGIN { exit !(p > 0 && p <= 100) }' ||
			die_config "BACKUP_CHECK_SUBSET '$BACKUP_CHECK_SUBSET' must be above 0% and at most 100%"
		;;
	*/*)
		_lc_n=${BACKUP_CHECK_SUBSET%/*}
		_lc_t=${BACKUP_CHECK_SUBSET#*/}
		require_uint "BACKUP_CHECK_SUBSET (n of n/t)" "$_lc_n"
		require_uint "BACKUP_CHECK_SUBSET (t of n/t)" "$_lc_t"
		if [ "$_lc_n" -lt 1 ] || [ "$_lc_n" -gt "$_lc_t" ]; then
			die_config "BACKUP_CHECK_SUBSET '$BACKUP_CHECK_SUBSET': n/t needs 1 <= n <= t"
		fi
		;;
	*[KMGTkmgt])
		require_uint "BACKUP_CHECK_SUBSET (size)" "${BACKUP_CHECK_SUBSET%?}"
		[ "${BACKUP_CHECK_SUBSET%?}" -gt 0 ] ||
			die_config "BACKUP_CHECK_SUBSET '$BACKUP_CHECK_SUBSET': the size must be above 0"
		;;
	*) die_config "BACKUP_CHECK_SUBSET '$BACKUP_CHECK_SUBSET' is invalid: use 0, a percentage (5%), n/t (1/7) or a size (500M)" ;;
	esac
}

# is_damage: restic's output reports damage in the repository (as opposed to
# failing to open or lock it).
is_damage() {
	grep -Eq 'repository contains errors|ciphertext verification failed|Pack ID does not match|does not match|is damaged|not found in index|is not referenced|unexpected EOF|invalid data returned|error for tree|check failed' \
		"$PDS_WORK/check.err" "$PDS_WORK/check.out"
}

main() {
	pds_init
	load_config
	if [ "$BACKUP_CHECK_SUBSET" = 0 ]; then
		_m_what="structure only, no data read"
		set -- check
	else
		_m_what="structure, and $BACKUP_CHECK_SUBSET of the data read"
		set -- check --read-data-subset "$BACKUP_CHECK_SUBSET"
	fi
	log "checking repository $REPO_DISPLAY ($_m_what)"
	_m_rc=0
	restic_run check "$@" || _m_rc=$?
	if [ "$_m_rc" -eq 0 ]; then
		grep -q 'no errors were found' "$PDS_WORK/check.out" "$PDS_WORK/check.err" ||
			warn "restic check exited 0 without saying 'no errors were found'"
		printf 'OK %s: no errors (%s)\n' "$REPO_DISPLAY" "$_m_what"
		return 0
	fi
	restic_relay check
	if is_damage; then
		_m_first=$(sed -e '/^\[[0-9:]*\] /d' -e '/^[[:space:]]*$/d' -e '/^Fatal: repository contains errors/d' \
			"$PDS_WORK/check.err" | head -n 1 | sed 's/^[[:space:]]*//')
		printf 'CORRUPT %s: %s\n' "$REPO_DISPLAY" "${_m_first:-restic check reported errors}"
		err "repository $REPO_DISPLAY is damaged (restic check exited $_m_rc); see the restic lines above. Restores of the affected snapshots may fail; take a fresh backup, then repair (restic rebuild-index, restic prune) or replace the repository"
		exit "$EX_FAIL"
	fi
	restic_failure check
	die "cannot check: $RESTIC_FAILURE"
}

main "$@"
