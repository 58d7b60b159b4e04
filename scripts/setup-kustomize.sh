#!/usr/bin/env bash
# Makes a kustomize v5 binary available for the manifest tests (test/support/kustomize.ts)
# and prints its path. Only needed where `kubectl` (which embeds kustomize) is missing.
#
# Sources, in order:
#   1. `kustomize` on PATH, if it is v5;
#   2. built from its official Go module, sigs.k8s.io/kustomize/kustomize/v5 at a pinned
#      version, through the Go module proxy, into a cache outside the repository.
#
# Idempotent: a finished build leaves a stamp file, and a second run returns at once.
# Logs go to stderr; stdout is only the binary's path.
#
# Environment:
#   ARGOCD_AGENT_TOOLS_DIR  cache dir (default $HOME/.cache/argocd-agent-ts/tools)
#   KUSTOMIZE_VERSION       pinned release (default below; kubectl 1.32 embeds v5.5.0)
#   GO                      go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

KUSTOMIZE_VERSION="${KUSTOMIZE_VERSION:-v5.5.0}"
TOOLS_DIR="${ARGOCD_AGENT_TOOLS_DIR:-$HOME/.cache/argocd-agent-ts/tools}"

log() { echo "setup-kustomize: $*" >&2; }

# 1. kustomize v5 on PATH.
if path_kustomize="$(command -v kustomize)"; then
  if "$path_kustomize" version 2>/dev/null | grep -q 'v5\.'; then
    log "using kustomize from PATH ($path_kustomize)"
    echo "$path_kustomize"
    exit 0
  fi
  log "ignoring $path_kustomize: not kustomize v5"
fi

mkdir -p "$TOOLS_DIR"
stamp="$TOOLS_DIR/.kustomize-$KUSTOMIZE_VERSION"
if [[ -x "$TOOLS_DIR/kustomize" && -f "$stamp" ]]; then
  log "kustomize $KUSTOMIZE_VERSION already built"
  echo "$TOOLS_DIR/kustomize"
  exit 0
fi

# 2. Build from the Go module.
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { log "no Go toolchain found (set GO=/path/to/go)"; exit 1; }
log "building kustomize $KUSTOMIZE_VERSION from sigs.k8s.io/kustomize/kustomize/v5"
start=$SECONDS
build_dir="$(mktemp -d)"
trap 'rm -rf "$build_dir"' EXIT
# `go install module@version` ignores any go.mod around it; GOBIN puts the binary in the cache.
(
  cd "$build_dir"
  # The version stamp as kustomize's own release build sets it (`kustomize version`).
  CGO_ENABLED=0 GOBIN="$build_dir" "$GO" install -trimpath \
    -ldflags "-s -w -X sigs.k8s.io/kustomize/api/provenance.version=$KUSTOMIZE_VERSION" \
    "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION" >&2
)
mv "$build_dir/kustomize" "$TOOLS_DIR/kustomize"
rm -f "$TOOLS_DIR"/.kustomize-*
touch "$stamp"
log "kustomize built in $((SECONDS - start))s"
echo "$TOOLS_DIR/kustomize"
