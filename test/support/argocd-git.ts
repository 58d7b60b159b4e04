/**
 * A git repository for real Argo CD to sync from: a work tree the test writes and commits to,
 * served read-only by `git daemon` on a free loopback port (git://127.0.0.1:port/apps). The
 * sample content has a plain-manifest app (`guestbook/`: ConfigMap + Service) and a kustomize
 * app (`kustomized/`: configMapGenerator + a Service); only kinds that need no kubelet, so the
 * real health checks report Healthy on a bare kube-apiserver.
 *
 * @example
 *   const git = await startGitRepo(join(dir, "git"));
 *   after(() => git.stop());
 *   const rev = git.head();                               // commit the apps sync to
 *   const rev2 = git.commit({ "guestbook/configmap.yaml": "…" }, "bump");
 *   // Application source: { repoURL: git.url, path: "guestbook", targetRevision: "HEAD" }
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { freePort, logTail, startProcess, stopProcess } from "./kube-processes.ts";

export interface GitRepo {
  /** git://127.0.0.1:port/apps */
  url: string;
  workTree: string;
  /** Full sha of HEAD. */
  head(): string;
  /** Writes the files (path → content), commits them and returns the new sha. */
  commit(files: Record<string, string>, message: string): string;
  stop(): Promise<void>;
}

const GIT_ENV = {
  GIT_AUTHOR_NAME: "argocd-agent-ts", GIT_AUTHOR_EMAIL: "test@argocd-agent-ts.invalid",
  GIT_COMMITTER_NAME: "argocd-agent-ts", GIT_COMMITTER_EMAIL: "test@argocd-agent-ts.invalid",
  GIT_CONFIG_NOSYSTEM: "1", GIT_CONFIG_GLOBAL: "/dev/null",
};

/** A ConfigMap manifest; `data` decides the content (and so what a new commit changes). */
export function configMapYaml(name: string, data: Record<string, string>): string {
  const lines = Object.entries(data).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`);
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n${lines.join("\n")}\n`;
}

export function serviceYaml(name: string, port = 80): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n  type: ClusterIP\n  ports:\n    - port: ${port}\n      targetPort: ${port}\n  selector:\n    app: ${name}\n`;
}

export const SAMPLE_FILES: Record<string, string> = {
  "guestbook/configmap.yaml": configMapYaml("guestbook-config", { greeting: "hello from git", version: "1" }),
  "guestbook/service.yaml": serviceYaml("guestbook-ui"),
  "kustomized/kustomization.yaml": [
    "apiVersion: kustomize.config.k8s.io/v1beta1", "kind: Kustomization", "namePrefix: kust-",
    "commonLabels:", "  app.kubernetes.io/name: kustomized", "resources:", "  - service.yaml",
    "configMapGenerator:", "  - name: settings", "    literals:", "      - color=blue", "",
  ].join("\n"),
  "kustomized/service.yaml": serviceYaml("web", 8080),
};

export async function startGitRepo(baseDir: string, files: Record<string, string> = SAMPLE_FILES): Promise<GitRepo> {
  const workTree = join(baseDir, "apps");
  mkdirSync(workTree, { recursive: true });
  const git = (...args: string[]) =>
    execFileSync("git", ["-C", workTree, ...args], { encoding: "utf8", env: { ...process.env, ...GIT_ENV } }).trim();
  git("init", "-q", "-b", "main");
  const repo: Omit<GitRepo, "url" | "stop"> = {
    workTree,
    head: () => git("rev-parse", "HEAD"),
    commit(changes, message) {
      for (const [path, content] of Object.entries(changes)) {
        mkdirSync(dirname(join(workTree, path)), { recursive: true });
        writeFileSync(join(workTree, path), content);
      }
      git("add", "-A");
      git("commit", "-q", "-m", message);
      return git("rev-parse", "HEAD");
    },
  };
  repo.commit(files, "sample applications");

  const port = await freePort();
  const daemon = startProcess("git daemon", "git", [
    "daemon", "--export-all", "--reuseaddr", "--informative-errors", `--base-path=${baseDir}`,
    "--listen=127.0.0.1", `--port=${port}`, baseDir,
  ], join(baseDir, "git-daemon.log"));
  const url = `git://127.0.0.1:${port}/apps`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (daemon.exited) throw new Error(`git daemon exited:\n${logTail(daemon)}`);
    try {
      execFileSync("git", ["ls-remote", url], { stdio: "ignore", env: { ...process.env, ...GIT_ENV }, timeout: 5000 });
      break;
    } catch {
      if (Date.now() > deadline) throw new Error(`git daemon not serving ${url}:\n${logTail(daemon)}`);
      await sleep(100);
    }
  }
  return { ...repo, url, stop: () => stopProcess(daemon) };
}
