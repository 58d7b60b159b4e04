# The runtime image: the single executable on distroless/cc (glibc, libstdc++,
# libgcc_s; no shell, no package manager), running as uid 65532, for linux/amd64
# and linux/arm64. The architecture comes from BuildKit's TARGETARCH, which picks
# the matching release executable (our names say x64 where Docker says amd64).
# Build the release first (any linux/amd64 machine): npm ci && npm run release
#   docker buildx build --platform linux/amd64,linux/arm64 -t argocd-agent-ts .
# test/integration/artifacts.test.ts and test/release/release.test.ts prove the
# same layout in a chroot, since no Docker engine is available where this
# project is tested; the latter also checks this file's architecture mapping.
ARG TARGETARCH

FROM scratch AS executable-amd64
COPY dist/release/argocd-agent-linux-x64 /argocd-agent

FROM scratch AS executable-arm64
COPY dist/release/argocd-agent-linux-arm64 /argocd-agent

FROM executable-${TARGETARCH} AS executable

FROM gcr.io/distroless/cc-debian12:nonroot
COPY --from=executable --chmod=0555 /argocd-agent /bin/argocd-agent
USER 65532:65532
ENTRYPOINT ["/bin/argocd-agent"]
