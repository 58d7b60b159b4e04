/**
 * Smoke test of src/kube against real API servers (test/support/kube-env.ts):
 * CRUD, status subresource, conflicts, informer events, and isolation of
 * the simulated clusters.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { applications, appProjects, ensureNamespace, isConflict, retryOnConflict } from "../../src/kube/crud.ts";
import { applicationInformer, appProjectInformer, namespaceInformer, secretInformer, type Informer } from "../../src/kube/informer.ts";
import type { Application, AppProject, KubeObject } from "../../src/kube/resources.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";

let env: KubeEnv;
let cp: KubeClient; // "control-plane" cluster
let managed: KubeClient; // "agent-managed" cluster
let cpNs: string;
let managedNs: string;

before(async () => {
  const started = Date.now();
  env = await startKubeEnv({ clusters: ["control-plane", "agent-managed"] });
  console.log(`kube env up in ${Date.now() - started} ms`);
  cp = createKubeClient(env.cluster("control-plane").kubeConfig);
  managed = createKubeClient(env.cluster("agent-managed").kubeConfig);
  cpNs = env.cluster("control-plane").ns("argocd");
  managedNs = env.cluster("agent-managed").ns("argocd");
});

after(async () => {
  await env?.stop();
});

async function eventually(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Runs an informer and records its events as "add:name", "update:name", "delete:name". */
async function recordEvents<T extends KubeObject>(informer: Informer<T>, signal: AbortSignal) {
  const events: string[] = [];
  informer.addHandlers({
    onAdd: (o) => events.push(`add:${o.metadata.name}`),
    onUpdate: (_, o) => events.push(`update:${o.metadata.name}`),
    onDelete: (o) => events.push(`delete:${o.metadata.name}`),
  });
  const running = informer.run(signal);
  await informer.waitForSync(signal);
  return { events, running };
}

const guestbook = (ns: string, extra: Partial<Application> = {}): Application => ({
  metadata: { name: "guestbook", namespace: ns, labels: { team: "a" } },
  spec: {
    project: "default",
    source: { repoURL: "https://example.invalid/repo.git", path: "guestbook", targetRevision: "HEAD" },
    destination: { server: "https://kubernetes.default.svc", namespace: "guestbook" },
  },
  ...extra,
});

describe("kube layer against real API servers", { timeout: 120_000 }, () => {
  it("creates, watches, updates status of and deletes an Application", async (t) => {
    const apps = applications(cp);
    const ac = new AbortController();
    t.after(() => ac.abort()); // stop the watch loops even when an assertion fails
    const informer = applicationInformer(cp, { namespace: cpNs, labelSelector: "team=a" });
    const { events, running } = await recordEvents(informer, ac.signal);
    assert.equal(informer.hasSynced(), true);

    const created = await apps.create(guestbook(cpNs));
    assert.ok(created.metadata.uid);
    await eventually("informer add", () => events.includes("add:guestbook"));
    assert.equal(informer.get(cpNs, "guestbook")?.metadata.uid, created.metadata.uid);

    // An object outside the label selector never reaches the informer.
    await apps.create({ ...guestbook(cpNs), metadata: { name: "other-team", namespace: cpNs, labels: { team: "b" } } });

    const patched = await apps.patch(cpNs, "guestbook", { spec: { source: { targetRevision: "v2" } } });
    assert.equal((patched.spec.source as Record<string, unknown>).targetRevision, "v2");
    assert.equal((patched.spec.source as Record<string, unknown>).path, "guestbook", "merge patch keeps siblings");
    await eventually("informer update", () => events.includes("update:guestbook"));

    // Argo CD's own Application CRD has no status subresource (its controller writes status
    // with a plain update): updateStatus falls back to the object and keeps the spec.
    const current = (await apps.get(cpNs, "guestbook"))!;
    const withStatus = await apps.updateStatus({
      ...current,
      status: { sync: { status: "Synced", revision: "abc123" }, health: { status: "Healthy" } },
    });
    assert.deepEqual(withStatus.status?.sync, { status: "Synced", revision: "abc123" });
    assert.equal(withStatus.spec.project, "default");
    await eventually("informer sees status", () =>
      (informer.get(cpNs, "guestbook")?.status?.health as { status?: string } | undefined)?.status === "Healthy");
    const patchedStatus = await apps.patchStatus(cpNs, "guestbook", { status: { health: { status: "Degraded" } } });
    assert.deepEqual(patchedStatus.status?.health, { status: "Degraded" });
    assert.deepEqual(patchedStatus.status?.sync, { status: "Synced", revision: "abc123" });

    // A stale resourceVersion conflicts; retryOnConflict re-reads and succeeds.
    await assert.rejects(apps.update({ ...current, spec: { ...current.spec, project: "stale" } }), isConflict);
    let attempts = 0;
    const updated = await retryOnConflict(async () => {
      attempts++;
      const app = attempts === 1 ? current : (await apps.get(cpNs, "guestbook"))!;
      return apps.update({ ...app, operation: { sync: { revision: "v2" } } });
    });
    assert.equal(attempts, 2);
    assert.deepEqual(updated.operation, { sync: { revision: "v2" } });

    assert.equal(await apps.delete(cpNs, "guestbook"), true);
    await eventually("informer delete", () => events.includes("delete:guestbook"));
    assert.equal(await apps.get(cpNs, "guestbook"), undefined);
    assert.equal(informer.get(cpNs, "guestbook"), undefined);
    assert.equal(await apps.delete(cpNs, "guestbook"), false, "deleting twice is not an error");
    assert.ok(!events.some((e) => e.endsWith(":other-team")), `events: ${events.join(", ")}`);
    await apps.delete(cpNs, "other-team");

    ac.abort();
    await running; // the watch loop ends promptly on abort
  });

  it("creates, watches, patches and deletes an AppProject", async (t) => {
    const projects = appProjects(cp);
    const ac = new AbortController();
    t.after(() => ac.abort()); // stop the watch loops even when an assertion fails
    const informer = appProjectInformer(cp, { namespace: cpNs });
    const { events, running } = await recordEvents(informer, ac.signal);

    const project: AppProject = {
      metadata: { name: "team-a", namespace: cpNs },
      spec: { sourceRepos: ["*"], destinations: [{ server: "*", namespace: "*" }] },
    };
    await projects.create(project);
    await eventually("project add", () => events.includes("add:team-a"));
    const patched = await projects.patch(cpNs, "team-a", { spec: { description: "Team A" } });
    assert.equal(patched.spec.description, "Team A");
    assert.deepEqual(patched.spec.sourceRepos, ["*"]);
    await eventually("project update", () => events.includes("update:team-a"));
    const listed = await projects.list(cpNs);
    assert.deepEqual(listed.items.map((p) => p.metadata.name), ["team-a"]);
    assert.ok(listed.resourceVersion);

    assert.equal(await projects.delete(cpNs, "team-a"), true);
    await eventually("project delete", () => events.includes("delete:team-a"));
    ac.abort();
    await running;
  });

  it("keeps the simulated clusters isolated", async () => {
    const cpApps = applications(cp);
    const managedApps = applications(managed);
    await cpApps.create(guestbook(cpNs));
    assert.equal(await managedApps.get(managedNs, "guestbook"), undefined);
    assert.equal((await managedApps.list(managedNs)).items.length, 0);

    // Same name in the other cluster is a different object.
    const other = await managedApps.create(guestbook(managedNs, { spec: { ...guestbook(managedNs).spec, project: "agent-side" } }));
    const mine = (await cpApps.get(cpNs, "guestbook"))!;
    assert.notEqual(other.metadata.uid, mine.metadata.uid);
    assert.equal(mine.spec.project, "default");

    await managedApps.delete(managedNs, "guestbook");
    assert.ok(await cpApps.get(cpNs, "guestbook"), "deleting in one cluster leaves the other alone");
    await cpApps.delete(cpNs, "guestbook");

    if (!env.shared) {
      const onlyHere = `only-in-control-plane-${Date.now()}`;
      await ensureNamespace(cp, onlyHere);
      await assert.rejects(managed.core.readNamespace({ name: onlyHere }), (err: { code?: number }) => err.code === 404);
    }
  });

  it("informs about Secrets and Namespaces", async (t) => {
    const ac = new AbortController();
    t.after(() => ac.abort()); // stop the watch loops even when an assertion fails
    const secrets = secretInformer(cp, { namespace: cpNs, labelSelector: "argocd.argoproj.io/secret-type=cluster" });
    const namespaces = namespaceInformer(cp);
    const s = await recordEvents(secrets, ac.signal);
    const n = await recordEvents(namespaces, ac.signal);
    assert.ok(n.events.includes(`add:${cpNs}`), "existing namespaces are delivered as adds on sync");

    await cp.core.createNamespacedSecret({
      namespace: cpNs,
      body: {
        metadata: { name: "cluster-edge", labels: { "argocd.argoproj.io/secret-type": "cluster" } },
        stringData: { server: "https://edge.invalid" },
      },
    });
    await eventually("secret add", () => s.events.includes("add:cluster-edge"));
    const cached = secrets.get(cpNs, "cluster-edge")!;
    assert.equal(Buffer.from(cached.data!.server, "base64").toString(), "https://edge.invalid");
    assert.equal(typeof cached.metadata.creationTimestamp, "string", "raw JSON, not client-node model objects");

    const extraNs = env.cluster("control-plane").ns("informer-ns-test");
    await ensureNamespace(cp, extraNs);
    await eventually("namespace add", () => n.events.includes(`add:${extraNs}`));
    ac.abort();
    await Promise.all([s.running, n.running]);
  });
});
