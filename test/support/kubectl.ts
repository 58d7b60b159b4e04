/**
 * kubectl for tests that use the resource proxy as a user would: the binary on
 * PATH, else the one scripts/setup-kubectl.sh built into the tools cache, and a
 * kubeconfig writer for a server reached with a client certificate.
 *
 * @example
 *   const kc = writeClientKubeconfig(dir, "rp", { server: "https://127.0.0.1:9090", caFile, certFile, keyFile });
 *   const r = await kubectl(kc, ["get", "cm", "c", "-n", "ns", "-o", "json"]);
 */
import { execFile } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";

export function findKubectl(): string {
  for (const dir of (process.env.PATH ?? "").split(":")) if (dir && existsSync(join(dir, "kubectl"))) return join(dir, "kubectl");
  const cached = join(process.env.ARGOCD_AGENT_TOOLS_DIR || join(homedir(), ".cache", "argocd-agent-ts", "tools"), "kubectl");
  if (existsSync(cached)) return cached;
  throw new Error("kubectl not found on PATH or in the tools cache: run scripts/setup-kubectl.sh");
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function kubectl(kubeconfig: string, args: string[], timeoutMs = 30_000): Promise<KubectlResult> {
  return new Promise((resolve) => {
    execFile(findKubectl(), ["--kubeconfig", kubeconfig, "--request-timeout", "40s", ...args], { timeout: timeoutMs, env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent" } }, (err, stdout, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

export function writeClientKubeconfig(dir: string, name: string, o: { server: string; caFile: string; certFile: string; keyFile: string; token?: string }): string {
  const file = join(dir, `${name}.kubeconfig`);
  const user = [`    client-certificate: ${o.certFile}`, `    client-key: ${o.keyFile}`, ...(o.token ? [`    token: ${o.token}`] : [])].join("\n");
  writeFileSync(
    file,
    `apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: ${o.server}\n    certificate-authority: ${o.caFile}\nusers:\n- name: u\n  user:\n${user}\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\n`,
  );
  return file;
}
