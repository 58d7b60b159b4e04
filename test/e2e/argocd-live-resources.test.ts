/**
 * Live resources with real Argo CD v3.5.1 (test/support/argocd-env.ts, liveResources): the
 * workload cluster's application-controller syncs an app and writes its resource tree to its
 * own redis; argocd-server at the hub is configured as a user configures it — `--redis` at our
 * principal's redis proxy, one cluster Secret per agent written by `argocd-agent ctl agent
 * create` (client certificate for our resource proxy). Through argocd-server's own API we read
 * the tree and managed resources (redis proxy → agent → agent's redis), a live manifest and
 * run a resource action (resource proxy → agent → agent's kube-apiserver). Nothing stands in.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { applications } from "../../src/kube/crud.ts";
import { kubeRequest } from "../../src/kube/raw-request.ts";
import type { Application } from "../../src/kube/resources.ts";
import { configMapYaml } from "../support/argocd-git.ts";
import { ARGOCD_NS } from "../support/argocd.ts";
import { startArgoCdEnv, statusOf, type ArgoCdEnv } from "../support/argocd-env.ts";
import { eventually } from "./replication-harness.ts";

const AGENT = "agent-managed";
const APP = "live";
let env: ArgoCdEnv;

const DEPLOYMENT = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: live-web
spec:
  replicas: 1
  selector:
    matchLabels: {app: live-web}
  template:
    metadata:
      labels: {app: live-web}
    spec:
      containers:
        - name: web
          image: registry.invalid/web:1
`;

function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 90_000) {
  return eventually(what, fn, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n${env.logs()}`);
  });
}

before(async () => {
  env = await startArgoCdEnv({ managed: [AGENT], liveResources: true, appResyncSeconds: 180 });
  env.git.commit({ "live/configmap.yaml": configMapYaml("live-config", { colour: "blue" }), "live/deployment.yaml": DEPLOYMENT }, "live resources");
  // As a user writes it at the hub: the destination is the agent's cluster (its cluster Secret's name).
  const app = {
    apiVersion: "argoproj.io/v1alpha1", kind: "Application",
    metadata: { name: APP, namespace: AGENT },
    spec: {
      project: "default",
      source: { repoURL: env.git.url, path: "live", targetRevision: "HEAD" },
      destination: { name: AGENT, namespace: "live" },
      syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
    },
  } as Application;
  await applications(env.hubKube).create(app);
  await until("the app synced on the agent's cluster", async () => {
    const a = await applications(env.kubeOf(AGENT)).get(ARGOCD_NS, APP);
    return statusOf(a).phase === "Succeeded" && statusOf(a).sync === "Synced" ? a : undefined;
  });
}, { timeout: 300_000 });

after(async () => {
  await env?.stop();
});

test("argocd-server lists the agent's cluster from the Secret our ctl wrote", async () => {
  const res = await env.api.raw("/api/v1/clusters");
  assert.equal(res.status, 200);
  const list = (await res.json()) as { items?: { name: string; server: string }[] };
  const c = list.items?.find((x) => x.name === AGENT);
  assert.ok(c, JSON.stringify(list.items));
  assert.equal(c.server, `https://127.0.0.1:${env.resourceProxyPort}?agentName=${AGENT}`);
});

test("resource tree and managed resources at the hub come from the agent's redis (redis proxy)", { timeout: 120_000 }, async () => {
  const tree = await until("argocd-server shows the resource tree", async () => {
    const t = await env.api.resourceTree(APP, AGENT).catch(() => undefined);
    return t?.nodes?.some((n) => n.kind === "Deployment" && n.name === "live-web") && t.nodes.some((n) => n.kind === "ConfigMap") ? t : undefined;
  });
  const cm = tree.nodes!.find((n) => n.kind === "ConfigMap" && n.name === "live-config");
  const local = await env.kubeOf(AGENT).core.readNamespacedConfigMap({ namespace: "live", name: "live-config" });
  assert.equal(cm?.uid, local.metadata?.uid, "the tree is the agent cluster's (same UID)");
  const managed = await env.api.managedResources(APP, AGENT);
  const names = (managed.items ?? []).map((i) => `${i.kind}/${i.name}`).sort();
  assert.deepEqual(names, ["ConfigMap/live-config", "Deployment/live-web"]);
});

test("a live manifest through the resource proxy is the agent cluster's object", { timeout: 60_000 }, async () => {
  const ref = { version: "v1", kind: "ConfigMap", namespace: "live", name: "live-config" };
  const live = await until("argocd-server returns the live ConfigMap", () => env.api.liveManifest(APP, AGENT, ref).catch(() => undefined), 30_000);
  const local = await env.kubeOf(AGENT).core.readNamespacedConfigMap({ namespace: "live", name: "live-config" });
  assert.deepEqual((live as { data?: unknown }).data, { colour: "blue" });
  assert.equal((live as { metadata: { resourceVersion: string } }).metadata.resourceVersion, local.metadata?.resourceVersion);
});

test("a resource action (Deployment restart) runs on the agent's cluster", { timeout: 60_000 }, async () => {
  const ref = { group: "apps", version: "v1", kind: "Deployment", namespace: "live", name: "live-web" };
  const actions = await env.api.actions(APP, AGENT, ref);
  assert.ok(actions.includes("restart"), `actions: ${actions.join(",")}`);
  await env.api.runAction(APP, AGENT, ref, "restart");
  const res = await kubeRequest(env.kubeOf(AGENT).kubeConfig, { method: "GET", path: "/apis/apps/v1/namespaces/live/deployments/live-web" });
  const d = JSON.parse(res.text) as { spec: { template: { metadata?: { annotations?: Record<string, string> } } } };
  assert.ok(d.spec.template.metadata?.annotations?.["kubectl.kubernetes.io/restartedAt"], "restartedAt set by the restart action");
});

test("Argo CD's cluster list shows the agent's connection state and its Argo CD's cache counts (cluster info in redis)", { timeout: 120_000 }, async () => {
  // The agent's controller writes its in-cluster info every 10 s; the agent reports the counts every
  // --cache-refresh-interval (10 s); the principal writes them with the connection state into the hub's redis.
  type Info = { connectionState?: { status?: string; message?: string }; applicationsCount?: number; cacheInfo?: { resourcesCount?: number; apisCount?: number } };
  const info = await until("argocd-server's cluster info with the agent's counts", async () => {
    const list = (await (await env.api.raw("/api/v1/clusters")).json()) as { items?: { name: string; info?: Info }[] };
    const i = list.items?.find((x) => x.name === AGENT)?.info;
    return i?.connectionState?.status === "Successful" && (i.applicationsCount ?? 0) >= 1 && (i.cacheInfo?.resourcesCount ?? 0) > 0 ? i : undefined;
  });
  assert.equal(info.connectionState!.message, `Agent: '${AGENT}' is connected with principal`);
  assert.ok((info.cacheInfo!.apisCount ?? 0) > 0, JSON.stringify(info));
});
