# The runtime image: the single executable on distroless/cc (glibc, libstdc++,
# libgcc_s; no shell, no package manager), running as uid 65532.
# Build the executable first on linux/amd64: npm ci && npm run build
# test/integration/artifacts.test.ts proves the same layout in a chroot, since
# no Docker engine is available where this project is tested.
FROM gcr.io/distroless/cc-debian12:nonroot
COPY --chmod=0555 dist/argocd-agent-linux-x64 /bin/argocd-agent
USER 65532:65532
ENTRYPOINT ["/bin/argocd-agent"]
