#!/usr/bin/env bash
# Proves the peer ranges in package.json: in a copy of the repository, install
# the lowest @pulumi/pulumi and @pulumi/docker they allow (and @pulumi/command,
# pinned exactly, so its lowest is the pin), check that npm resolved a single
# @pulumi/pulumi (a nested second copy makes every docker resource vanish from
# the program), then build the library and run the unit suite against them.
set -euo pipefail

cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.."
repo="$PWD"

lowest() {
  node -e 'const p = require("./package.json"); const range = p.peerDependencies[process.argv[1]];
    const m = /^(?:\^|~|>=)?\s*(\d+\.\d+\.\d+)$/.exec(range);
    if (!m) { console.error(`lowest-deps: cannot read the lowest version of ${process.argv[1]} from "${range}"`); process.exit(1); }
    console.log(m[1]);' "$1"
}
pulumi_version="$(lowest @pulumi/pulumi)"
docker_version="$(lowest @pulumi/docker)"

work="$(mktemp -d "${TMPDIR:-/tmp}/pds-lowest-deps.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# Tracked and new (not ignored) files, plus the installed tree to start from.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
  [ -e "$f" ] && printf '%s\0' "$f"
done | xargs -0 cp --parents -t "$work"
cp -a node_modules "$work/"
cd "$work"

echo "lowest-deps: @pulumi/pulumi@${pulumi_version} @pulumi/docker@${docker_version}" >&2
npm install --no-audit --no-fund --ignore-scripts --prefer-offline --save-exact --save-dev \
  "@pulumi/pulumi@${pulumi_version}" "@pulumi/docker@${docker_version}" >&2

copies="$(npm ls @pulumi/pulumi --all --parseable | sort -u)"
if [ "$copies" != "$work/node_modules/@pulumi/pulumi" ]; then
  echo "lowest-deps: expected one @pulumi/pulumi, found:" >&2
  npm ls @pulumi/pulumi --all >&2 || true
  exit 1
fi
installed="$(node -p 'require("@pulumi/pulumi/package.json").version')"
if [ "$installed" != "$pulumi_version" ]; then
  echo "lowest-deps: installed @pulumi/pulumi ${installed}, wanted ${pulumi_version}" >&2
  exit 1
fi

npx tsc -p tsconfig.build.json --noEmit
npx mocha --config test/.mocharc.unit.json
echo "lowest-deps: unit suite green with @pulumi/pulumi@${pulumi_version} @pulumi/docker@${docker_version} (repo: ${repo})" >&2
