/**
 * What is (not) replicated, end to end against real API servers: the
 * skip-sync label on either side, --label-selector on either side, and the
 * principal's namespace auto-creation for autonomous agents
 * (behavior.md §3.1, §4). One workload cluster hosts a managed agent and
 * three autonomous agents, each in its own namespace.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { Application } from "../../src/kube/resources.ts";
import { app, apps, AUTO, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const SKIP = "argocd-agent.argoproj-labs.io/ignore-sync";
const WORKLOAD = "workload";
const AUTO_NS = "auto-home";
const NEW = "agent-auto-new"; // matches the namespace-create pattern, its namespace does not exist yet
const BLOCKED = "agent-blocked"; // does not match the pattern
const NS_CREATE = { namespaceCreateEnable: "true", namespaceCreatePattern: "new", namespaceCreateLabels: ["team=platform", "env=test"] };

let h: Harness;

before(async () => {
  h = await startHarness({
    clusters: [WORKLOAD],
    agents: {
      [MANAGED]: { cluster: WORKLOAD, mode: "managed" },
      [AUTO]: { cluster: WORKLOAD, mode: "autonomous" },
      [NEW]: { cluster: WORKLOAD, mode: "autonomous", principalNamespace: false },
      [BLOCKED]: { cluster: WORKLOAD, mode: "autonomous", principalNamespace: false },
    },
  });
  await h.startPrincipal(NS_CREATE);
  await h.startAgent(MANAGED);
  await h.startAgent(AUTO, { namespace: AUTO_NS });
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

const wl = () => h.kube(WORKLOAD);
const onManagedAgent = (name: string) => apps(wl()).get("argocd", name);
const onPrincipal = (name: string) => apps(h.cp).get(MANAGED, name);
const mirror = (name: string, agent = AUTO) => apps(h.cp).get(agent, name);
const labelled = (a: ReturnType<typeof app>, labels: Record<string, string>) => ({ ...a, metadata: { ...a.metadata, labels } }) as Application;

test("skip-sync label on the principal: never sent; adding it deletes the agent's copy, removing it re-creates it", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(labelled(app("hidden", MANAGED), { [SKIP]: "true" }));
  await apps(h.cp).create(labelled(app("not-hidden", MANAGED), { [SKIP]: "false" })); // only "true" counts
  await apps(h.cp).create(app("visible", MANAGED) as Application);
  await eventually("visible on agent", () => onManagedAgent("visible"));
  await eventually("label value other than true does not hide", () => onManagedAgent("not-hidden"));
  await sleep(1000);
  assert.equal(await onManagedAgent("hidden"), undefined, "skip-sync app must not reach the agent");

  const before = (await onManagedAgent("visible"))!;
  await apps(h.cp).patch(MANAGED, "visible", { metadata: { labels: { [SKIP]: "true" } } });
  await eventually("agent copy deleted after the label was added", async () => !(await onManagedAgent("visible")));
  assert.ok(await onPrincipal("visible"), "principal copy stays");

  await apps(h.cp).patch(MANAGED, "visible", { metadata: { labels: { [SKIP]: null } } });
  const back = await eventually("agent copy re-created after the label was removed", () => onManagedAgent("visible"));
  assert.notEqual(back.metadata.uid, before.metadata.uid);
});

test("skip-sync label on an autonomous agent: never mirrored; adding it deletes the mirror, removing it mirrors again", { timeout: 60_000 }, async () => {
  await apps(wl()).create(labelled(app("local-only", AUTO_NS), { [SKIP]: "true" }));
  await apps(wl()).create(app("shared", AUTO_NS) as Application);
  await eventually("shared mirrored", () => mirror("shared"));
  await sleep(1000);
  assert.equal(await mirror("local-only"), undefined, "skip-sync app must not be mirrored");

  await apps(wl()).patch(AUTO_NS, "shared", { metadata: { labels: { [SKIP]: "true" } } });
  await eventually("mirror deleted after the label was added", async () => !(await mirror("shared")));
  assert.ok(await apps(wl()).get(AUTO_NS, "shared"), "the agent's own app stays");

  await apps(wl()).patch(AUTO_NS, "shared", { metadata: { labels: { [SKIP]: null } } });
  await eventually("mirrored again after the label was removed", () => mirror("shared"));
});

test("namespace auto-create: an autonomous agent's namespace is created with labels when it matches the (unanchored) pattern", { timeout: 60_000 }, async () => {
  assert.equal(await h.cp.core.readNamespace({ name: NEW }).catch(() => undefined), undefined, "precondition: no namespace yet");
  await h.startAgent(NEW, { namespace: "new-home" });
  await h.startAgent(BLOCKED, { namespace: "blocked-home" });
  await apps(wl()).create(app("web", "blocked-home") as Application);
  await apps(wl()).create(app("web", "new-home") as Application);
  const m = await eventually("mirror in the created namespace", () => mirror("web", NEW));
  assert.equal(m.spec["project"], `${NEW}-default`);
  const ns = await h.cp.core.readNamespace({ name: NEW });
  assert.equal(ns.metadata?.labels?.["team"], "platform");
  assert.equal(ns.metadata?.labels?.["env"], "test");
  await sleep(1000);
  assert.equal(await h.cp.core.readNamespace({ name: BLOCKED }).catch(() => undefined), undefined, "pattern mismatch: no namespace");
  assert.equal(await mirror("web", BLOCKED), undefined);
  await h.stopAgent(NEW);
  await h.stopAgent(BLOCKED);
});

test("--label-selector on the principal: only matching apps are replicated; others are removed from the agent", { timeout: 90_000 }, async () => {
  assert.ok(await onManagedAgent("not-hidden"), "precondition");
  await h.stopPrincipal();
  await h.startPrincipal({ ...NS_CREATE, labelSelector: "replicate=yes" });
  await apps(h.cp).create(labelled(app("sel-no", MANAGED), { replicate: "no" }));
  await apps(h.cp).create(labelled(app("sel-yes", MANAGED), { replicate: "yes" }));
  await eventually("matching app on agent", () => onManagedAgent("sel-yes"));
  await eventually("app no longer selected removed from agent (resync)", async () => !(await onManagedAgent("not-hidden")));
  assert.equal(await onManagedAgent("sel-no"), undefined);

  await apps(h.cp).patch(MANAGED, "sel-yes", { metadata: { labels: { replicate: "no" } } });
  await eventually("deselected app deleted on agent", async () => !(await onManagedAgent("sel-yes")));
  assert.ok(await onPrincipal("sel-yes"), "principal copy stays");
  await apps(h.cp).patch(MANAGED, "sel-yes", { metadata: { labels: { replicate: "yes" } } });
  await eventually("reselected app back on agent", () => onManagedAgent("sel-yes"));
  // The selector also hides autonomous mirrors from the principal: back to none for the next test.
  await h.stopPrincipal();
  await h.startPrincipal(NS_CREATE);
});

test("--label-selector on an autonomous agent: only matching apps are mirrored; mirrors of others are removed", { timeout: 90_000 }, async () => {
  assert.ok(await mirror("shared"), "precondition");
  await h.stopAgent(AUTO);
  await h.startAgent(AUTO, { namespace: AUTO_NS, labelSelector: "mirror in (yes,true)" });
  await apps(wl()).create(labelled(app("m-no", AUTO_NS), { mirror: "no" }));
  await apps(wl()).create(labelled(app("m-yes", AUTO_NS), { mirror: "true" }));
  await eventually("matching app mirrored", () => mirror("m-yes"));
  await eventually("mirror of an unselected app removed (resync)", async () => !(await mirror("shared")));
  assert.equal(await mirror("m-no"), undefined);
  assert.ok(await apps(wl()).get(AUTO_NS, "shared"), "the agent's own app stays");
});
