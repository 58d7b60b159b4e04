/**
 * The control plane for the replication scenarios: a real kube-apiserver from
 * test/support/kube-env.ts, one namespace per agent, and bulk creation of
 * Applications stamped with the time just before their create call.
 *
 * Used only when the principal has replication (src/replication present and
 * wired into src/principal/run.ts); otherwise the burst scenario falls back
 * to agent→principal traffic.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { startKubeEnv, type KubeEnv } from "../../test/support/kube-env.ts";
import { ROOT } from "../../test/support/processes.ts";
import { createKubeClient, type KubeClient } from "../../test/support/kube-client.ts";
import { applications, appProjects, ensureNamespace } from "../../src/kube/crud.ts";
import type { Application, AppProject } from "../../src/kube/resources.ts";

export const CREATED_AT = "bench.argocd-agent.io/created-at";
export const TAG = "bench.argocd-agent.io/tag";

/** True when src/replication has code and the principal's start-up mentions it. */
export function replicationAvailable(): boolean {
  const dir = join(ROOT, "src/replication");
  const hasCode = existsSync(dir) && readdirSync(dir).some((f) => f.endsWith(".ts"));
  const wired = /replication/i.test(readFileSync(join(ROOT, "src/principal/run.ts"), "utf8"));
  return hasCode && wired;
}

export class Replication {
  readonly env: KubeEnv;
  readonly kube: KubeClient;
  readonly kubeconfigPath: string;
  private readonly namespaces = new Set<string>();

  private constructor(env: KubeEnv) {
    this.env = env;
    const cp = env.cluster("control-plane");
    this.kubeconfigPath = cp.kubeconfigPath;
    this.kube = createKubeClient(cp.kubeConfig);
  }

  static async start(): Promise<Replication> {
    return new Replication(await startKubeEnv({ clusters: ["control-plane"], namespaces: ["argocd"] }));
  }

  /** Principal flags for this control plane. */
  principalArgs(): string[] {
    return ["--kubeconfig", this.kubeconfigPath, "--allowed-namespaces", "agent-*"];
  }

  async ensureNamespaces(names: string[], concurrency = 16): Promise<void> {
    const todo = names.filter((n) => !this.namespaces.has(n));
    await pool(todo, concurrency, async (n) => {
      await ensureNamespace(this.kube, n);
      this.namespaces.add(n);
    });
  }

  /** Creates Applications `name` in namespace `ns`, `concurrency` at a time. Returns ms taken. */
  async createApps(items: { ns: string; name: string }[], tag: string, concurrency = 32): Promise<number> {
    await this.ensureNamespaces([...new Set(items.map((i) => i.ns))]);
    const apps = applications(this.kube);
    const t0 = performance.now();
    await pool(items, concurrency, async ({ ns, name }) => {
      const app: Application = {
        metadata: { name, namespace: ns, annotations: { [CREATED_AT]: String(Date.now()), [TAG]: tag } },
        spec: {
          project: "default",
          source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: "guestbook", targetRevision: "HEAD" },
          destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
        },
      } as Application;
      await apps.create(app);
    });
    return performance.now() - t0;
  }

  /**
   * Creates AppProjects in the principal namespace that match every agent
   * (destination name and sourceNamespaces `agent-*`): each one fans out to all
   * managed agents. Returns ms taken.
   */
  async createFanoutProjects(names: string[], tag: string): Promise<number> {
    const projects = appProjects(this.kube);
    const t0 = performance.now();
    await pool(names, 8, async (name) => {
      const proj: AppProject = {
        metadata: { name, namespace: "argocd", annotations: { [CREATED_AT]: String(Date.now()), [TAG]: tag } },
        spec: {
          sourceRepos: ["*"],
          sourceNamespaces: ["agent-*"],
          destinations: [{ name: "agent-*", namespace: "*", server: "*" }],
        },
      };
      await projects.create(proj);
    });
    return performance.now() - t0;
  }

  stop(): Promise<void> {
    return this.env.stop();
  }
}

async function pool<T>(items: T[], concurrency: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
