/**
 * Replication through the mesh path, with real API servers
 * (test/support/kube-env.ts): a managed agent "agent-1" whose name comes from
 * its SPIFFE certificate via the Istio-like sidecars gets the Applications
 * created on the control plane in namespace agent-1, and the status its
 * cluster writes comes back to the control plane.
 *
 * The agent pod also has the 3 s idle-timeout nginx hop and NO heartbeats,
 * so its Subscribe stream is cut whenever it has been quiet for 3 s: changes
 * made on both sides right after a cut, while the agent is between streams,
 * must all arrive (nothing lost).
 *
 * The API servers run on the host's loopback; each pod reaches "its" cluster
 * through bridgeIntoPod (a Unix socket, no network route), with a kubeconfig
 * whose server is 127.0.0.1 inside the pod.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { startKubeEnv, type KubeClusterHandle, type KubeEnv } from "../support/kube-env.ts";
import { bridgeIntoPod, createPodNetwork, type PodBridge, type PodNetwork } from "../support/netns.ts";
import { grpcIdleTimeoutNginx, meshPki, startNginx, type Sidecar } from "../support/sidecars.ts";
import { PORTS, startAgentPod, startPrincipalPod, type AgentPod, type PrincipalPod } from "../support/mesh-pods.ts";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { applications, ensureNamespace } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";

const AGENT = "agent-1";
const NGINX_PORT = 15002;

let env: KubeEnv;
let net: PodNetwork;
let principal: PrincipalPod | undefined;
let agent: AgentPod | undefined;
let nginx: Sidecar | undefined;
const bridges: PodBridge[] = [];
let cp: KubeClient;
let wl: KubeClient;
let cpArgocd: string;
let agentNs: string;
let wlArgocd: string;
let tmp: string;

/** A copy of the cluster's kubeconfig that points at 127.0.0.1:<port> (the bridge inside the pod). */
function podKubeconfig(cluster: KubeClusterHandle, port: number): string {
  const doc = parseYaml(readFileSync(cluster.kubeconfigPath, "utf8")) as { clusters: { cluster: Record<string, unknown> }[] };
  for (const c of doc.clusters) {
    const url = new URL(String(c.cluster.server));
    if (url.hostname !== "127.0.0.1") c.cluster["tls-server-name"] = url.hostname;
    c.cluster.server = `https://127.0.0.1:${port}`;
  }
  const path = join(tmp, `kubeconfig-${cluster.name}-in-pod.yaml`);
  writeFileSync(path, toYaml(doc), { mode: 0o600 });
  return path;
}

async function bridgeCluster(cluster: KubeClusterHandle, pod: Parameters<typeof bridgeIntoPod>[0]): Promise<string> {
  const url = new URL(cluster.server);
  const port = Number(url.port || 443);
  bridges.push(await bridgeIntoPod(pod, { host: url.hostname, port }, { host: "127.0.0.1", port }));
  return podKubeconfig(cluster, port);
}

async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      assert.fail(`timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ""}\n--- principal:\n${principal?.principal.output().slice(-4000)}\n--- agent:\n${agent?.agent.output().slice(-4000)}`);
    }
    await sleep(250);
  }
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "argocd-agent-mesh-replication-"));
  env = await startKubeEnv({ clusters: ["control-plane", AGENT], namespaces: ["argocd", AGENT] });
  const cpCluster = env.cluster("control-plane");
  const wlCluster = env.cluster(AGENT);
  cp = createKubeClient(cpCluster.kubeConfig);
  wl = createKubeClient(wlCluster.kubeConfig);
  cpArgocd = cpCluster.ns("argocd");
  agentNs = cpCluster.ns(AGENT); // namespace-based mapping: the agent's apps live in a namespace named after it
  wlArgocd = wlCluster.ns("argocd");
  await ensureNamespace(cp, agentNs);
  // Upstream sends nothing for an agent without a cluster secret (behavior.md §2.1, §7).
  await cp.core.createNamespacedSecret({
    namespace: cpArgocd,
    body: {
      metadata: {
        name: `cluster-${AGENT}`,
        namespace: cpArgocd,
        labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": AGENT },
        annotations: { "argocd.argoproj.io/skip-reconcile": "true" },
      },
      stringData: { name: AGENT, server: `https://argocd-agent-resource-proxy:9090?agentName=${AGENT}`, config: "{}" },
    },
  });

  net = await createPodNetwork({ subnet: "10.123.25", pods: ["principal", AGENT] });
  const pki = await meshPki();
  const cpKubeconfig = await bridgeCluster(cpCluster, net.pod("principal"));
  const wlKubeconfig = await bridgeCluster(wlCluster, net.pod(AGENT));
  principal = await startPrincipalPod(net.pod("principal"), {
    flavour: "istio",
    pki,
    namespace: cpArgocd,
    extraArgs: ["--kubeconfig", cpKubeconfig, "--allowed-namespaces", agentNs],
  });
  const pod = net.pod(AGENT);
  agent = await startAgentPod(pod, {
    sa: AGENT,
    pki,
    principal,
    namespace: wlArgocd,
    extraArgs: ["--kubeconfig", wlKubeconfig],
    agentTarget: { host: "127.0.0.1", port: NGINX_PORT },
    beforeAgent: async () => {
      nginx = await startNginx(pod, {
        httpBlock: () => grpcIdleTimeoutNginx({ listen: `127.0.0.1:${NGINX_PORT}`, upstream: `127.0.0.1:${PORTS.agentSidecar}`, timeout: "3s" }),
        listen: [{ host: "127.0.0.1", port: NGINX_PORT }],
      });
    },
  });
});

after(async () => {
  await agent?.stop();
  await nginx?.stop();
  await principal?.stop();
  for (const b of bridges) await b.close();
  net?.destroy();
  await env?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const app = (name: string, path: string): Application => ({
  metadata: { name, namespace: agentNs },
  spec: {
    project: "default",
    source: { repoURL: "https://example.invalid/repo.git", path, targetRevision: "HEAD" },
    destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
  },
});

const spec = (a: Application | undefined) => a?.spec as { source?: { path?: string } } | undefined;
const status = (a: Application | undefined) => a?.status as { sync?: { status?: string; revision?: string }; health?: { status?: string } } | undefined;

test("an Application created on the control plane reaches agent-1's cluster through the mesh, and its status comes back", { timeout: 180_000 }, async () => {
  await agent!.waitReady(90_000);
  await principal!.principal.waitFor(new RegExp(`msg="agent connected" agent=${AGENT} mode=managed`), 10_000);
  assert.match(principal!.principal.output(), new RegExp(`msg="extracted agent identity from header" header=x-forwarded-client-cert agent=${AGENT}`));

  await applications(cp).create(app("guestbook", "guestbook"));
  const local = await eventually("the Application on the agent's cluster", () => applications(wl).get(wlArgocd, "guestbook"));
  assert.equal(spec(local)?.source?.path, "guestbook");

  // What the agent cluster's Argo CD would write.
  await applications(wl).patchStatus(wlArgocd, "guestbook", { status: { sync: { status: "Synced", revision: "abc123" }, health: { status: "Healthy" } } });
  const back = await eventually("the status on the control plane", async () => {
    const a = await applications(cp).get(agentNs, "guestbook");
    return status(a)?.health?.status === "Healthy" ? a : undefined;
  });
  assert.equal(status(back)?.sync?.status, "Synced");
  assert.equal(status(back)?.sync?.revision, "abc123");
});

test("changes made while the idle timeout has just cut the stream all arrive, both ways", { timeout: 240_000 }, async () => {
  const disconnects = () => (principal!.principal.output().match(new RegExp(`msg="agent disconnected" agent=${AGENT} `, "g")) ?? []).length;
  const connectsBefore = principal!.connects(AGENT);
  // Each round waits for the next cut (no heartbeats, so the quiet stream is cut 3 s after the
  // last event), then changes both sides at once, while the agent is between streams.
  for (let i = 1; i <= 4; i++) {
    const seen = disconnects();
    await eventually(`cut number ${i}`, async () => disconnects() > seen, 60_000);
    await Promise.all([
      applications(cp).patch(agentNs, "guestbook", { spec: { source: { path: `guestbook-v${i}` } } }),
      applications(cp).create(app(`extra-${i}`, `extra-${i}`)),
      applications(wl).patchStatus(wlArgocd, "guestbook", { status: { sync: { status: "Synced", revision: `rev-${i}` } } }),
    ]);
  }
  await eventually("the last spec on the agent's cluster", async () => spec(await applications(wl).get(wlArgocd, "guestbook"))?.source?.path === "guestbook-v4");
  for (let i = 1; i <= 4; i++) {
    const extra = await eventually(`extra-${i} on the agent's cluster`, () => applications(wl).get(wlArgocd, `extra-${i}`));
    assert.equal(spec(extra)?.source?.path, `extra-${i}`);
  }
  await eventually("the last status on the control plane", async () => status(await applications(cp).get(agentNs, "guestbook"))?.sync?.revision === "rev-4");
  assert.ok(principal!.connects(AGENT) >= connectsBefore + 4, "the agent reconnected after each cut");
  assert.match(nginx!.proc.output(), /upstream timed out/, "nginx did the cutting");
  assert.doesNotMatch(principal!.principal.output(), /authentication failed/);
});
