#!/usr/bin/env bash
# Local stand-ins, under the names the repository's own stacks use
# (stacks/Pulumi.*.yaml), so `pulumi up --stack dev|prod` runs here without a
# registry (the docker provider stand-in never pulls an image that exists):
#   postgres:16    <- ${TEST_IMAGE_PREFIX}/postgres:latest
#   busybox:1.37   <- ${TEST_IMAGE_PREFIX}/busybox:latest
#   docker:27-cli  <- ${TEST_IMAGE_PREFIX}/ops:latest (busybox + the docker CLI)
#   nginx:1.27     <- busybox httpd serving /usr/share/nginx/html on port 80
# Never run this against a daemon whose real images of those names you need.
set -euo pipefail
PREFIX="${TEST_IMAGE_PREFIX:-pds-test}"
log() { echo "images-stacks.sh: $*" >&2; }

tag() {
  docker tag "$1" "$2"
  log "$2 <- $1"
}
tag "${PREFIX}/postgres:latest" postgres:16
tag "${PREFIX}/busybox:latest" busybox:1.37
tag "${PREFIX}/ops:latest" docker:27-cli

if ! docker image inspect nginx:1.27 >/dev/null 2>&1 \
  || [ "$(docker image inspect -f '{{index .Config.Labels "pds.test"}}' nginx:1.27)" != stand-in ]; then
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  cat >"$ctx/Dockerfile" <<DOCKERFILE
FROM ${PREFIX}/busybox:latest
LABEL pds.test=stand-in
RUN mkdir -p /usr/share/nginx/html /var/log/nginx /var/cache/nginx
CMD ["sh", "-c", "exec httpd -f -p 80 -h /usr/share/nginx/html"]
DOCKERFILE
  docker build -q -t nginx:1.27 "$ctx" >/dev/null
  log "nginx:1.27 <- busybox httpd"
fi
