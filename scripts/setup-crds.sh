#!/usr/bin/env bash
# Fetches the upstream CustomResourceDefinitions the tests install into their real
# kube-apiservers, from the Go module proxy, into a cache outside the repository:
#   argocd/  Argo CD's manifests/crds/*-crd.yaml of github.com/argoproj/argo-cd/v3 (pinned
#            like scripts/setup-argocd.sh): Application, AppProject, ApplicationSet
#   istio/   crd-all.gen.yaml of istio.io/istio (manifests/charts/base/files/), split one
#            CRD per file by the tests
# Linkerd's CRDs are not served by the module proxy here (github.com/linkerd/linkerd2 is
# refused), so test/support/crds/mesh/linkerd.yaml stays a minimal structural copy.
#
# Example:
#   dir="$(bash scripts/setup-crds.sh)"; ls "$dir/argocd" "$dir/istio"
#
# Idempotent (a stamp per pinned version); a second run returns at once. Logs go to
# stderr; stdout is only the directory.
#
# Environment:
#   ARGOCD_AGENT_CRD_DIR  cache dir (default $HOME/.cache/argocd-agent-ts/crds)
#   ARGOCD_VERSION        Argo CD release (default as scripts/setup-argocd.sh)
#   ISTIO_VERSION         istio.io/istio module version (default below)
#   GO                    go binary (default: go on PATH, else /usr/local/go/bin/go)
set -euo pipefail

ARGOCD_VERSION="${ARGOCD_VERSION:-v3.5.1}"
# istio.io/istio publishes no module versions for its releases; the proxy serves this
# pseudo-version of master (late August 2026, Istio 1.28 development).
ISTIO_VERSION="${ISTIO_VERSION:-v0.0.0-20260827124520-eed52ebb66ad}"
CACHE_DIR="${ARGOCD_AGENT_CRD_DIR:-$HOME/.cache/argocd-agent-ts/crds}"
STAMP="$CACHE_DIR/.crds-argocd-$ARGOCD_VERSION-istio-$ISTIO_VERSION"

log() { echo "setup-crds: $*" >&2; }

if [[ -f "$STAMP" ]]; then
  echo "$CACHE_DIR"
  exit 0
fi

GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { log "no Go toolchain found (set GO=/path/to/go)"; exit 1; }
export GOFLAGS="-mod=mod" GOTOOLCHAIN=local

module_dir() {
  local info dir
  info="$("$GO" mod download -json "$1@$2")" || { log "could not download $1@$2"; exit 1; }
  dir="$(sed -n 's/^\s*"Dir": "\(.*\)",\?$/\1/p' <<<"$info")"
  [[ -d "$dir" ]] || { log "no module directory for $1@$2"; exit 1; }
  echo "$dir"
}

argocd="$(module_dir github.com/argoproj/argo-cd/v3 "$ARGOCD_VERSION")"
istio="$(module_dir istio.io/istio "$ISTIO_VERSION")"

rm -rf "$CACHE_DIR/argocd" "$CACHE_DIR/istio"
mkdir -p "$CACHE_DIR/argocd" "$CACHE_DIR/istio"
for f in application appproject applicationset; do
  install -m 0644 "$argocd/manifests/crds/$f-crd.yaml" "$CACHE_DIR/argocd/"
done
install -m 0644 "$istio/manifests/charts/base/files/crd-all.gen.yaml" "$CACHE_DIR/istio/"
rm -f "$CACHE_DIR"/.crds-*
touch "$STAMP"
log "CRDs of Argo CD $ARGOCD_VERSION and istio $ISTIO_VERSION in $CACHE_DIR"
echo "$CACHE_DIR"
