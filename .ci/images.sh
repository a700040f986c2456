#!/usr/bin/env bash
# Build the local test images with `docker import` (no registry needed).
#
#   ${TEST_IMAGE_PREFIX}/busybox:latest  busybox-static + applet symlinks,
#                                        zstd, flock (util-linux), /etc/passwd
#                                        and /etc/group, /tmp, cron spool dir.
#   ${TEST_IMAGE_PREFIX}/restic:latest   the same, plus /usr/bin/restic and /usr/bin/ssh (sftp:).
#   ${TEST_IMAGE_PREFIX}/postgres:latest Debian minbase + postgresql, with an
#                                        official-image-like entrypoint; built
#                                        by .ci/images-postgres.sh (see there).
#
# busybox and restic: every binary comes from this machine's Debian packages,
# with each file `ldd` lists for it (including the dynamic loader), copied at
# that path. busybox-static and restic come from Debian trixie (fetched with
# apt through a private source list, installed on the host with dpkg), so that
# the images and the script tests run the versions the component's default
# images ship: busybox 1.37 (`busybox:1.37`, whose sha256sum uses the CPU's
# SHA instructions) and restic 0.18.0 (`restic/restic:0.18.0`).
# An image is rebuilt only when missing, or always with --force.
#
# Usage: bash .ci/images.sh [--force]
# Env:   TEST_IMAGE_PREFIX (default pds-test)
set -euo pipefail

export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

PREFIX="${TEST_IMAGE_PREFIX:-pds-test}"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force | -f) FORCE=1 ;;
    -h | --help)
      sed -n '2,18p' "$0"
      exit 0
      ;;
    *)
      echo "images.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

BUSYBOX_IMAGE="${PREFIX}/busybox:latest"
RESTIC_IMAGE="${PREFIX}/restic:latest"

log() { echo "images.sh: $*" >&2; }

if ! docker info >/dev/null 2>&1; then
  log "docker does not answer; run .ci/docker.sh first"
  exit 1
fi

# --- host packages -----------------------------------------------------------
apt_updated=0
need_pkg() { # need_pkg PACKAGE FILE
  if [ -e "$2" ]; then return 0; fi
  log "installing $1 (for $2)"
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y "$1"
}

# --- packages from Debian trixie -------------------------------------------------
# Versions the default job images ship (components/backup/plan.ts); an older
# host package or image is replaced.
TRIXIE_BUSYBOX_VERSION="1.37.0"
TRIXIE_RESTIC_VERSION="0.18.0"

host_version() { dpkg-query -W -f '${Version}' "$1" 2>/dev/null || true; }

# need_trixie_pkg PACKAGE UPSTREAM_VERSION: install trixie's PACKAGE on the
# host unless its upstream version is already UPSTREAM_VERSION. The source list,
# package lists and cache are private (nothing in /etc/apt changes); the
# archive's signatures are checked with Debian's keyring as usual.
need_trixie_pkg() {
  local pkg="$1" want="$2" have dir
  have="$(host_version "$pkg")"
  have="${have#*:}"
  if [ "${have%%-*}" = "$want" ]; then return 0; fi
  log "installing ${pkg} ${want} from Debian trixie (host has ${have:-none})"
  dir="$(mktemp -d "${TMPDIR:-/tmp}/pds-trixie.XXXXXX")"
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$dir/sources.list"
  local apt_opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Get::List-Cleanup=0
    -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$dir" && apt-get "${apt_opts[@]}" download "$pkg")
  DEBIAN_FRONTEND=noninteractive dpkg -i "$dir"/"${pkg}"_*.deb >/dev/null
  rm -rf "$dir"
  have="$(host_version "$pkg")"
  have="${have#*:}"
  if [ "${have%%-*}" != "$want" ]; then
    log "${pkg}: expected ${want} after install, host has ${have:-none}"
    exit 1
  fi
}

image_present() { docker image inspect "$1" >/dev/null 2>&1; }
needs_build() { [ "$FORCE" -eq 1 ] || ! image_present "$1"; }

build_busybox=0
build_restic=0
# An image with an older busybox, an older restic or without the OpenSSH
# client (sftp: repositories) is rebuilt too.
image_has() { docker run --rm --network none "$1" sh -c "$2" >/dev/null 2>&1; }
if needs_build "$BUSYBOX_IMAGE" || ! image_has "$BUSYBOX_IMAGE" "busybox | grep -q 'v${TRIXIE_BUSYBOX_VERSION} '"; then build_busybox=1; fi
if needs_build "$RESTIC_IMAGE" || ! image_has "$RESTIC_IMAGE" "command -v ssh && restic version | grep -q '^restic ${TRIXIE_RESTIC_VERSION} ' && busybox | grep -q 'v${TRIXIE_BUSYBOX_VERSION} '"; then build_restic=1; fi

# The script tests (test/scripts) also run these tools on the host, so they are
# installed whether or not an image needs building.
need_trixie_pkg busybox-static "$TRIXIE_BUSYBOX_VERSION"
need_trixie_pkg restic "$TRIXIE_RESTIC_VERSION"
need_pkg zstd /usr/bin/zstd
need_pkg util-linux /usr/bin/flock
if [ "$build_busybox" -eq 1 ] || [ "$build_restic" -eq 1 ]; then
  command -v ldd >/dev/null 2>&1 || need_pkg libc-bin /usr/bin/ldd
fi
if [ "$build_restic" -eq 1 ]; then
  need_pkg openssh-client /usr/bin/ssh
fi

WORK=""
cleanup() { if [ -n "$WORK" ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

# --- rootfs helpers ------------------------------------------------------------

# copy_file ROOT PATH: copy PATH (dereferenced) to ROOT/PATH, creating real
# directories even where the host has merged-/usr symlinks (/lib -> usr/lib).
copy_file() {
  local root="$1" path="$2"
  mkdir -p "${root}$(dirname "$path")"
  cp -L --preserve=mode "$path" "${root}${path}"
}

# add_binary ROOT PATH: copy a binary and every file `ldd` lists for it.
add_binary() {
  local root="$1" bin="$2" lib
  rm -f "${root}${bin}" # may be a busybox applet symlink
  copy_file "$root" "$bin"
  # Static binaries make ldd print "not a dynamic executable" and exit 1.
  for lib in $(ldd "$bin" 2>/dev/null | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\//) print $i }'); do
    [ -e "${root}${lib}" ] || copy_file "$root" "$lib"
  done
}

make_base_rootfs() { # make_base_rootfs ROOT
  local root="$1" applet
  mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,var/spool/cron/crontabs,proc,sys,dev}
  mkdir -p "$root/tmp"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"

  cp /bin/busybox "$root/bin/busybox"
  chmod 0755 "$root/bin/busybox"
  # --list-full gives each applet's canonical path (bin/sh, usr/bin/tar, ...).
  while IFS= read -r applet; do
    [ -n "$applet" ] || continue
    [ "$applet" = "bin/busybox" ] && continue
    mkdir -p "$root/$(dirname "$applet")"
    ln -sf /bin/busybox "$root/$applet"
  done < <(/bin/busybox --list-full)

  add_binary "$root" /usr/bin/zstd
  # Debian's busybox-static has no flock applet; use util-linux's.
  add_binary "$root" /usr/bin/flock

  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
EOF
  chmod 0644 "$root/etc/passwd" "$root/etc/group"
}

import_rootfs() { # import_rootfs ROOT IMAGE
  local root="$1" image="$2" old new
  old="$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null || true)"
  tar --numeric-owner --owner=0 --group=0 -C "$root" -cf - . |
    docker import \
      --change 'CMD ["/bin/sh"]' \
      --message "built by .ci/images.sh from Debian packages" \
      - "$image" >/dev/null
  # --force: drop the image this one replaced, unless something still uses it.
  new="$(docker image inspect --format '{{.Id}}' "$image")"
  if [ -n "$old" ] && [ "$old" != "$new" ]; then
    docker image rm "$old" >/dev/null 2>&1 || true
  fi
}

image_summary() { # image_summary IMAGE
  docker image inspect --format '{{slice .Id 7 19}}, {{.Size}} bytes' "$1" 2>/dev/null || echo "?"
}

smoke_busybox() { # smoke_busybox IMAGE
  local out
  out="$(docker run --rm "$1" sh -c 'echo hi | zstd -q -3 | zstd -q -d')"
  [ "$out" = "hi" ] || {
    log "$1: zstd round trip printed '$out'"
    return 1
  }
  docker run --rm "$1" sh -c \
    'for c in sh tar gzip sha256sum flock crond find; do command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }; done
     flock /tmp/l true && [ "$(stat -c %a /tmp)" = 1777 ] && id nobody >/dev/null' ||
    {
      log "$1: missing tools"
      return 1
    }
}

smoke_restic() { # smoke_restic IMAGE
  docker run --rm "$1" restic version >/dev/null || {
    log "$1: restic version failed"
    return 1
  }
  docker run --rm "$1" ssh -V >/dev/null 2>&1 || {
    log "$1: ssh -V failed"
    return 1
  }
}

# --- build -------------------------------------------------------------------
if [ "$build_busybox" -eq 1 ] || [ "$build_restic" -eq 1 ]; then
  WORK="$(mktemp -d "${TMPDIR:-/tmp}/pds-images.XXXXXX")"
  make_base_rootfs "$WORK/busybox"
fi

if [ "$build_busybox" -eq 1 ]; then
  import_rootfs "$WORK/busybox" "$BUSYBOX_IMAGE"
  smoke_busybox "$BUSYBOX_IMAGE"
  echo "${BUSYBOX_IMAGE}: built ($(image_summary "$BUSYBOX_IMAGE"))"
else
  echo "${BUSYBOX_IMAGE}: present ($(image_summary "$BUSYBOX_IMAGE"))"
fi

if [ "$build_restic" -eq 1 ]; then
  cp -a "$WORK/busybox" "$WORK/restic"
  add_binary "$WORK/restic" /usr/bin/restic
  # restic's sftp: backend runs `ssh`; it runs as root (in /etc/passwd) and is
  # configured by a mounted /etc/ssh/ssh_config.
  add_binary "$WORK/restic" /usr/bin/ssh
  mkdir -p "$WORK/restic/etc/ssh"
  import_rootfs "$WORK/restic" "$RESTIC_IMAGE"
  smoke_busybox "$RESTIC_IMAGE"
  smoke_restic "$RESTIC_IMAGE"
  echo "${RESTIC_IMAGE}: built ($(image_summary "$RESTIC_IMAGE"))"
else
  echo "${RESTIC_IMAGE}: present ($(image_summary "$RESTIC_IMAGE"))"
fi

# The postgres image (debootstrap + apt in a chroot) has its own script.
postgres_args=()
if [ "$FORCE" -eq 1 ]; then postgres_args+=(--force); fi
TEST_IMAGE_PREFIX="$PREFIX" bash "$(dirname "${BASH_SOURCE[0]}")/images-postgres.sh" "${postgres_args[@]}"

# The ops image (busybox + docker CLI) for jobs that need the Docker socket.
ops_args=()
if [ "$FORCE" -eq 1 ]; then ops_args+=(--force); fi
TEST_IMAGE_PREFIX="$PREFIX" bash "$(dirname "${BASH_SOURCE[0]}")/images-ops.sh" "${ops_args[@]}"

# The sshd image (SFTP server for the restic sftp: tests) has its own script.
TEST_IMAGE_PREFIX="$PREFIX" IMAGES_FORCE="$FORCE" bash "$(dirname "${BASH_SOURCE[0]}")/images-sshd.sh"
