#!/usr/bin/env bash
# Builds ${TEST_IMAGE_PREFIX:-pds-test}/ops:latest: the busybox test image plus
# the docker CLI, for backup jobs that need the Docker socket (consistency
# hooks, the `restore` command). It stands in for the official docker:cli
# image, which cannot be pulled here. Rebuilt only when missing (--force: always).
set -euo pipefail

PREFIX="${TEST_IMAGE_PREFIX:-pds-test}"
BASE="${PREFIX}/busybox:latest"
IMAGE="${PREFIX}/ops:latest"
FORCE=0
[ "${1:-}" = --force ] && FORCE=1

log() { echo "images-ops.sh: $*" >&2; }

if [ "$FORCE" -eq 0 ] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "${IMAGE}: present (bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE"))"
  exit 0
fi

# Debian's docker.io CLI links only libc, which the busybox image already has.
cli=/usr/bin/docker
[ -x "$cli" ] || { log "$cli missing (docker.io package)"; exit 1; }
if ldd "$cli" | grep -v -E 'linux-vdso|libc\.so|ld-linux' | grep -q '=>'; then
  log "$cli links more than libc: $(ldd "$cli" | tr '\n' ' ')"
  exit 1
fi

container="$(docker create "$BASE" true)"
trap 'docker rm -f "$container" >/dev/null 2>&1 || true' EXIT
docker cp "$cli" "$container:/bin/docker"
docker commit --change 'CMD ["/bin/sh"]' "$container" "$IMAGE" >/dev/null
docker run --rm "$IMAGE" docker --version >/dev/null
echo "${IMAGE}: built (bytes=$(docker image inspect -f '{{.Size}}' "$IMAGE"))"
