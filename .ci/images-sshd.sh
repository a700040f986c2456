#!/usr/bin/env bash
# Build ${TEST_IMAGE_PREFIX}/sshd:latest with `docker import` (called by
# .ci/images.sh; can also be run on its own): an SFTP server for the restic
# engine's sftp: repository tests, reachable only on the Docker networks the
# tests create.
#
# Root: busybox-static + applet symlinks, /usr/sbin/sshd from Debian's
# openssh-server package (fetched with `apt-get download` and unpacked, so the
# host gets no sshd service), /usr/bin/ssh-keygen from the host's
# openssh-client, each with every file `ldd` lists (including the dynamic
# loader). At start, /usr/local/bin/sshd-entrypoint
#   - generates the host key (ed25519) when there is none,
#   - installs the authorized keys of user `backup` (uid/gid 1000, home
#     /home/backup) from $SSH_AUTHORIZED_KEYS (the keys themselves) or the
#     file $SSH_AUTHORIZED_KEYS_FILE (default /run/pds/authorized_keys, e.g. a
#     read-only bind mount),
#   - execs `sshd -D -e` on port 22 (logs on stderr, "Server listening on"
#     once ready). Extra arguments go to sshd (`-t` tests the config).
# Only `backup` may log in, by public key only, and gets SFTP only
# (internal-sftp); no forwarding. A repository at sftp:backup@<host>:/home/backup/repo
# is created by restic on first use; mount a volume on /home/backup to keep it.
#
# Rebuilt only when missing, or always with --force.
#
# Usage: bash .ci/images-sshd.sh [--force]
# Env:   TEST_IMAGE_PREFIX (default pds-test); IMAGES_FORCE=1 acts as --force
set -euo pipefail

export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

PREFIX="${TEST_IMAGE_PREFIX:-pds-test}"
FORCE="${IMAGES_FORCE:-0}" # images.sh passes its --force on
for arg in "$@"; do
  case "$arg" in
    --force | -f) FORCE=1 ;;
    -h | --help)
      sed -n '2,26p' "$0"
      exit 0
      ;;
    *)
      echo "images-sshd.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

SSHD_IMAGE="${PREFIX}/sshd:latest"

log() { echo "images.sh: sshd: $*" >&2; }

image_summary() { # image_summary IMAGE
  docker image inspect --format '{{slice .Id 7 19}}, {{.Size}} bytes' "$1" 2>/dev/null || echo "?"
}

if ! docker info >/dev/null 2>&1; then
  log "docker does not answer; run .ci/docker.sh first"
  exit 1
fi

if [ "$FORCE" -eq 0 ] && docker image inspect "$SSHD_IMAGE" >/dev/null 2>&1; then
  echo "${SSHD_IMAGE}: present ($(image_summary "$SSHD_IMAGE"))"
  exit 0
fi

# --- host packages -----------------------------------------------------------
apt_updated=0
apt_update_once() {
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update
    apt_updated=1
  fi
}
need_pkg() { # need_pkg PACKAGE FILE
  if [ -e "$2" ]; then return 0; fi
  log "installing $1 (for $2)"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$1"
}
need_pkg busybox-static /bin/busybox
need_pkg openssh-client /usr/bin/ssh-keygen
command -v ldd >/dev/null 2>&1 || need_pkg libc-bin /usr/bin/ldd
command -v dpkg-deb >/dev/null 2>&1 || need_pkg dpkg /usr/bin/dpkg-deb

WORK="$(mktemp -d "${TMPDIR:-/tmp}/pds-sshd.XXXXXX")"
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
ROOT="$WORK/rootfs"

# --- sshd from the openssh-server package, without installing it --------------
# `apt-get download` writes into the current directory; as root it warns that
# the _apt user cannot write there, which is harmless.
fetch_sshd() {
  local out="$WORK/apt-download.log"
  chmod 0755 "$WORK"
  if ! (cd "$WORK" && apt-get download openssh-server >"$out" 2>&1); then
    log "apt-get download failed; updating the package lists and retrying"
    apt_update_once
    (cd "$WORK" && apt-get download openssh-server >"$out" 2>&1) || {
      cat "$out" >&2
      log "cannot download the openssh-server package"
      exit 1
    }
  fi
  dpkg-deb -x "$WORK"/openssh-server_*.deb "$WORK/pkg"
  [ -x "$WORK/pkg/usr/sbin/sshd" ] || {
    log "openssh-server package has no usr/sbin/sshd"
    exit 1
  }
}

# missing_libs BINARY: the libraries ldd cannot find, one per line.
missing_libs() {
  ldd "$1" 2>/dev/null | awk '/not found/ { print $1 }'
}

fetch_sshd
SSHD_BIN="$WORK/pkg/usr/sbin/sshd"
if [ -n "$(missing_libs "$SSHD_BIN")" ]; then
  # bookworm's sshd links libwrap (tcp wrappers), which the client does not.
  log "installing libwrap0 (sshd needs: $(missing_libs "$SSHD_BIN" | tr '\n' ' '))"
  apt_update_once
  DEBIAN_FRONTEND=noninteractive apt-get install -y libwrap0
fi
if [ -n "$(missing_libs "$SSHD_BIN")" ]; then
  log "sshd needs libraries this host does not have: $(missing_libs "$SSHD_BIN" | tr '\n' ' ')"
  exit 1
fi

# --- rootfs ---------------------------------------------------------------------

# copy_file ROOT SRC [DEST]: copy SRC (dereferenced) to ROOT/DEST (default:
# the same path), creating real directories even where the host has merged-/usr
# symlinks (/lib -> usr/lib).
copy_file() {
  local root="$1" src="$2" dest="${3:-$2}"
  mkdir -p "${root}$(dirname "$dest")"
  cp -L --preserve=mode "$src" "${root}${dest}"
}

# add_binary ROOT SRC [DEST]: copy a binary and every file `ldd` lists for it.
add_binary() {
  local root="$1" bin="$2" dest="${3:-$2}" lib
  rm -f "${root}${dest}" # may be a busybox applet symlink
  copy_file "$root" "$bin" "$dest"
  for lib in $(ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    [ -e "${root}${lib}" ] || copy_file "$root" "$lib"
  done
}

mkdir -p "$ROOT"/{bin,sbin,usr/bin,usr/sbin,usr/local/bin,etc/ssh,root,home/backup,run/sshd,var/empty,proc,sys,dev}
mkdir -p "$ROOT/tmp"
chmod 1777 "$ROOT/tmp"
chmod 0700 "$ROOT/root"
chmod 0755 "$ROOT/run/sshd" "$ROOT/home/backup"

cp /bin/busybox "$ROOT/bin/busybox"
chmod 0755 "$ROOT/bin/busybox"
while IFS= read -r applet; do
  [ -n "$applet" ] || continue
  [ "$applet" = "bin/busybox" ] && continue
  mkdir -p "$ROOT/$(dirname "$applet")"
  ln -sf /bin/busybox "$ROOT/$applet"
done < <(/bin/busybox --list-full)

add_binary "$ROOT" "$SSHD_BIN" /usr/sbin/sshd
add_binary "$ROOT" /usr/bin/ssh-keygen

# sshd: privilege separation user (Debian's build uses "sshd" and /run/sshd);
# backup: the SFTP account.
cat >"$ROOT/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:100:65534:sshd privilege separation:/run/sshd:/bin/false
backup:x:1000:1000:restic sftp repository:/home/backup:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$ROOT/etc/group" <<'EOF'
root:x:0:
backup:x:1000:
nogroup:x:65534:
EOF
chmod 0644 "$ROOT/etc/passwd" "$ROOT/etc/group"

cat >"$ROOT/etc/ssh/sshd_config" <<'EOF'
# pds-test/sshd: SFTP-only access for user backup, public keys only.
Port 22
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
LogLevel INFO
UsePAM no
PermitRootLogin no
AllowUsers backup
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitEmptyPasswords no
StrictModes yes
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding no
AllowAgentForwarding no
PermitTunnel no
PermitTTY no
ClientAliveInterval 30
Subsystem sftp internal-sftp
ForceCommand internal-sftp
EOF
chmod 0644 "$ROOT/etc/ssh/sshd_config"

cat >"$ROOT/usr/local/bin/sshd-entrypoint" <<'EOF'
#!/bin/sh
# sshd-entrypoint: host key, authorized keys of user backup, then sshd -D -e.
# Env: SSH_AUTHORIZED_KEYS (the keys) or SSH_AUTHORIZED_KEYS_FILE (default
# /run/pds/authorized_keys).
set -eu
die() {
	echo "sshd-entrypoint: error: $*" >&2
	exit 1
}

KEY=/etc/ssh/ssh_host_ed25519_key
if [ ! -s "$KEY" ]; then
	ssh-keygen -q -t ed25519 -N '' -C "pds-test-sshd" -f "$KEY" || die "cannot generate the host key"
	echo "sshd-entrypoint: host key $(ssh-keygen -l -f "$KEY.pub")" >&2
fi

AK_FILE=${SSH_AUTHORIZED_KEYS_FILE:-/run/pds/authorized_keys}
if [ -n "${SSH_AUTHORIZED_KEYS:-}" ]; then
	keys=$SSH_AUTHORIZED_KEYS
elif [ -r "$AK_FILE" ]; then
	keys=$(cat "$AK_FILE")
else
	die "no authorized keys: set SSH_AUTHORIZED_KEYS or mount them at $AK_FILE"
fi
[ -n "$keys" ] || die "the authorized keys are empty"

mkdir -p /run/sshd /home/backup/.ssh
chmod 0755 /run/sshd
# StrictModes: the home and .ssh belong to the user and are not group/world
# writable; the home may be a freshly created volume owned by root.
chown backup:backup /home/backup /home/backup/.ssh
chmod 0755 /home/backup
chmod 0700 /home/backup/.ssh
printf '%s\n' "$keys" >/home/backup/.ssh/authorized_keys
chown backup:backup /home/backup/.ssh/authorized_keys
chmod 0600 /home/backup/.ssh/authorized_keys
echo "sshd-entrypoint: $(grep -c . /home/backup/.ssh/authorized_keys) authorized key(s) for user backup" >&2

exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config "$@"
EOF
chmod 0755 "$ROOT/usr/local/bin/sshd-entrypoint"

# --- import ----------------------------------------------------------------------
old="$(docker image inspect --format '{{.Id}}' "$SSHD_IMAGE" 2>/dev/null || true)"
tar --numeric-owner --owner=0 --group=0 -C "$ROOT" -cf - . |
  docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/sshd-entrypoint"]' \
    --change 'EXPOSE 22' \
    --message "built by .ci/images-sshd.sh from Debian packages" \
    - "$SSHD_IMAGE" >/dev/null
new="$(docker image inspect --format '{{.Id}}' "$SSHD_IMAGE")"
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi

# --- smoke test: the config parses and the entrypoint runs -------------------------
if ! out="$(docker run --rm --network none -e SSH_AUTHORIZED_KEYS="ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA smoke" "$SSHD_IMAGE" -t 2>&1)"; then
  printf '%s\n' "$out" >&2
  log "${SSHD_IMAGE}: sshd -t failed"
  exit 1
fi
echo "${SSHD_IMAGE}: built ($(image_summary "$SSHD_IMAGE"))"
