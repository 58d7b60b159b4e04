#!/usr/bin/env bash
# Builds real Argo CD (the multi-call `argocd` binary: application-controller, repo-server,
# server and CLI) from the Go module proxy into a cache outside the repository, for the e2e
# tests (test/support/argocd.ts) and the demo (scripts/demo.ts), and prints the cache dir.
#
# Example:
#   dir="$(bash scripts/setup-argocd.sh)"   # first run: ~15-30 min of 2 cores; then instant
#   ARGOCD_BINARY_NAME=argocd-repo-server "$dir/bin/argocd" --help
#
# Layout of the cache dir:
#   bin/argocd                 the binary (version stamped 3.5.1)
#   bin/git-verify-wrapper.sh  from the module's hack/ (the repo-server calls them from PATH)
#   bin/gpg-wrapper.sh
#   bin/kustomize              link to a kustomize v5 (scripts/setup-kustomize.sh); the
#                              repo-server runs it for kustomize applications
#   crds/*.yaml                the module's manifests/crds/
#
# A wrapper module requires github.com/argoproj/argo-cd/v3 and repeats argo-cd's own
# `replace` directives (a dependent module does not inherit them): the version replaces of
# its go.mod (golang/protobuf, grpc-gateway, x/tools, yaml.v2, every k8s.io/* staging module)
# read from the downloaded go.mod, plus the gitops-engine sub-module, which argo-cd satisfies
# from ./gitops-engine and which the proxy serves only at a later pseudo-version.
#
# Idempotent: a finished build leaves a stamp file, and a second run returns at once.
# Logs go to stderr; stdout is only the directory.
#
# Environment:
#   ARGOCD_AGENT_ARGOCD_DIR  cache dir (default $HOME/.cache/argocd-agent-ts/argocd)
#   ARGOCD_VERSION           pinned release (default below)
#   GO                       go binary (default: go on PATH, else /usr/local/go/bin/go)
#   BUILD_PARALLELISM        `go build -p` (default 2)
set -euo pipefail

ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.1}"
GITOPS_ENGINE_VERSION="${GITOPS_ENGINE_VERSION:-v0.0.0-20260827090335-e258ee23c3e5}"
CACHE_DIR="${ARGOCD_AGENT_ARGOCD_DIR:-$HOME/.cache/argocd-agent-ts/argocd}"
BUILD_PARALLELISM="${BUILD_PARALLELISM:-2}"
MODULE=github.com/argoproj/argo-cd/v3
STAMP="$CACHE_DIR/.argocd-$ARGOCD_VERSION"

log() { echo "setup-argocd: $*" >&2; }

# The repo-server shells out to `kustomize`; kubectl's embedded one is not a drop-in.
link_kustomize() {
  [[ -x "$CACHE_DIR/bin/kustomize" ]] && return
  local k
  k="$(bash "$(dirname "${BASH_SOURCE[0]}")/setup-kustomize.sh")"
  mkdir -p "$CACHE_DIR/bin" && ln -sf "$k" "$CACHE_DIR/bin/kustomize"
}

if [[ -x "$CACHE_DIR/bin/argocd" && -f "$STAMP" ]]; then
  link_kustomize
  log "argocd $ARGOCD_VERSION already built"
  echo "$CACHE_DIR"
  exit 0
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { log "no Go toolchain found (set GO=/path/to/go)"; exit 1; }
export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local

start=$SECONDS
mkdir -p "$CACHE_DIR/bin" "$CACHE_DIR/crds"
src="$CACHE_DIR/src/argocd-$ARGOCD_VERSION"
log "building argocd $ARGOCD_VERSION in $src; this takes 15-30 minutes on 2 cores"

info="$("$GO" mod download -json "$MODULE@$ARGOCD_VERSION")"
gomod="$(sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p' <<<"$info")"
moddir="$(sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p' <<<"$info")"
[[ -f "$gomod" && -d "$moddir" ]] || { log "could not download $MODULE@$ARGOCD_VERSION"; exit 1; }

# Every `old => new version` replace of argo-cd's go.mod (inside or outside a block).
replaces="$(sed -n 's#^\s*\(replace \)\?\([A-Za-z0-9._/-]*\) => \([A-Za-z0-9._/-]*\) \(v[^ ]*\)\s*$#replace \2 => \3 \4#p' "$gomod")"
grep -q 'k8s.io/client-go' <<<"$replaces" || { log "no k8s.io replace block found in $gomod"; exit 1; }
replaces+=$'\n'"replace github.com/argoproj/argo-cd/gitops-engine => github.com/argoproj/argo-cd/gitops-engine $GITOPS_ENGINE_VERSION"

rm -rf "$src" && mkdir -p "$src"
printf 'module argocd-agent-ts/argocd-build\n\ngo 1.25\n\nrequire %s %s\n\n%s\n' \
  "$MODULE" "$ARGOCD_VERSION" "$replaces" >"$src/go.mod"
(
  cd "$src"
  "$GO" get "$MODULE/cmd@$ARGOCD_VERSION" >&2
  "$GO" build -p "$BUILD_PARALLELISM" -trimpath \
    -ldflags "-s -w -X $MODULE/common.version=${ARGOCD_VERSION#v}" \
    -o "$CACHE_DIR/bin/argocd.tmp" "$MODULE/cmd" >&2
)
mv "$CACHE_DIR/bin/argocd.tmp" "$CACHE_DIR/bin/argocd"

for f in git-verify-wrapper.sh gpg-wrapper.sh; do
  install -m 0755 "$moddir/hack/$f" "$CACHE_DIR/bin/$f"
done
rm -f "$CACHE_DIR/crds/"*.yaml
for f in "$moddir/manifests/crds/"*-crd.yaml; do install -m 0644 "$f" "$CACHE_DIR/crds/"; done

"$CACHE_DIR/bin/argocd" version --client --short >&2 || { log "built binary does not run"; exit 1; }
link_kustomize
touch "$STAMP"
log "argocd $ARGOCD_VERSION built in $((SECONDS - start))s"
echo "$CACHE_DIR"
