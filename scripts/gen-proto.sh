#!/usr/bin/env bash
# Regenerates the TypeScript code of our proto files (src/proto/*.proto) into
# src/proto/gen/ with buf and the locally installed ts-proto plugin.
#
# Usage: bash scripts/gen-proto.sh [OUTPUT_ROOT]
#   OUTPUT_ROOT defaults to the repository root; the generated files land in
#   OUTPUT_ROOT/src/proto/gen. test/unit/proto-generated.test.ts passes a temp
#   dir to check that the committed code is not stale.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_root="$(mkdir -p "${1:-$repo_root}" && cd "${1:-$repo_root}" && pwd)"

cd "$repo_root"
# The plugin is a node script: make sure the project's Node 24 runs it.
export PATH="$repo_root/node_modules/.bin:$PATH"

buf generate src/proto --template src/proto/buf.gen.yaml -o "$out_root"
