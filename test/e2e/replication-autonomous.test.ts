/**
 * Autonomous-mode replication end to end against real API servers: the
 * agent's cluster is the source of truth; the principal mirrors its apps into
 * the namespace named after the agent and its projects as `<agent>-<name>`.
 */
import { Annotations } from "../../src/events/event-types.ts";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Application } from "../../src/kube/resources.ts";
import { app, apps, AUTO, eventually, pathOf, projects, startHarness, type Harness } from "./replication-harness.ts";

let h: Harness;
const NS = "argocd";
const SOURCE_UID = Annotations.sourceUid;

before(async () => {
  h = await startHarness();
  await h.startPrincipal();
  await h.startAgent(AUTO);
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

const onAgent = (name: string) => apps(h.auto).get(NS, name);
const mirror = (name: string) => apps(h.cp).get(AUTO, name);

test("apps created, updated and deleted on the autonomous agent are mirrored with status", { timeout: 60_000 }, async () => {
  const local = await apps(h.auto).create(app("web", NS) as Application);
  const m = await eventually("mirror on principal", () => mirror("web"));
  assert.equal(m.spec["project"], `${AUTO}-default`);
  assert.equal(m.metadata.annotations?.[SOURCE_UID], local.metadata.uid);
  assert.equal((m.spec["destination"] as { name?: string }).name, AUTO);

  await apps(h.auto).patch(NS, "web", { spec: { source: { path: "v2" } } });
  await eventually("spec update mirrored", async () => pathOf(await mirror("web")) === "v2");
  await apps(h.auto).patchStatus(NS, "web", { status: { health: { status: "Healthy" } } });
  await eventually("status mirrored", async () => ((await mirror("web"))?.status?.["health"] as { status?: string })?.status === "Healthy");

  await apps(h.auto).create(app("tmp", NS) as Application);
  await eventually("tmp mirrored", () => mirror("tmp"));
  await apps(h.auto).delete(NS, "tmp");
  await eventually("tmp mirror deleted", async () => !(await mirror("tmp")));
});

test("spec edits and deletion of a mirror on the principal are reverted; sync is forwarded", { timeout: 60_000 }, async () => {
  await apps(h.cp).patch(AUTO, "web", { spec: { source: { path: "edited-on-principal" } } });
  await eventually("mirror spec reverted", async () => pathOf(await mirror("web")) === "v2");
  assert.equal(pathOf(await onAgent("web")), "v2", "agent untouched");

  const before = (await mirror("web"))!;
  await apps(h.cp).delete(AUTO, "web");
  await eventually("mirror recreated", async () => {
    const m = await mirror("web");
    return m && m.metadata.uid !== before.metadata.uid;
  });
  assert.equal(pathOf(await mirror("web")), "v2");

  await apps(h.cp).patch(AUTO, "web", { operation: { sync: { revision: "HEAD" } } });
  await eventually("sync reached agent", async () => (await onAgent("web"))?.operation);
});

test("AppProjects of the autonomous agent are mirrored as <agent>-<name>", { timeout: 60_000 }, async () => {
  await projects(h.auto).create({ metadata: { name: "team", namespace: NS }, spec: { sourceRepos: ["*"], destinations: [{ server: "https://kubernetes.default.svc", namespace: "guestbook" }] } });
  const p = await eventually("project mirror", () => projects(h.cp).get("argocd", `${AUTO}-team`));
  assert.deepEqual(p.spec["sourceNamespaces"], [AUTO]);
  assert.deepEqual(p.spec["destinations"], [{ name: AUTO, server: "*", namespace: "guestbook" }]);
});

test("with a cluster secret for the agent, mirrors name its cluster as destination", { timeout: 60_000 }, async () => {
  // As argocd-agentctl creates it: cluster-<agent> in the principal namespace, cluster name in data.name.
  const secret = await h.cp.core.createNamespacedSecret({
    namespace: "argocd",
    body: {
      metadata: { name: `cluster-${AUTO}`, labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": AUTO } },
      stringData: { name: "edge-cluster", server: `https://argocd-agent-resource-proxy:9090?agentName=${AUTO}` },
    },
  });
  try {
    await apps(h.auto).create(app("named", NS) as Application);
    await eventually("mirror names the secret's cluster", async () => ((await mirror("named"))?.spec["destination"] as { name?: string } | undefined)?.name === "edge-cluster");
    await projects(h.auto).create({ metadata: { name: "named-team", namespace: NS }, spec: { sourceRepos: ["*"], destinations: [{ server: "https://kubernetes.default.svc", namespace: "guestbook" }] } });
    const p = await eventually("project mirrored", () => projects(h.cp).get("argocd", `${AUTO}-named-team`));
    assert.deepEqual(p.spec["destinations"], [{ name: "edge-cluster", server: "*", namespace: "guestbook" }], "the project allows the apps' destination");
    await apps(h.auto).delete(NS, "named");
    await projects(h.auto).delete(NS, "named-team");
    await eventually("mirrors deleted", async () => !(await mirror("named")) && !(await projects(h.cp).get("argocd", `${AUTO}-named-team`)));
  } finally {
    await h.cp.core.deleteNamespacedSecret({ namespace: "argocd", name: secret.metadata!.name! });
  }
});

test("changes on the agent while the principal was down are reconciled after restart", { timeout: 90_000 }, async () => {
  await apps(h.auto).create(app("old", NS) as Application);
  await eventually("old mirrored", () => mirror("old"));
  await h.stopPrincipal();
  await apps(h.auto).delete(NS, "old");
  await apps(h.auto).patch(NS, "web", { spec: { source: { path: "while-principal-down" } } });
  await apps(h.auto).create(app("fresh", NS) as Application);
  await apps(h.cp).delete(AUTO, "web"); // a mirror deleted while nobody watched
  await h.startPrincipal();
  await eventually("deleted app's mirror removed", async () => !(await mirror("old")), 30_000);
  await eventually("update mirrored", async () => pathOf(await mirror("web")) === "while-principal-down", 30_000);
  await eventually("new app mirrored", () => mirror("fresh"), 30_000);
});

test("changes on the agent while it was down are reconciled after its restart", { timeout: 90_000 }, async () => {
  await h.stopAgent(AUTO);
  await apps(h.auto).delete(NS, "fresh");
  await apps(h.auto).patch(NS, "web", { spec: { source: { path: "while-agent-down" } } });
  await h.startAgent(AUTO);
  await eventually("mirror of app deleted while agent down removed", async () => !(await mirror("fresh")), 30_000);
  await eventually("update mirrored", async () => pathOf(await mirror("web")) === "while-agent-down", 30_000);
});
