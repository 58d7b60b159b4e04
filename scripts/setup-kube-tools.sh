#!/usr/bin/env bash
# Makes real `kube-apiserver` and `etcd` binaries available for the e2e tests
# (test/support/kube-env.ts) and prints the directory that holds them.
#
# Sources, in order:
#   1. $KUBEBUILDER_ASSETS, if it holds both binaries (printed as is);
#   2. both binaries on PATH (symlinked into the tools dir);
#   3. built from the official Go modules through the Go module proxy
#      (k8s.io/kubernetes for kube-apiserver, go.etcd.io/etcd/server/v3 for etcd),
#      into a cache outside the repository.
# An etcd on PATH is reused only if it is 3.5 or newer. kube-apiserver 1.34 does
# start on Debian's etcd 3.4 (/usr/bin/etcd), but degraded ("RequestWatchProgress
# feature is not supported", so no consistent reads from the watch cache) and
# without --unsafe-no-fsync; etcd 3.5 builds in under two minutes, so we build it.
#
# Idempotent: a finished build leaves a stamp file, and a second run returns at once.
# Logs go to stderr; stdout is only the directory.
#
# Environment:
#   ARGOCD_AGENT_TOOLS_DIR  cache dir (default $HOME/.cache/argocd-agent-ts/tools)
#   KUBE_VERSION / ETCD_VERSION  pinned releases (defaults below)
#   GO                      go binary (default: go on PATH, else /usr/local/go/bin/go)
#   BUILD_PARALLELISM       `go build -p` (default 2; the builds are memory and CPU heavy)
set -euo pipefail

KUBE_VERSION="${KUBE_VERSION:-v1.34.4}"
ETCD_VERSION="${ETCD_VERSION:-v3.5.35}"
TOOLS_DIR="${ARGOCD_AGENT_TOOLS_DIR:-$HOME/.cache/argocd-agent-ts/tools}"
BUILD_PARALLELISM="${BUILD_PARALLELISM:-2}"

log() { echo "setup-kube-tools: $*" >&2; }

has_both() { [[ -x "$1/kube-apiserver" && -x "$1/etcd" ]]; }

# 1. KUBEBUILDER_ASSETS wins, exactly as envtest does it.
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]] && has_both "$KUBEBUILDER_ASSETS"; then
  log "using KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS"
  echo "$KUBEBUILDER_ASSETS"
  exit 0
fi

mkdir -p "$TOOLS_DIR"

# True if the etcd binary at $1 is version 3.5 or newer.
etcd_is_recent() {
  local v
  v="$("$1" --version 2>/dev/null | sed -n 's/^etcd Version: \([0-9]*\)\.\([0-9]*\).*/\1 \2/p')"
  [[ -n "$v" ]] || return 1
  read -r major minor <<<"$v"
  (( major > 3 || (major == 3 && minor >= 5) ))
}

# 2. Both on PATH (and etcd recent enough): link them into the cache.
path_apiserver="$(command -v kube-apiserver || true)"
path_etcd="$(command -v etcd || true)"
if [[ -n "$path_apiserver" && -n "$path_etcd" ]] && etcd_is_recent "$path_etcd"; then
  log "using kube-apiserver and etcd from PATH"
  ln -sf "$path_apiserver" "$TOOLS_DIR/kube-apiserver"
  ln -sf "$path_etcd" "$TOOLS_DIR/etcd"
  echo "$TOOLS_DIR"
  exit 0
fi

# 3. Build from the Go modules.
GO="${GO:-$(command -v go || echo /usr/local/go/bin/go)}"
[[ -x "$GO" ]] || { log "no Go toolchain found (set GO=/path/to/go)"; exit 1; }
export CGO_ENABLED=0 GOFLAGS="-mod=mod" GOTOOLCHAIN=local
SRC_DIR="$TOOLS_DIR/src"

# Writes a wrapper module in $1 named $2 that requires $3@$4; extra go.mod text in $5.
write_wrapper() {
  local dir="$1" name="$2" mod="$3" version="$4" extra="${5:-}"
  rm -rf "$dir" && mkdir -p "$dir"
  printf 'module %s\n\ngo 1.24\n\nrequire %s %s\n%s\n' "$name" "$mod" "$version" "$extra" >"$dir/go.mod"
}

build_kube_apiserver() {
  local stamp="$TOOLS_DIR/.kube-apiserver-$KUBE_VERSION"
  if [[ -x "$TOOLS_DIR/kube-apiserver" && -f "$stamp" ]]; then
    log "kube-apiserver $KUBE_VERSION already built"
    return
  fi
  local staging_version="v0.${KUBE_VERSION#v1.}"
  local dir="$SRC_DIR/kube-apiserver-$KUBE_VERSION"
  log "building kube-apiserver $KUBE_VERSION (staging modules $staging_version); this takes a while"
  local start=$SECONDS

  # k8s.io/kubernetes requires its staging modules at v0.0.0 and replaces them with
  # ./staging; a dependent module must replace each with the published release.
  local gomod
  gomod="$("$GO" mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/^\s*"GoMod": "\(.*\)",\?$/\1/p')"
  [[ -f "$gomod" ]] || { log "could not download k8s.io/kubernetes@$KUBE_VERSION"; exit 1; }
  local replaces
  replaces="$(sed -n 's#^\s*\(k8s\.io/[A-Za-z0-9._/-]*\) => \./staging/.*#\1#p' "$gomod" |
    while read -r m; do echo "replace $m => $m $staging_version"; done)"
  [[ -n "$replaces" ]] || { log "no staging replace block found in $gomod"; exit 1; }

  write_wrapper "$dir" "argocd-agent-ts/kube-apiserver-build" k8s.io/kubernetes "$KUBE_VERSION" "$replaces"
  (
    cd "$dir"
    "$GO" get "k8s.io/kubernetes/cmd/kube-apiserver@$KUBE_VERSION" >&2
    # Version stamps as the upstream build sets them, so /version reports the release.
    local pkg=k8s.io/component-base/version minor="${KUBE_VERSION#v1.}"
    minor="${minor%%.*}"
    "$GO" build -p "$BUILD_PARALLELISM" -trimpath \
      -ldflags "-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z" \
      -o "$TOOLS_DIR/kube-apiserver.tmp" k8s.io/kubernetes/cmd/kube-apiserver >&2
  )
  mv "$TOOLS_DIR/kube-apiserver.tmp" "$TOOLS_DIR/kube-apiserver"
  touch "$stamp"
  log "kube-apiserver built in $((SECONDS - start))s"
}

build_etcd() {
  local stamp="$TOOLS_DIR/.etcd-$ETCD_VERSION"
  if [[ -x "$TOOLS_DIR/etcd" && ! -L "$TOOLS_DIR/etcd" && -f "$stamp" ]]; then
    log "etcd $ETCD_VERSION already built"
    return
  fi
  if [[ -n "$path_etcd" ]] && etcd_is_recent "$path_etcd"; then
    log "using etcd from PATH ($path_etcd)"
    ln -sf "$path_etcd" "$TOOLS_DIR/etcd"
    return
  fi
  local dir="$SRC_DIR/etcd-$ETCD_VERSION"
  log "building etcd $ETCD_VERSION"
  local start=$SECONDS
  write_wrapper "$dir" "argocd-agent-ts/etcd-build" go.etcd.io/etcd/server/v3 "$ETCD_VERSION"
  (
    cd "$dir"
    "$GO" get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >&2
    "$GO" build -p "$BUILD_PARALLELISM" -trimpath -ldflags "-s -w" \
      -o "$TOOLS_DIR/etcd.tmp" go.etcd.io/etcd/server/v3 >&2
  )
  mv "$TOOLS_DIR/etcd.tmp" "$TOOLS_DIR/etcd"
  touch "$stamp"
  log "etcd built in $((SECONDS - start))s"
}

if [[ -n "$path_apiserver" ]]; then
  log "using kube-apiserver from PATH ($path_apiserver)"
  ln -sf "$path_apiserver" "$TOOLS_DIR/kube-apiserver"
else
  build_kube_apiserver
fi
build_etcd

has_both "$TOOLS_DIR" || { log "binaries missing in $TOOLS_DIR"; exit 1; }
echo "$TOOLS_DIR"
