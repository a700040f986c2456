#!/usr/bin/env bash
# Build ${TEST_IMAGE_PREFIX}/postgres:latest with `docker import` (called by
# .ci/images.sh; can also be run on its own).
#
# A Debian `debootstrap --variant=minbase` root (this host's release and apt
# mirror) with the release's `postgresql` package, trimmed (apt caches and
# lists, docs, man pages, message translations, the LLVM JIT), plus
# /usr/local/bin/docker-entrypoint.sh: a small version of the official image's
# entrypoint (POSTGRES_USER / _PASSWORD / _DB and their _FILE forms,
# POSTGRES_HOST_AUTH_METHOD, POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d),
# which then execs postgres as PID 1 under the `postgres` user (uid/gid 999, as
# in the official image). STOPSIGNAL is SIGINT, as in the official image:
# postgres's "fast" shutdown, which does not wait for open sessions to end
# (SIGTERM would, until docker's timeout and SIGKILL). `docker import` cannot
# set STOPSIGNAL, so a one-line `docker build` (legacy builder, no registry)
# adds it on top of the imported root.
#
# Usage: bash .ci/images-postgres.sh [--force]
# Env:   TEST_IMAGE_PREFIX (default pds-test), DEBIAN_RELEASE and DEBIAN_MIRROR
#        (default: from /etc/os-release and this host's apt sources)
set -euo pipefail

export PATH="${PATH}:/usr/local/sbin:/usr/sbin:/sbin"

PREFIX="${TEST_IMAGE_PREFIX:-pds-test}"
FORCE=0
for arg in "$@"; do
  case "$arg" in
    --force | -f) FORCE=1 ;;
    -h | --help)
      sed -n '2,20p' "$0"
      exit 0
      ;;
    *)
      echo "images-postgres.sh: unknown argument: $arg" >&2
      exit 2
      ;;
  esac
done

POSTGRES_IMAGE="${PREFIX}/postgres:latest"
STEP_TIMEOUT=600 # seconds, for each of debootstrap, apt-get update, apt-get install

log() { echo "images.sh: postgres: $*" >&2; }

image_summary() { # image_summary IMAGE
  docker image inspect --format '{{slice .Id 7 19}}, {{.Size}} bytes' "$1" 2>/dev/null || echo "?"
}

if [ "$FORCE" -eq 0 ] && docker image inspect "$POSTGRES_IMAGE" >/dev/null 2>&1; then
  echo "${POSTGRES_IMAGE}: present ($(image_summary "$POSTGRES_IMAGE"))"
  exit 0
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
need_pkg debootstrap /usr/sbin/debootstrap
need_pkg debian-archive-keyring /usr/share/keyrings/debian-archive-keyring.gpg

# --- Debian release and mirror, as this host's apt uses them ------------------

# host_apt_sources: "URI SUITE" for each enabled `deb` source of the host, in
# both the one-line (.list) and the deb822 (.sources) formats.
host_apt_sources() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -f "$f" ] || continue
    awk '$1 == "deb" {
      i = 2
      if ($i ~ /^\[/) { while (i < NF && $i !~ /\]$/) i++; i++ }
      if (i + 1 <= NF) { u = $i; sub(/\/+$/, "", u); print u, $(i + 1) }
    }' "$f"
  done
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk '
      function flush(   n, m, a, b, U, S) {
        if (enabled != "no" && types ~ /(^|[ \t])deb([ \t]|$)/) {
          n = split(uris, U, " "); m = split(suites, S, " ")
          for (a = 1; a <= n; a++) { sub(/\/+$/, "", U[a]); for (b = 1; b <= m; b++) print U[a], S[b] }
        }
        types = ""; uris = ""; suites = ""; enabled = "yes"; last = ""
      }
      BEGIN { enabled = "yes" }
      /^[ \t]*$/ { flush(); next }
      /^#/ { next }
      /^[ \t]/ { if (last == "uris") uris = uris " " $0; else if (last == "suites") suites = suites " " $0; next }
      {
        key = $0; sub(/:.*/, "", key); key = tolower(key)
        val = $0; sub(/^[^:]*:[ \t]*/, "", val); last = key
        if (key == "types") types = val
        else if (key == "uris") uris = val
        else if (key == "suites") suites = val
        else if (key == "enabled") enabled = tolower(val)
      }
      END { flush() }' "$f"
  done
}

# shellcheck disable=SC1091 # the host's own file
RELEASE="${DEBIAN_RELEASE:-$(. /etc/os-release && echo "${VERSION_CODENAME:-}")}"
if [ -z "$RELEASE" ]; then
  log "cannot tell the Debian release (no VERSION_CODENAME in /etc/os-release); set DEBIAN_RELEASE"
  exit 1
fi
if [ -n "${DEBIAN_MIRROR:-}" ]; then
  MIRROR="$DEBIAN_MIRROR"
  APT_LINES="deb ${MIRROR} ${RELEASE} main"
else
  # (No early `exit` in awk: with pipefail, SIGPIPE upstream would fail this.)
  MIRROR="$(host_apt_sources | awk -v s="$RELEASE" '$2 == s && !n++ { print $1 }')"
  if [ -z "$MIRROR" ]; then
    log "no apt source for '${RELEASE}' in /etc/apt; set DEBIAN_MIRROR"
    exit 1
  fi
  # The image gets the host's sources for the release, -updates and -security.
  APT_LINES="$(host_apt_sources |
    awk -v s="$RELEASE" '($2 == s || $2 == s "-updates" || $2 == s "-security") && !seen[$0]++ { print "deb", $1, $2, "main" }')"
fi

# --- temp folder (cleaned up on any exit) -------------------------------------
WORK=""
SMOKE=""
BASE_TAG=""
STEP_PID=""
cleanup() {
  # Interrupted in a step: stop it first (timeout passes the signal on).
  if [ -n "$STEP_PID" ]; then
    kill -TERM "$STEP_PID" 2>/dev/null || true
    wait "$STEP_PID" 2>/dev/null || true
  fi
  if [ -n "$SMOKE" ]; then docker rm -f "$SMOKE" >/dev/null 2>&1 || true; fi
  if [ -n "$BASE_TAG" ]; then docker image rm "$BASE_TAG" >/dev/null 2>&1 || true; fi
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # debootstrap mounts /proc and /sys in the target; if it was killed they
    # may still be there. Never let rm cross into a mount.
    local m
    awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/self/mounts | sort -r |
      while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
WORK="$(mktemp -d "${TMPDIR:-/tmp}/pds-images-postgres.XXXXXX")"
ROOT="$WORK/root"
T0=$SECONDS

# run_step NAME COMMAND...: run bounded, output to $WORK/NAME.log, shown on failure.
run_step() {
  local name="$1" t=$SECONDS
  shift
  log "${name}..."
  # In the background, so that INT/TERM reach the traps while it runs.
  timeout -k 30 "$STEP_TIMEOUT" "$@" >"$WORK/${name}.log" 2>&1 &
  STEP_PID=$!
  if ! wait "$STEP_PID"; then
    STEP_PID=""
    log "${name} failed (or took over ${STEP_TIMEOUT}s); last lines of its output:"
    tail -n 40 "$WORK/${name}.log" >&2
    return 1
  fi
  STEP_PID=""
  log "${name}: done in $((SECONDS - t))s"
}

# "${IN_ROOT[@]}" COMMAND...: run in the target with a clean environment.
IN_ROOT=(chroot "$ROOT" /usr/bin/env -i
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  LC_ALL=C DEBIAN_FRONTEND=noninteractive HOME=/root)
if [ -n "${http_proxy:-}" ]; then IN_ROOT+=("http_proxy=${http_proxy}"); fi
if [ -n "${https_proxy:-}" ]; then IN_ROOT+=("https_proxy=${https_proxy}"); fi

# --- base system -------------------------------------------------------------
log "building ${POSTGRES_IMAGE}: debootstrap minbase ${RELEASE} from ${MIRROR}"
run_step debootstrap debootstrap --variant=minbase \
  --keyring=/usr/share/keyrings/debian-archive-keyring.gpg \
  "$RELEASE" "$ROOT" "$MIRROR"

printf '%s\n' "$APT_LINES" >"$ROOT/etc/apt/sources.list"
# As in Docker's Debian images: package scripts never start services.
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
chmod 0755 "$ROOT/usr/sbin/policy-rc.d"
# No "main" cluster: the entrypoint runs initdb in $PGDATA itself.
mkdir -p "$ROOT/etc/postgresql-common"
echo 'create_main_cluster = false' >"$ROOT/etc/postgresql-common/createcluster.conf"
# The official image's fixed ids, made before the package would pick others.
"${IN_ROOT[@]}" groupadd -r -g 999 postgres
"${IN_ROOT[@]}" useradd -r -g postgres -u 999 -d /var/lib/postgresql -s /bin/bash postgres

# --- postgresql --------------------------------------------------------------
run_step apt-get-update "${IN_ROOT[@]}" apt-get update
run_step apt-get-install "${IN_ROOT[@]}" apt-get install -y --no-install-recommends \
  -o Dpkg::Options::=--force-confold postgresql

# shellcheck disable=SC2016 # dpkg-query formats, not shell
PG_MAJOR="$("${IN_ROOT[@]}" dpkg-query -W -f '${Depends}' postgresql | sed -n 's/^postgresql-\([0-9][0-9]*\).*/\1/p')"
# shellcheck disable=SC2016
PG_VERSION="$("${IN_ROOT[@]}" dpkg-query -W -f '${Version}' "postgresql-${PG_MAJOR}")"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
if [ ! -x "${ROOT}${PG_BIN}/postgres" ]; then
  log "no ${PG_BIN}/postgres after installing postgresql (major '${PG_MAJOR}')"
  exit 1
fi
log "installed postgresql-${PG_MAJOR} ${PG_VERSION}"

# Listen on all addresses, as the official image does (in the sample that
# initdb copies, so POSTGRES_INITDB_ARGS cannot lose it).
sample="$ROOT/usr/share/postgresql/${PG_MAJOR}/postgresql.conf.sample"
sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$sample"
grep -q "^listen_addresses = '\*'" "$sample" || {
  log "could not set listen_addresses in ${sample#"$ROOT"}"
  exit 1
}

# --- trim --------------------------------------------------------------------
log "trimming (before: $(du -sxm "$ROOT" | cut -f1) MB)"
# The LLVM JIT (~150 MB: libLLVM, libz3, bitcode). Without llvmjit.so postgres
# just reports pg_jit_available() = false. dpkg keeps a record of the removal.
# shellcheck disable=SC2016
jit_pkgs="$("${IN_ROOT[@]}" dpkg-query -W -f '${db:Status-Abbrev} ${Package}\n' 'libllvm*' 'libz3-*' 2>/dev/null |
  awk '$1 == "ii" { print $2 }')"
if [ -n "$jit_pkgs" ]; then
  # shellcheck disable=SC2086 # one package name per word
  "${IN_ROOT[@]}" dpkg --purge --force-depends $jit_pkgs >"$WORK/dpkg-purge.log" 2>&1 || {
    cat "$WORK/dpkg-purge.log" >&2
    exit 1
  }
fi
rm -rf "$ROOT/usr/lib/postgresql/${PG_MAJOR}/lib/bitcode" \
  "$ROOT/usr/lib/postgresql/${PG_MAJOR}/lib/llvmjit.so" \
  "$ROOT/usr/lib/postgresql/${PG_MAJOR}/lib/llvmjit_types.bc"
"${IN_ROOT[@]}" apt-get clean
rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/cache/apt/* \
  "$ROOT"/usr/share/doc/* "$ROOT"/usr/share/man/* "$ROOT"/usr/share/info/* \
  "$ROOT/usr/share/postgresql/${PG_MAJOR}/man" \
  "$ROOT"/usr/share/i18n/* "$ROOT"/usr/share/lintian \
  "$ROOT"/var/cache/debconf/*-old "$ROOT"/var/lib/dpkg/*-old \
  "$ROOT"/var/log/*.log "$ROOT"/var/log/apt/* "$ROOT/run/adduser"
# Message catalogs; the C / C.UTF-8 locales live in /usr/lib/locale (libc).
find "$ROOT/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +

# --- entrypoint --------------------------------------------------------------
mkdir -p "$ROOT/docker-entrypoint-initdb.d" "$ROOT/usr/local/bin"
# As in the official image, so that `--user postgres` (or 999) works too, on a
# new named volume as well (Docker copies the mount point's owner and mode).
install -d -o 999 -g 999 -m 1777 "$ROOT/var/lib/postgresql/data"
install -d -o 999 -g 999 -m 3777 "$ROOT/run/postgresql" # var/run -> /run
cat >"$ROOT/usr/local/bin/docker-entrypoint.sh" <<'ENTRYPOINT'
#!/bin/sh
# Entrypoint of the pds-test/postgres image (.ci/images-postgres.sh), a small
# version of the official postgres image's docker-entrypoint.sh:
#
#   - args starting with "-" go to postgres (`docker run IMAGE -c fsync=off`);
#     a first arg other than "postgres" is exec'd as is (psql, sh, ...);
#   - as root: creates PGDATA, chowns it and /var/run/postgresql to postgres,
#     then runs itself again as postgres (setpriv, no fork);
#   - when "$PGDATA/PG_VERSION" is missing: initdb with POSTGRES_USER (default
#     postgres) as superuser and POSTGRES_PASSWORD as its password (required
#     unless POSTGRES_HOST_AUTH_METHOD=trust), extra POSTGRES_INITDB_ARGS (split
#     on blanks); "host all all all <method>" in pg_hba.conf (method default:
#     password_encryption, i.e. scram-sha-256; md5 works too); creates
#     POSTGRES_DB (default: POSTGRES_USER); runs /docker-entrypoint-initdb.d/
#     *.sh (run if executable, else sourced), *.sql, *.sql.gz against it.
#     Local (socket and loopback) connections are trusted, as in the official
#     image. Unlike there, the setup server listens on a private socket only,
#     so pg_isready says "no response" until the real server is up. Each POSTGRES_* setting above can also come from a file named by
#     the same variable with _FILE appended;
#   - finally execs `postgres -D "$PGDATA" ARGS...`: postgres is PID 1 and gets
#     docker's stop signal itself.
set -eu

log() { printf 'docker-entrypoint.sh: %s\n' "$*" >&2; }

# file_env VAR [DEFAULT]: VAR from itself, or from the file named by VAR_FILE.
file_env() {
  fe_var="$1"
  fe_default="${2:-}"
  eval "fe_value=\${${fe_var}:-}"
  eval "fe_file=\${${fe_var}_FILE:-}"
  if [ -n "$fe_value" ] && [ -n "$fe_file" ]; then
    log "both ${fe_var} and ${fe_var}_FILE are set (but are exclusive)"
    exit 1
  fi
  if [ -n "$fe_file" ]; then
    fe_value="$(cat "$fe_file")"
  elif [ -z "$fe_value" ]; then
    fe_value="$fe_default"
  fi
  export "${fe_var}=${fe_value}"
  unset "${fe_var}_FILE"
}

if [ "$#" -eq 0 ]; then
  set -- postgres
fi
case "$1" in
  -*) set -- postgres "$@" ;;
esac
if [ "$1" != postgres ]; then
  exec "$@"
fi
shift # the remaining args are postgres options

: "${PGDATA:=/var/lib/postgresql/data}"
export PGDATA

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  # Only what is not postgres's already (cheap on an initialised volume).
  find "$PGDATA" ! -user postgres -exec chown postgres:postgres {} +
  chmod 0700 "$PGDATA" || : # may fail on some bind mounts; initdb says so
  chown postgres:postgres /var/run/postgresql
  chmod 3777 /var/run/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  file_env POSTGRES_PASSWORD
  file_env POSTGRES_USER postgres
  file_env POSTGRES_DB "$POSTGRES_USER"
  file_env POSTGRES_INITDB_ARGS
  : "${POSTGRES_HOST_AUTH_METHOD:=}"
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    log "Database is uninitialized and superuser password is not specified."
    log "Set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE), or POSTGRES_HOST_AUTH_METHOD=trust."
    exit 1
  fi

  mkdir -p "$PGDATA"
  chmod 0700 "$PGDATA" || :
  log "initialising ${PGDATA} (superuser ${POSTGRES_USER})"
  # POSTGRES_INITDB_ARGS is split on blanks on purpose; globbing stays off.
  set -f
  # shellcheck disable=SC2086
  if [ -n "$POSTGRES_PASSWORD" ]; then
    printf '%s\n' "$POSTGRES_PASSWORD" |
      initdb --username="$POSTGRES_USER" --pwfile=/dev/stdin $POSTGRES_INITDB_ARGS
  else
    initdb --username="$POSTGRES_USER" $POSTGRES_INITDB_ARGS
  fi
  set +f

  if [ -z "$POSTGRES_HOST_AUTH_METHOD" ]; then
    POSTGRES_HOST_AUTH_METHOD="$(postgres -D "$PGDATA" -C password_encryption)"
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    log "warning: POSTGRES_HOST_AUTH_METHOD=trust: no password needed from any host"
  fi
  printf '\nhost all all all %s\n' "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

  # A server for the setup below, on a private socket only: pg_isready and
  # clients in other `docker exec`s must not see it as the real server.
  init_socket_dir="$(mktemp -d /tmp/pg-init.XXXXXX)"
  pg_ctl -D "$PGDATA" -w start \
    -o "-c listen_addresses='' -c unix_socket_directories='${init_socket_dir}'"
  export PGHOST="$init_socket_dir" # for psql here and in init scripts

  psql_init() {
    psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
  }
  psql_init --dbname postgres --set db="$POSTGRES_DB" <<'EOSQL'
SELECT format('CREATE DATABASE %I', :'db')
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
EOSQL

  for f in /docker-entrypoint-initdb.d/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          log "running ${f}"
          "$f"
        else
          log "sourcing ${f}"
          # shellcheck source=/dev/null
          . "$f"
        fi
        ;;
      *.sql)
        log "running ${f}"
        psql_init --dbname "$POSTGRES_DB" -f "$f"
        ;;
      *.sql.gz)
        log "running ${f}"
        gzip -dc "$f" | psql_init --dbname "$POSTGRES_DB"
        ;;
      *) log "ignoring ${f}" ;;
    esac
  done

  pg_ctl -D "$PGDATA" -m fast -w stop
  unset PGHOST
  rmdir "$init_socket_dir"
  log "PostgreSQL init process complete; ready for start up."
else
  log "PostgreSQL database directory appears to contain a database; skipping initialization"
fi

exec postgres -D "$PGDATA" "$@"
ENTRYPOINT
chmod 0755 "$ROOT/usr/local/bin/docker-entrypoint.sh"

# --- import --------------------------------------------------------------------
log "importing (rootfs: $(du -sxm "$ROOT" | cut -f1) MB)"
old="$(docker image inspect --format '{{.Id}}' "$POSTGRES_IMAGE" 2>/dev/null || true)"
BASE_TAG="${PREFIX}/postgres:import-$$"
# Real owners (postgres is 999:999); /dev, /proc and /sys are Docker's.
tar --numeric-owner -C "$ROOT" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
  docker import \
    --change "ENV PATH=${PG_BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV LANG=C.UTF-8' \
    --change "ENV PG_MAJOR=${PG_MAJOR}" \
    --change "ENV PG_VERSION=${PG_VERSION}" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'EXPOSE 5432' \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --message "built by .ci/images-postgres.sh: Debian ${RELEASE} minbase + postgresql-${PG_MAJOR} ${PG_VERSION}" \
    - "$BASE_TAG" >/dev/null
# Untagging the base below keeps it as the parent layer of the final image.
if ! printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$BASE_TAG" |
  DOCKER_BUILDKIT=0 docker build -q -t "$POSTGRES_IMAGE" - >"$WORK/stopsignal.log" 2>&1; then
  cat "$WORK/stopsignal.log" >&2
  exit 1
fi
docker image rm "$BASE_TAG" >/dev/null
BASE_TAG=""
new="$(docker image inspect --format '{{.Id}}' "$POSTGRES_IMAGE")"
if [ -n "$old" ] && [ "$old" != "$new" ]; then
  docker image rm "$old" >/dev/null 2>&1 || true
fi

# --- smoke test --------------------------------------------------------------
log "smoke test"
SMOKE="pds-images-postgres-smoke-$$"
docker run -d --name "$SMOKE" -e POSTGRES_PASSWORD=smoke -e POSTGRES_DB=smoke "$POSTGRES_IMAGE" >/dev/null
ready=0
for _ in $(seq 1 60); do
  if docker exec "$SMOKE" pg_isready -q -U postgres -d smoke 2>/dev/null; then
    ready=1
    break
  fi
  sleep 1
done
if [ "$ready" -ne 1 ]; then
  log "server not ready within 60s; its log:"
  docker logs "$SMOKE" >&2 || true
  exit 1
fi
out="$(docker exec "$SMOKE" psql -U postgres -d smoke -Atc "select current_setting('server_encoding') || ' ' || (select count(*) from pg_database where datname = 'smoke')")"
[ "$out" = "UTF8 1" ] || {
  log "unexpected query result: '${out}'"
  exit 1
}
docker exec "$SMOKE" sh -c \
  'for c in psql pg_dump pg_restore pg_isready tar gzip sha256sum setpriv; do command -v "$c" >/dev/null || { echo "missing $c" >&2; exit 1; }; done
   [ "$(cat /proc/1/comm)" = postgres ]' || {
  log "missing tools, or postgres is not PID 1"
  exit 1
}
# An idle session stays open: the stop signal must not wait for it.
docker exec -d "$SMOKE" sh -c 'sleep 30 | psql -U postgres -d smoke'
sleep 1
docker stop -t 20 "$SMOKE" >/dev/null
code="$(docker inspect --format '{{.State.ExitCode}}' "$SMOKE")"
# (Not grep -q: with pipefail, its early exit could fail `docker logs` by SIGPIPE.)
if [ "$code" != 0 ] || ! docker logs "$SMOKE" 2>&1 | grep 'database system is shut down' >/dev/null; then
  log "postgres did not shut down cleanly (exit code ${code}); its log:"
  docker logs "$SMOKE" >&2 || true
  exit 1
fi
docker rm "$SMOKE" >/dev/null
SMOKE=""

echo "${POSTGRES_IMAGE}: built in $((SECONDS - T0))s ($(image_summary "$POSTGRES_IMAGE"))"
