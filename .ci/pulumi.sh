#!/usr/bin/env bash
# The Pulumi toolchain the engine tests run: the Pulumi CLI built from Go
# modules, a Node.js language host, and the dynamic-provider launcher.
#
#   pulumi                          github.com/pulumi/pulumi/pkg/v3/cmd/pulumi at
#                                   PULUMI_VERSION (matches @pulumi/pulumi), through
#                                   the wrapper module .ci/pulumi (go.mod repeats
#                                   the replace directive the CLI's module needs).
#   pulumi-language-nodejs          the real one if one is installed next to a
#                                   compatible `pulumi`; otherwise the stand-in in
#                                   .ci/pulumi/langhost (the real module is refused
#                                   by the Go module proxy: "403 Forbidden: This
#                                   module version is not available").
#   pulumi-resource-pulumi-nodejs   .ci/pulumi/bin: runs dynamic providers with the
#                                   project's own @pulumi/pulumi.
#
# The provider plugins tests need (docker, command) are test-only stand-ins under
# test/provider/bin; see test/helpers/toolchain.ts.
#
# A `pulumi` already on PATH whose version is PULUMI_VERSION's major.minor or newer
# (as on a contributor's machine) is used as it is, and nothing is built.
# Otherwise the binaries are built once into a cache outside the clone, keyed by
# the versions and the wrapper module's files, so a warm run skips the build.
#
# Usage: bash .ci/pulumi.sh          build if needed; print the bin directory
#        bash .ci/pulumi.sh --path   print the bin directory if it is ready, else exit 1
# Env:   PDS_TOOLCHAIN_CACHE (default ${XDG_CACHE_HOME:-$HOME/.cache}/persistent-docker)
set -euo pipefail

PULUMI_VERSION=3.248.0
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
module="$here/pulumi"
log() { echo "pulumi.sh: $*" >&2; }

mode=build
case "${1:-}" in
  --path) mode=path ;;
  "") ;;
  *) log "unknown argument: $1"; exit 2 ;;
esac

# version_ok VERSION: VERSION (vX.Y.Z) is PULUMI_VERSION's major and >= its minor.
version_ok() {
  local v="${1#v}" want_major want_minor major minor
  IFS=. read -r want_major want_minor _ <<<"$PULUMI_VERSION"
  IFS=. read -r major minor _ <<<"$v"
  [[ "$major" == "$want_major" && "$minor" =~ ^[0-9]+$ && "$minor" -ge "$want_minor" ]]
}

# A compatible CLI on PATH, with its own language host: use it.
if command -v pulumi >/dev/null 2>&1; then
  installed="$(pulumi version 2>/dev/null || true)"
  pulumi_dir="$(dirname "$(readlink -f "$(command -v pulumi)")")"
  if version_ok "$installed" && command -v pulumi-language-nodejs >/dev/null 2>&1; then
    log "using the installed pulumi ${installed} ($(command -v pulumi))"
    # The launcher may be missing from a hand-made install; ours goes first on PATH.
    echo "$module/bin:$pulumi_dir"
    exit 0
  fi
fi

cache_root="${PDS_TOOLCHAIN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/persistent-docker}"
key="$(cat "$module/go.mod" "$module/go.sum" "$module/langhost/main.go" | sha256sum | cut -c1-12)"
bin="$cache_root/pulumi-v${PULUMI_VERSION}-${key}/bin"

if [ -x "$bin/pulumi" ] && [ -x "$bin/pulumi-language-nodejs" ]; then
  log "toolchain cached: $bin"
  echo "$module/bin:$bin"
  exit 0
fi
if [ "$mode" = path ]; then
  log "toolchain not built yet; run: bash .ci/pulumi.sh"
  exit 1
fi

if ! command -v go >/dev/null 2>&1; then
  log "go is missing: the toolchain builds from Go modules (Go >= 1.25)"
  exit 1
fi
log "building pulumi v${PULUMI_VERSION} and the nodejs language host into $bin (cold: ~10 min on 2 cores)"
start=$(date +%s)
tmp="$bin.tmp.$$"
rm -rf "$tmp"
mkdir -p "$tmp"
(
  cd "$module"
  export GOFLAGS="-mod=mod ${GOFLAGS:-}"
  go build -o "$tmp/pulumi" \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v${PULUMI_VERSION}" \
    github.com/pulumi/pulumi/pkg/v3/cmd/pulumi
  go build -o "$tmp/pulumi-language-nodejs" \
    -ldflags "-s -w -X main.version=${PULUMI_VERSION}" ./langhost
)
got="$("$tmp/pulumi" version)"
if [ "$got" != "v${PULUMI_VERSION}" ]; then
  log "built pulumi reports ${got}, expected v${PULUMI_VERSION}"
  exit 1
fi
rm -rf "$bin"
mv "$tmp" "$bin"
log "built in $(($(date +%s) - start)) s: $("$bin/pulumi" version)"
echo "$module/bin:$bin"
