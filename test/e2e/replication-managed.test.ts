/**
 * Managed-mode replication end to end against real API servers: the
 * principal and a managed agent run in-process; every test asserts the final
 * state on both clusters.
 */
import { Annotations } from "../../src/events/event-types.ts";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { newEvent, objectEvent } from "../../src/events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import type { Application } from "../../src/kube/resources.ts";
import { app, apps, eventually, MANAGED, pathOf, projects, startHarness, type Harness } from "./replication-harness.ts";

let h: Harness;
const NS = "argocd";
const SOURCE_UID = Annotations.sourceUid;

before(async () => {
  h = await startHarness();
  await h.startPrincipal();
  await h.startAgent(MANAGED);
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

const onAgent = (name: string) => apps(h.managed).get(NS, name);
const onPrincipal = (name: string) => apps(h.cp).get(MANAGED, name);

test("create, spec update and status flow between principal and managed agent", { timeout: 60_000 }, async () => {
  const created = await apps(h.cp).create(app("guestbook", MANAGED) as Application);
  const local = await eventually("app on agent", () => onAgent("guestbook"));
  assert.equal(local.metadata.annotations?.[SOURCE_UID], created.metadata.uid);
  assert.equal((local.spec["destination"] as { name?: string }).name, "in-cluster");

  await apps(h.cp).patch(MANAGED, "guestbook", { spec: { source: { path: "v2" } } });
  await eventually("spec update on agent", async () => pathOf(await onAgent("guestbook")) === "v2");

  await apps(h.managed).patchStatus(NS, "guestbook", { status: { sync: { status: "Synced", revision: "abc" }, health: { status: "Healthy" } } });
  const back = await eventually("status on principal", async () => {
    const a = await onPrincipal("guestbook");
    return (a?.status?.["health"] as { status?: string } | undefined)?.status === "Healthy" ? a : undefined;
  });
  assert.equal((back.status?.["sync"] as { revision?: string }).revision, "abc");
  assert.equal(pathOf(back), "v2", "principal spec untouched by status");
});

test("sync operation reaches the agent, is consumed, and terminate is forwarded", { timeout: 60_000 }, async () => {
  const op = { sync: { revision: "HEAD" }, initiatedBy: { username: "admin" } };
  await apps(h.cp).patch(MANAGED, "guestbook", { operation: op });
  await eventually("operation on agent", async () => (await onAgent("guestbook"))?.operation);
  // What the agent cluster's application controller does: take the operation and start it.
  const cur = (await onAgent("guestbook"))!;
  await apps(h.managed).update({ ...cur, operation: undefined });
  const startedAt = new Date().toISOString().replace(/\.\d+Z$/, "Z"); // Argo CD writes whole seconds
  await apps(h.managed).patchStatus(NS, "guestbook", { status: { operationState: { operation: op, phase: "Running", startedAt } } });
  await eventually("operation cleared on principal", async () => {
    const a = await onPrincipal("guestbook");
    return !a?.operation && (a?.status?.["operationState"] as { phase?: string } | undefined)?.phase === "Running";
  });
  await apps(h.cp).patchStatus(MANAGED, "guestbook", { status: { operationState: { operation: op, phase: "Terminating", startedAt } } });
  await eventually("terminating on agent", async () => ((await onAgent("guestbook"))?.status?.["operationState"] as { phase?: string })?.phase === "Terminating");
});

test("unauthorised spec change and deletion on the agent are reverted", { timeout: 60_000 }, async () => {
  await apps(h.managed).patch(NS, "guestbook", { spec: { source: { path: "hacked" } } });
  await eventually("spec reverted", async () => pathOf(await onAgent("guestbook")) === "v2");
  const before = (await onAgent("guestbook"))!;
  await apps(h.managed).delete(NS, "guestbook");
  await eventually("app recreated", async () => {
    const a = await onAgent("guestbook");
    return a && a.metadata.uid !== before.metadata.uid;
  });
  assert.equal(pathOf(await onAgent("guestbook")), "v2");
  assert.ok(await onPrincipal("guestbook"), "principal copy untouched");
});

test("delete without finalizers, and cascade delete with finalizers", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(app("plain", MANAGED) as Application);
  await eventually("plain on agent", () => onAgent("plain"));
  await apps(h.cp).delete(MANAGED, "plain");
  await eventually("plain gone on agent", async () => !(await onAgent("plain")));

  const withFin = app("cascade", MANAGED) as Application;
  withFin.metadata.finalizers = ["resources-finalizer.argocd.argoproj.io"];
  await apps(h.cp).create(withFin);
  await eventually("cascade on agent", () => onAgent("cascade"));
  await apps(h.cp).delete(MANAGED, "cascade");
  const deleting = await eventually("agent copy being deleted", async () => {
    const a = await onAgent("cascade");
    return a?.metadata.deletionTimestamp ? a : undefined;
  });
  // The agent cluster's Argo CD runs the finalizer (prunes resources) and removes it.
  await apps(h.managed).update({ ...deleting, metadata: { ...deleting.metadata, finalizers: [] } });
  await eventually("cascade gone on agent", async () => !(await onAgent("cascade")));
  await eventually("cascade gone on principal", async () => !(await onPrincipal("cascade")));
});

test("AppProject distributed to the matching managed agent, rewritten", { timeout: 60_000 }, async () => {
  await projects(h.cp).create({
    metadata: { name: "team", namespace: "argocd" },
    spec: {
      sourceRepos: ["*"],
      sourceNamespaces: ["agent-*"],
      destinations: [{ name: "agent-*", namespace: "guestbook" }],
      roles: [{ name: "ci", policies: ["p, proj:team:ci, applications, get, team/*, allow"] }],
    },
  });
  await projects(h.cp).create({ metadata: { name: "other", namespace: "argocd" }, spec: { sourceNamespaces: ["x"], destinations: [{ name: "someone-else", namespace: "*" }] } });
  const p = await eventually("project on agent", () => projects(h.managed).get(NS, "team"));
  assert.deepEqual(p.spec["destinations"], [{ name: "in-cluster", server: "https://kubernetes.default.svc", namespace: "guestbook" }]);
  assert.equal(p.spec["sourceNamespaces"], undefined);
  assert.equal(p.spec["roles"], undefined);
  assert.equal(await projects(h.managed).get(NS, "other"), undefined);
});

test("changes while the agent was down are reconciled after its restart", { timeout: 90_000 }, async () => {
  await apps(h.cp).create(app("keep", MANAGED) as Application);
  await apps(h.cp).create(app("gone", MANAGED) as Application);
  await eventually("keep+gone on agent", async () => (await onAgent("keep")) && (await onAgent("gone")));
  await h.stopAgent(MANAGED);
  await apps(h.cp).patch(MANAGED, "keep", { spec: { source: { path: "while-down" } } });
  await apps(h.cp).delete(MANAGED, "gone");
  await apps(h.cp).create(app("new", MANAGED) as Application);
  await apps(h.managed).delete(NS, "guestbook"); // unauthorised, nobody watching
  await h.startAgent(MANAGED);
  await eventually("update applied", async () => pathOf(await onAgent("keep")) === "while-down");
  await eventually("deletion applied", async () => !(await onAgent("gone")));
  await eventually("creation applied", () => onAgent("new"));
  await eventually("unauthorised deletion repaired", () => onAgent("guestbook"));
});

test("changes while the principal was down are reconciled after its restart", { timeout: 90_000 }, async () => {
  await h.stopPrincipal();
  await apps(h.cp).patch(MANAGED, "keep", { spec: { source: { path: "principal-down" } } });
  await apps(h.cp).delete(MANAGED, "new");
  await apps(h.cp).create(app("born", MANAGED) as Application);
  await apps(h.managed).patchStatus(NS, "keep", { status: { health: { status: "Progressing" } } });
  await h.startPrincipal();
  await eventually("update applied", async () => pathOf(await onAgent("keep")) === "principal-down", 30_000);
  await eventually("deletion applied", async () => !(await onAgent("new")), 30_000);
  await eventually("creation applied", () => onAgent("born"), 30_000);
  await eventually("status from while down", async () => ((await onPrincipal("keep"))?.status?.["health"] as { status?: string })?.status === "Progressing", 30_000);
});

test("bad input from an agent is rejected without harm", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(app("victim", "agent-auto") as Application);
  const w = h.agent(MANAGED)!.connection.writer;
  const src = EventSources.agent;
  // Malformed object (invalid name), object without metadata, unknown event type, and another agent's namespace.
  w.add(objectEvent(EventTypes.statusUpdate, EventTargets.application, { metadata: { name: "../../x", uid: "1" }, status: {} } as never, src));
  w.add(newEvent({ type: EventTypes.statusUpdate, target: EventTargets.application, source: src, resourceId: "r1", eventId: "e1", payload: { metadata: 5 } }));
  w.add(newEvent({ type: `${EventTypes.create}-bogus` as never, target: EventTargets.application, source: src, resourceId: "r2", eventId: "e2", payload: {} }));
  // Valid Applications, so only the namespace check can keep them out.
  const validSpec = app("x", NS).spec;
  w.add(objectEvent(EventTypes.statusUpdate, EventTargets.application, { metadata: { name: "victim", namespace: "agent-auto", uid: "2" }, spec: validSpec, status: { health: { status: "Degraded" } } } as never, src));
  w.add(objectEvent(EventTypes.create, EventTargets.application, { metadata: { name: "intruder", namespace: "agent-auto", uid: "3" }, spec: validSpec } as never, src));
  // Replication keeps working for everything else.
  await apps(h.managed).patchStatus(NS, "keep", { status: { health: { status: "Healthy" } } });
  await eventually("later status still applied", async () => ((await onPrincipal("keep"))?.status?.["health"] as { status?: string })?.status === "Healthy");
  const victim = await apps(h.cp).get("agent-auto", "victim");
  assert.equal(victim?.status, undefined, "another agent's app untouched");
  assert.equal(await apps(h.cp).get("agent-auto", "intruder"), undefined);
  assert.equal(await apps(h.cp).get(MANAGED, "intruder"), undefined, "create from a managed agent refused");
  await apps(h.cp).delete("agent-auto", "victim");
});
