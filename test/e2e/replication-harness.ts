/**
 * Shared set-up of the replication e2e tests: real API servers
 * (control-plane, agent-managed, agent-auto), a principal and agents run
 * in-process over loopback plaintext with userpass credentials, restartable.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startAgent, type AgentRuntime } from "../../src/agent/run.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { applications, appProjects, ensureNamespace } from "../../src/kube/crud.ts";
import { startPrincipal } from "../../src/principal/run.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { freePort } from "../support/processes.ts";
import { startKubeEnv, type KubeEnv, type KubeEnvOptions } from "../support/kube-env.ts";

export const MANAGED = "agent-managed";
export const AUTO = "agent-auto";

export interface AgentSpec {
  /** The kube-env cluster the agent runs against. */
  cluster: string;
  mode: "managed" | "autonomous";
  /** Create the namespace named after the agent on the control plane (default true). */
  principalNamespace?: boolean;
}

export interface HarnessOptions {
  /** Clusters besides "control-plane" (default: one per default agent). */
  clusters?: string[];
  /** Agents by name (default: MANAGED on its own cluster, AUTO on its own cluster). */
  agents?: Record<string, AgentSpec>;
  /** Extra kube-apiserver flags for every cluster. */
  apiserverFlags?: KubeEnvOptions["apiserverFlags"];
}

export interface Harness {
  env: KubeEnv;
  cp: KubeClient;
  /** Client of the cluster named MANAGED / AUTO (when the harness has it). */
  managed: KubeClient;
  auto: KubeClient;
  /** Client of any cluster. */
  kube(cluster: string): KubeClient;
  port: number;
  /** The userpass credentials file of an agent (for agents run as processes). */
  credsFile(name: string): string;
  startPrincipal(extra?: Record<string, unknown>): Promise<void>;
  stopPrincipal(): Promise<void>;
  principal(): Awaited<ReturnType<typeof startPrincipal>> | undefined;
  startAgent(name: string, extra?: Record<string, unknown>): Promise<AgentRuntime>;
  stopAgent(name: string): Promise<void>;
  agent(name: string): AgentRuntime | undefined;
  stop(): Promise<void>;
}

const DEFAULT_AGENTS: Record<string, AgentSpec> = {
  [MANAGED]: { cluster: MANAGED, mode: "managed" },
  [AUTO]: { cluster: AUTO, mode: "autonomous" },
};

export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const specs = opts.agents ?? DEFAULT_AGENTS;
  const clusters = opts.clusters ?? [...new Set(Object.values(specs).map((a) => a.cluster))];
  const env = await startKubeEnv({ clusters: ["control-plane", ...clusters], apiserverFlags: opts.apiserverFlags });
  const tmp = mkdtempSync(join(tmpdir(), "argocd-agent-replication-"));
  const cp = createKubeClient(env.cluster("control-plane").kubeConfig);
  const clients = new Map<string, KubeClient>([["control-plane", cp]]);
  const kube = (cluster: string): KubeClient => {
    let k = clients.get(cluster);
    if (!k) clients.set(cluster, (k = createKubeClient(env.cluster(cluster).kubeConfig)));
    return k;
  };
  for (const [name, spec] of Object.entries(specs)) if (spec.principalNamespace !== false) await ensureNamespace(cp, name);
  const passwd = join(tmp, "passwd");
  const lines: string[] = [];
  for (const a of Object.keys(specs)) {
    lines.push(`${a}:${await bcryptHash(`secret-${a}`, 4)}`);
    writeFileSync(join(tmp, `creds-${a}`), `${a}:secret-${a}\n`);
  }
  writeFileSync(passwd, lines.join("\n") + "\n");
  const port = await freePort();
  let principal: Awaited<ReturnType<typeof startPrincipal>> | undefined;
  const agents = new Map<string, AgentRuntime>();
  const h: Harness = {
    env,
    cp,
    get managed() {
      return kube(MANAGED);
    },
    get auto() {
      return kube(AUTO);
    },
    kube,
    port,
    credsFile: (name) => join(tmp, `creds-${name}`),
    async startPrincipal(extra = {}) {
      const { values } = resolveSettings(PRINCIPAL_SETTINGS, {
        namespace: "argocd", listenHost: "127.0.0.1", listenPort: String(port), insecurePlaintext: "true",
        auth: `userpass:${passwd}`, insecureJwtGenerate: "true", healthzPort: "0", metricsPort: "0",
        kubeconfig: env.cluster("control-plane").kubeconfigPath, allowedNamespaces: ["agent-*"], logLevel: "warn", enableResourceProxy: "false", disableRedisProxy: "true", ...extra,
      }, {});
      principal = await startPrincipal(values);
    },
    async stopPrincipal() {
      await principal?.close();
      principal = undefined;
    },
    principal: () => principal,
    async startAgent(name, extra = {}) {
      const spec = specs[name];
      if (!spec) throw new Error(`harness has no agent ${name}`);
      const namespace = typeof extra["namespace"] === "string" ? extra["namespace"] : "argocd";
      await ensureNamespace(kube(spec.cluster), namespace);
      const { values } = resolveSettings(AGENT_SETTINGS, {
        serverAddress: "127.0.0.1", serverPort: String(port), insecurePlaintext: "true", creds: `userpass:${join(tmp, `creds-${name}`)}`,
        namespace, agentMode: spec.mode, healthzPort: "0", metricsPort: "0", logLevel: "warn",
        kubeconfig: env.cluster(spec.cluster).kubeconfigPath, ...extra,
      }, {});
      const a = await startAgent(values);
      agents.set(name, a);
      await eventually(`${name} connected`, () => a.connection.status().state === "connected");
      return a;
    },
    agent: (name) => agents.get(name),
    async stopAgent(name) {
      const a = agents.get(name);
      // AgentConnection ignores an abort that lands between Authenticate and Subscribe of a
      // reconnect (the stream then runs on); stop only once it is connected.
      if (a) await eventually(`${name} connected before stop`, () => a.connection.status().state === "connected").catch(() => undefined);
      await a?.close();
      agents.delete(name);
    },
    async stop() {
      for (const a of agents.values()) await a.close().catch(() => undefined);
      await principal?.close().catch(() => undefined);
      await env.stop();
      rmSync(tmp, { recursive: true, force: true });
    },
  };
  return h;
}

/** Polls until `fn` returns a truthy value (returned) or fails after the timeout. */
export async function eventually<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 20_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await sleep(100);
  }
}

export const apps = (k: KubeClient) => applications(k);
export const projects = (k: KubeClient) => appProjects(k);

export function app(name: string, namespace: string, path = "guestbook", project = "default") {
  return {
    metadata: { name, namespace },
    spec: {
      project,
      source: { repoURL: "https://example.invalid/repo.git", path, targetRevision: "HEAD" },
      destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
    },
  };
}

export const pathOf = (a: { spec?: Record<string, unknown> } | undefined): string | undefined =>
  (a?.spec?.["source"] as { path?: string } | undefined)?.path;
