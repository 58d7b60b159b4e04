#!/usr/bin/env bash
# Makes a kubectl binary available for the live-resource tests (test/support/kubectl.ts),
# which drive the resource proxy the way a user does, and prints its path.
#
# Sources, in order:
#   1. `kubectl` on PATH (any 1.2x/1.3x client);
#   2. built from k8s.io/kubernetes at $KUBE_VERSION (the same release as the test
#      kube-apiserver, see setup-kube-tools.sh) through the Go module proxy, into the cache.
#
# Idempotent: a finished build leaves a stamp file, and a second run returns at once.
# Logs go to stderr; stdout is only the binary's path.
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
TOOLS_DIR="${ARGOCD_AGENT_TOOLS_DIR:-$HOME/.cache/argocd-agent-ts/tools}"
log() { echo "setup-kubectl: $*" >&2; }

if path_kubectl="$(command -v kubectl)"; then
  log "using kubectl from PATH ($path_kubectl)"
  echo "$path_kubectl"
  exit 0
fi
stamp="$TOOLS_DIR/.kubectl-$KUBE_VERSION"
if [[ -x "$TOOLS_DIR/kubectl" && -f "$stamp" ]]; then
  log "kubectl $KUBE_VERSION already built"
  echo "$TOOLS_DIR/kubectl"
  exit 0
fi
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local
dir="$TOOLS_DIR/src/kubectl-$KUBE_VERSION"
staging_version="v0.${KUBE_VERSION#v1.}"
mkdir -p "$TOOLS_DIR"
log "building kubectl $KUBE_VERSION"
start=$SECONDS
gomod="$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
[[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
replaces="$(sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/.*#\1#p' "$gomod" |
  while read -r m; do echo "replace $m => $m $staging_version"; done)"
rm -rf "$dir" && mkdir -p "$dir"
printf 'module argocd-agent-ts/kubectl-build\n\ngo 1.24\n\nrequire k8s.io/kubernetes %s\n%s\n' "$KUBE_VERSION" "$replaces" >"$dir/go.mod"
(
  cd "$dir"
  "$GO" get "k8s.io/kubernetes/cmd/kubectl@$KUBE_VERSION" >&2
  pkg=k8s.io/client-go/pkg/version
  "$GO" build -p "${BUILD_PARALLELISM:-2}" -trimpath -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION" \
    -o "$TOOLS_DIR/kubectl.tmp" k8s.io/kubernetes/cmd/kubectl >&2
)
mv "$TOOLS_DIR/kubectl.tmp" "$TOOLS_DIR/kubectl"
touch "$stamp"
log "kubectl built in $((SECONDS - start))s"
echo "$TOOLS_DIR/kubectl"
