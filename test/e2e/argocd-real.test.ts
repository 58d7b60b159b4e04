/**
 * End to end with real Argo CD v3.5.1 on both sides (test/support/argocd-env.ts): the
 * workload clusters run argocd-repo-server + argocd-application-controller, the hub runs
 * argocd-server, apps come from a local git repository, and our principal and agents
 * replicate between them. Nothing here plays Argo CD: statuses, revisions and operations are
 * Argo CD's own, and the hub's view is checked through argocd-server's API.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { applications } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";
import { configMapYaml } from "../support/argocd-git.ts";
import { ARGOCD_NS } from "../support/argocd.ts";
import { autonomousApp, managedApp, startArgoCdEnv, statusOf, type ArgoCdEnv } from "../support/argocd-env.ts";
import { eventually } from "./replication-harness.ts";

const MANAGED = "agent-managed";
const AUTO = "agent-autonomous";
let env: ArgoCdEnv;

before(async () => {
  // A long resync: changes must arrive because someone asked (automated sync, refresh, sync).
  env = await startArgoCdEnv({ managed: [MANAGED], autonomous: [AUTO], appResyncSeconds: 180 });
}, { timeout: 240_000 });

after(async () => {
  await env?.stop();
});

const hubApp = (name: string, ns = MANAGED) => applications(env.hubKube).get(ns, name);
const localApp = (cluster: string, name: string) => applications(env.kubeOf(cluster)).get(ARGOCD_NS, name);
const configMap = (cluster: string, ns: string, name: string) =>
  env.kubeOf(cluster).core.readNamespacedConfigMap({ namespace: ns, name }).catch(() => undefined);

/** Waits with Argo CD's logs in the failure message (they say why a sync did not happen). */
function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 60_000) {
  return eventually(what, fn, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n${env.logs()}`);
  });
}

const syncedAt = (rev: string) => (a: Application | undefined) => {
  const s = statusOf(a);
  return s.sync === "Synced" && s.health === "Healthy" && s.revision === rev ? a : undefined;
};

test("argocd-server at the hub is the real v3.5.1", async () => {
  assert.match(await env.api.version(), /^v3\.5\.1/);
});

test("managed app created at the hub is synced by the agent cluster's Argo CD and reported back", { timeout: 120_000 }, async () => {
  const rev = env.git.head();
  await applications(env.hubKube).create(managedApp("guestbook", MANAGED, env.git.url, "guestbook"));
  const local = await until("Synced/Healthy and sync Succeeded on the workload cluster", async () => {
    const a = syncedAt(rev)(await localApp(MANAGED, "guestbook"));
    return statusOf(a).phase === "Succeeded" ? a : undefined;
  });
  assert.equal((local.status as { operationState?: { operation?: { initiatedBy?: { automated?: boolean } } } }).operationState?.operation?.initiatedBy?.automated, true,
    "synced by the controller's automated sync");
  const cm = await configMap(MANAGED, "guestbook", "guestbook-config");
  assert.equal(cm?.data?.["greeting"], "hello from git", "the controller applied the manifest from git");
  assert.ok(await env.kubeOf(MANAGED).core.readNamespacedService({ namespace: "guestbook", name: "guestbook-ui" }));
  assert.equal(await configMap("control-plane", "guestbook", "guestbook-config"), undefined, "nothing deployed on the hub");

  await until("Synced/Healthy and revision on the hub Application", async () => syncedAt(rev)(await hubApp("guestbook")));
  const seen = await until("argocd-server reports it", async () => syncedAt(rev)(await env.api.getApp("guestbook", MANAGED)));
  const resources = (seen.status as { resources?: { kind: string; name: string }[] }).resources ?? [];
  assert.deepEqual(resources.map((r) => `${r.kind}/${r.name}`).sort(), ["ConfigMap/guestbook-config", "Service/guestbook-ui"]);
});

test("a sync requested through argocd-server at the hub runs on the agent's cluster and its result comes back", { timeout: 120_000 }, async () => {
  const rev = env.git.head();
  await applications(env.hubKube).create(managedApp("kustomized", MANAGED, env.git.url, "kustomized", false));
  await until("OutOfSync reported at the hub (not synced without being asked)", async () => statusOf(await hubApp("kustomized")).sync === "OutOfSync");
  assert.equal((await env.kubeOf(MANAGED).core.listNamespacedConfigMap({ namespace: "kustomized" }).catch(() => ({ items: [] }))).items.length, 0);

  await env.api.sync("kustomized", MANAGED); // what `argocd app sync agent-managed/kustomized` does
  const hub = await until("sync result at the hub", async () => {
    const a = await hubApp("kustomized");
    return statusOf(a).phase === "Succeeded" && syncedAt(rev)(a) ? a : undefined;
  });
  assert.equal(hub.operation, undefined, "the operation was handed to the agent's Argo CD");
  const op = (hub.status as { operationState?: { syncResult?: { revision?: string } } }).operationState;
  assert.equal(op?.syncResult?.revision, rev);
  const cms = await env.kubeOf(MANAGED).core.listNamespacedConfigMap({ namespace: "kustomized" });
  assert.ok(cms.items.some((c) => c.metadata?.name?.startsWith("kust-settings-") && c.data?.["color"] === "blue"), "kustomize output applied");
});

test("an autonomous app's real status is mirrored to the hub", { timeout: 120_000 }, async () => {
  const rev = env.git.head();
  await applications(env.kubeOf(AUTO)).create(autonomousApp("auto-guestbook", env.git.url, "guestbook"));
  await until("Synced/Healthy on the autonomous cluster", async () => syncedAt(rev)(await localApp(AUTO, "auto-guestbook")));
  assert.equal((await configMap(AUTO, "auto-guestbook", "guestbook-config"))?.data?.["greeting"], "hello from git");
  await until("mirrored status at the hub", async () => syncedAt(rev)(await hubApp("auto-guestbook", AUTO)));
  await until("argocd-server sees the mirror", async () => syncedAt(rev)(await env.api.getApp("auto-guestbook", AUTO)));
});

test("a new git commit is deployed and reported at the hub", { timeout: 120_000 }, async () => {
  const rev = env.git.commit({ "guestbook/configmap.yaml": configMapYaml("guestbook-config", { greeting: "hello again", version: "2" }) }, "version 2");
  // A refresh requested at the hub (what `argocd app get --refresh` does) travels to the agent.
  await applications(env.hubKube).patch(MANAGED, "guestbook", { metadata: { annotations: { "argocd.argoproj.io/refresh": "normal" } } });
  await until("new revision deployed on the workload cluster", async () =>
    (await configMap(MANAGED, "guestbook", "guestbook-config"))?.data?.["greeting"] === "hello again");
  // Status first, the sync history entry when the automated sync operation completes. The
  // controller may start another operation right after (seen: phase Running with the entry
  // already in the history), so wait for the reported phase to settle as well.
  const hub = await until("new revision, its sync history and a finished operation reported at the hub", async () => {
    const a = syncedAt(rev)(await hubApp("guestbook"));
    const hist = (a?.status as { history?: { revision?: string }[] } | undefined)?.history ?? [];
    return hist.some((h) => h.revision === rev) && statusOf(a).phase === "Succeeded" ? a : undefined;
  });
  assert.equal(statusOf(hub).revision, rev);
});
