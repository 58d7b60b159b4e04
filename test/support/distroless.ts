/**
 * A distroless-like root directory for one executable, to run it with chroot as uid 65532
 * where no container engine exists: the executable plus exactly the shared libraries it needs,
 * each of which must be one that gcr.io/distroless/cc-debian12 ships (glibc, libstdc++,
 * libgcc_s), at the paths that image has; no /etc, /tmp or /proc. For linux-arm64 on an x64
 * machine the libraries come from Debian's *-arm64-cross packages and the root also holds
 * qemu-aarch64-static (Debian's qemu-user-static, a static binary), which runs the executable.
 *
 * @example
 *   const root = distrolessRoot("dist/release/argocd-agent-linux-arm64", "arm64");
 *   execFileSync("chroot", root.chrootArgs(["version"]));   // argocd-agent-0.1.0
 *   root.remove();
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

// distroless/cc-debian12 ships glibc, libstdc++ and libgcc_s and nothing else we could use.
export const DISTROLESS_CC_LIBS = /^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|ld-linux-aarch64|libstdc\+\+|libgcc_s)\.so/;

/** Where Debian's cross packages (libc6-arm64-cross, libstdc++6-arm64-cross) put arm64 libraries. */
export const ARM64_SYSROOT = "/usr/aarch64-linux-gnu/lib";
export const QEMU_AARCH64 = "/usr/bin/qemu-aarch64-static";

export interface DistrolessRoot {
  root: string;
  /** Arguments for chroot(8) that run the executable in the root as 65532:65532. */
  chrootArgs(args: string[]): string[];
  remove(): void;
}

function place(root: string, from: string, to: string): void {
  mkdirSync(join(root, dirname(to)), { recursive: true, mode: 0o755 });
  copyFileSync(from, join(root, to));
}

/** [source on this machine, path in the image] for each library `exe` needs. */
function libraries(exe: string, arch: "x64" | "arm64"): [string, string][] {
  if (arch === "x64") {
    const out: [string, string][] = [];
    for (const line of execFileSync("ldd", [exe], { encoding: "utf8" }).split("\n")) {
      const path = /(\/\S+)/.exec(line)?.[1];
      if (path) out.push([path, path]);
    }
    return out;
  }
  for (const need of [QEMU_AARCH64, `${ARM64_SYSROOT}/ld-linux-aarch64.so.1`]) {
    if (!existsSync(need)) throw new Error(`${need} is missing: bash scripts/setup.sh installs qemu-user-static and the arm64 cross libraries`);
  }
  // The arm64 loader's own ldd mode, under qemu; it prints guest paths such as /lib/libc.so.6.
  const list = execFileSync(QEMU_AARCH64, ["-L", dirname(ARM64_SYSROOT), `${ARM64_SYSROOT}/ld-linux-aarch64.so.1`, "--list", exe], { encoding: "utf8" });
  const out: [string, string][] = [[`${ARM64_SYSROOT}/ld-linux-aarch64.so.1`, "/lib/ld-linux-aarch64.so.1"]];
  for (const line of list.split("\n")) {
    const name = /^\s*(\S+\.so[.\d]*) => /.exec(line)?.[1];
    if (name && !name.startsWith("/")) out.push([`${ARM64_SYSROOT}/${name}`, `/lib/aarch64-linux-gnu/${name}`]);
  }
  return out;
}

export function distrolessRoot(exe: string, arch: "x64" | "arm64"): DistrolessRoot {
  const root = mkdtempSync(join(tmpdir(), `distroless-${arch}-`));
  try {
    chmodSync(root, 0o755);
    copyFileSync(exe, join(root, "argocd-agent"));
    chmodSync(join(root, "argocd-agent"), 0o555);
    for (const [from, to] of libraries(exe, arch)) {
      const base = to.split("/").pop()!;
      if (!DISTROLESS_CC_LIBS.test(base)) throw new Error(`the executable needs ${base}, which distroless/cc does not ship`);
      place(root, from, to);
    }
    if (arch === "arm64") {
      copyFileSync(QEMU_AARCH64, join(root, "qemu-aarch64-static"));
      chmodSync(join(root, "qemu-aarch64-static"), 0o555);
    }
  } catch (err) {
    rmSync(root, { recursive: true, force: true });
    throw err;
  }
  const prefix = arch === "arm64" ? ["/qemu-aarch64-static", "/argocd-agent"] : ["/argocd-agent"];
  return {
    root,
    chrootArgs: (args) => ["--userspec=65532:65532", root, ...prefix, ...args],
    remove: () => rmSync(root, { recursive: true, force: true }),
  };
}
