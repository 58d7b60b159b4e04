/**
 * Managed agent options end to end against real API servers: adoption of
 * pre-existing local Applications (--adoption-policy and the per-object
 * annotation, behavior.md §2.1 step 3, §2.2), --ignore-unmanaged-apps, and the
 * principal's --event-processors bound.
 */
import { Annotations } from "../../src/events/event-types.ts";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Application } from "../../src/kube/resources.ts";
import { app, apps, eventually, MANAGED, pathOf, startHarness, type Harness } from "./replication-harness.ts";

const NS = "argocd";
const SOURCE_UID = Annotations.sourceUid;
const ADOPTION = "argocd.argoproj.io/adoption-policy";

let h: Harness;

before(async () => {
  h = await startHarness({ agents: { [MANAGED]: { cluster: MANAGED, mode: "managed" } } });
  await h.startPrincipal();
  await h.startAgent(MANAGED);
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

const onAgent = (name: string) => apps(h.managed).get(NS, name);
const onPrincipal = (name: string) => apps(h.cp).get(MANAGED, name);
const local = (name: string, annotations?: Record<string, string>) => {
  const a = app(name, NS, "local") as Application;
  if (annotations) a.metadata.annotations = annotations;
  return apps(h.managed).create(a);
};
const agentError = (a: Application | undefined) =>
  ((a?.status?.["conditions"] as { type?: string; message?: string }[] | undefined) ?? []).find((c) => c.type === "AgentError");

test("default adoption policy (always): the principal's app adopts a local app without source UID; annotation never refuses", { timeout: 60_000 }, async () => {
  await local("pre");
  await local("refuse-me", { [ADOPTION]: "never" });
  const created = await apps(h.cp).create(app("pre", MANAGED, "from-principal") as Application);
  await apps(h.cp).create(app("refuse-me", MANAGED, "from-principal") as Application);
  const adopted = await eventually("local app adopted", async () => {
    const a = await onAgent("pre");
    return a?.metadata.annotations?.[SOURCE_UID] ? a : undefined;
  });
  assert.equal(adopted.metadata.annotations?.[SOURCE_UID], created.metadata.uid);
  assert.equal(pathOf(adopted), "from-principal");
  const refused = await eventually("AgentError on the principal's app", async () => agentError(await onPrincipal("refuse-me")) && onPrincipal("refuse-me"));
  assert.equal((refused.status?.["health"] as { status?: string }).status, "Degraded");
  assert.match(agentError(refused)!.message!, new RegExp(`agent ${MANAGED}.*Adoption policy`));
  const untouched = (await onAgent("refuse-me"))!;
  assert.equal(untouched.metadata.annotations?.[SOURCE_UID], undefined);
  assert.equal(pathOf(untouched), "local");
});

test("--adoption-policy never: local apps are left alone unless their annotation says always", { timeout: 60_000 }, async () => {
  await h.stopAgent(MANAGED);
  await h.startAgent(MANAGED, { adoptionPolicy: "never" });
  await local("keep-local");
  await local("opt-in", { [ADOPTION]: "always" });
  await apps(h.cp).create(app("keep-local", MANAGED, "from-principal") as Application);
  await apps(h.cp).create(app("opt-in", MANAGED, "from-principal") as Application);
  await eventually("annotated app adopted", async () => (await onAgent("opt-in"))?.metadata.annotations?.[SOURCE_UID]);
  await eventually("AgentError for the refused app", async () => agentError(await onPrincipal("keep-local")));
  const kept = (await onAgent("keep-local"))!;
  assert.equal(kept.metadata.annotations?.[SOURCE_UID], undefined);
  assert.equal(pathOf(kept), "local");
  // A later spec change on the principal is refused the same way (never silently adopted).
  await apps(h.cp).patch(MANAGED, "keep-local", { spec: { source: { path: "again" } } });
  await sleep(1000);
  assert.equal(pathOf(await onAgent("keep-local")), "local");
});

test("--ignore-unmanaged-apps: local apps without source UID are not watched; adoption still works", { timeout: 60_000 }, async () => {
  await h.stopAgent(MANAGED);
  const agent = await h.startAgent(MANAGED, { ignoreUnmanagedApps: "true" });
  await local("late");
  await local("only-local");
  await sleep(500);
  const watched = () => agent.replication!.ctx.appInformer.list().map((a) => a.metadata.name);
  assert.ok(!watched().includes("late"), "unmanaged app late not watched");
  assert.ok(!watched().includes("only-local"), "unmanaged app only-local not watched");
  assert.ok(watched().includes("pre"), "managed app watched");
  await apps(h.cp).create(app("late", MANAGED, "from-principal") as Application);
  await eventually("unwatched local app adopted", async () => (await onAgent("late"))?.metadata.annotations?.[SOURCE_UID]);
  await eventually("now watched", () => watched().includes("late"));
  await apps(h.managed).patchStatus(NS, "late", { status: { health: { status: "Healthy" } } });
  await eventually("its status reaches the principal", async () => ((await onPrincipal("late"))?.status?.["health"] as { status?: string })?.status === "Healthy");
});

test("--event-processors bounds how many agent events the principal applies at once", { timeout: 90_000 }, async () => {
  await h.stopPrincipal();
  await h.startPrincipal({ eventProcessors: "2" });
  const names = Array.from({ length: 30 }, (_, i) => `burst-${i}`);
  await Promise.all(names.map((n) => apps(h.cp).create(app(n, MANAGED) as Application)));
  await eventually("all on agent", async () => (await Promise.all(names.map(onAgent))).every(Boolean), 30_000);
  const repl = h.principal()!.replication!;
  let maxActive = 0;
  let maxWaiting = 0;
  const sampler = setInterval(() => {
    const s = repl.processorStats();
    maxActive = Math.max(maxActive, s.active);
    maxWaiting = Math.max(maxWaiting, s.waiting);
  }, 1);
  try {
    await Promise.all(names.map((n) => apps(h.managed).patchStatus(NS, n, { status: { health: { status: "Healthy" } } })));
    await eventually("all statuses on the principal", async () =>
      (await Promise.all(names.map(onPrincipal))).every((a) => (a?.status?.["health"] as { status?: string } | undefined)?.status === "Healthy"), 30_000);
  } finally {
    clearInterval(sampler);
  }
  assert.ok(maxActive <= 2, `at most 2 in progress, saw ${maxActive}`);
  assert.ok(maxWaiting >= 1, `the bound was reached (events waited), saw ${maxWaiting}`);
});
