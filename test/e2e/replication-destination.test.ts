/**
 * Destination-based mapping end to end against real API servers
 * (behavior.md §2.1 steps 1 and 4, §2.2, §4): the principal sends each app to
 * the agent named by spec.destination.name; agents keep the app's namespace,
 * except that the principal's namespace becomes the agent's own (remapped,
 * marked with an annotation) when the two differ.
 *
 * agent-a runs in namespace "argocd-agent" (≠ the principal's "argocd": remapped),
 * allows "team-x" and creates missing namespaces; agent-b runs in "argocd"
 * (no remapping), allows "team-*" and does not create namespaces.
 */
import { Annotations } from "../../src/events/event-types.ts";
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { ensureNamespace } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";
import { app, apps, eventually, pathOf, projects, startHarness, type Harness } from "./replication-harness.ts";

const A = "agent-a";
const B = "agent-b";
const A_NS = "argocd-agent";
const REMAPPED = "argocd.argoproj.io/namespace-remapped";
const SOURCE_UID = Annotations.sourceUid;
const AGENT_A = { namespace: A_NS, destinationBasedMapping: "true", allowedNamespaces: ["team-x"], createNamespace: "true" };
const AGENT_B = { namespace: "argocd", destinationBasedMapping: "true", allowedNamespaces: ["team-*"] };
const PRINCIPAL = { destinationBasedMapping: "true", allowedNamespaces: ["team-*"] };

let h: Harness;

before(async () => {
  h = await startHarness({
    clusters: [A, B],
    agents: { [A]: { cluster: A, mode: "managed", principalNamespace: false }, [B]: { cluster: B, mode: "managed", principalNamespace: false } },
  });
  for (const ns of ["team-x", "team-y", "elsewhere"]) await ensureNamespace(h.cp, ns);
  await ensureNamespace(h.kube(B), "team-y");
  await h.startPrincipal(PRINCIPAL);
  await h.startAgent(A, AGENT_A);
  await h.startAgent(B, AGENT_B);
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
});

/** An app on the principal targeting an agent by destination name. */
function to(agent: string, name: string, namespace: string, path = "guestbook"): Application {
  const a = app(name, namespace, path) as Application;
  a.spec["destination"] = { name: agent, namespace: "guestbook" };
  return a;
}
const on = (cluster: string, ns: string, name: string) => apps(h.kube(cluster)).get(ns, name);
const health = (a: Application | undefined) => (a?.status?.["health"] as { status?: string } | undefined)?.status;

test("apps in the principal namespace go to the agent named by destination.name, remapped to its namespace and back", { timeout: 60_000 }, async () => {
  const created = await apps(h.cp).create(to(A, "web", "argocd"));
  await apps(h.cp).create(to(B, "web-b", "argocd"));
  const onA = await eventually("web on agent-a in its own namespace", () => on(A, A_NS, "web"));
  assert.equal(onA.metadata.annotations?.[REMAPPED], "true");
  assert.equal(onA.metadata.annotations?.[SOURCE_UID], created.metadata.uid);
  assert.equal((onA.spec["destination"] as { name?: string }).name, "in-cluster");
  const onB = await eventually("web-b on agent-b (same namespace as the principal: not remapped)", () => on(B, "argocd", "web-b"));
  assert.equal(onB.metadata.annotations?.[REMAPPED], undefined);
  assert.equal(await on(B, "argocd", "web"), undefined, "web goes to agent-a only");

  await apps(h.kube(A)).patchStatus(A_NS, "web", { status: { health: { status: "Healthy" } } });
  const back = await eventually("status of the remapped app on the principal", async () => {
    const p = await apps(h.cp).get("argocd", "web");
    return health(p) === "Healthy" ? p : undefined;
  });
  assert.equal(back.metadata.annotations?.[REMAPPED], undefined, "the marker never reaches the principal");
  await apps(h.cp).patch("argocd", "web", { spec: { source: { path: "v2" } } });
  await eventually("spec update on agent-a", async () => pathOf(await on(A, A_NS, "web")) === "v2");
  await apps(h.kube(A)).patch(A_NS, "web", { spec: { source: { path: "drift" } } });
  await eventually("local drift reverted", async () => pathOf(await on(A, A_NS, "web")) === "v2");
});

test("apps in other namespaces keep them; --create-namespace; agent --allowed-namespaces; unmapped apps stay home", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(to(A, "svc", "team-x"));
  await apps(h.cp).create(to(B, "svc-b", "team-y"));
  await apps(h.cp).create(to(A, "refused", "team-y")); // agent-a allows only team-x
  await apps(h.cp).create(to(A, "not-allowed", "elsewhere")); // the principal does not watch "elsewhere"
  await apps(h.cp).create(to("in-cluster", "local", "argocd"));
  const lone = app("no-destination-name", "argocd") as Application; // destination.server only
  await apps(h.cp).create(lone);
  const svc = await eventually("svc on agent-a in team-x (namespace created)", () => on(A, "team-x", "svc"));
  assert.equal(svc.metadata.annotations?.[REMAPPED], undefined);
  await eventually("svc-b on agent-b in team-y", () => on(B, "team-y", "svc-b"));
  await apps(h.cp).create(to(A, "marker", "argocd"));
  await eventually("later app on agent-a", () => on(A, A_NS, "marker"));
  await sleep(1000);
  assert.equal(await h.kube(A).core.readNamespace({ name: "team-y" }).catch(() => undefined), undefined, "no namespace for a refused app");
  assert.equal(await on(A, "team-y", "refused"), undefined);
  assert.equal(await on(A, "elsewhere", "not-allowed"), undefined);
  for (const c of [A, B]) {
    assert.equal(await on(c, c === A ? A_NS : "argocd", "local"), undefined, "in-cluster destination is not an agent");
    assert.equal(await on(c, c === A ? A_NS : "argocd", "no-destination-name"), undefined);
  }
});

test("changing destination.name moves the app to the other agent; in-cluster removes it", { timeout: 60_000 }, async () => {
  await apps(h.cp).create(to(A, "mover", "argocd"));
  await eventually("mover on agent-a", () => on(A, A_NS, "mover"));
  await apps(h.cp).patch("argocd", "mover", { spec: { destination: { name: B } } });
  await eventually("mover on agent-b", () => on(B, "argocd", "mover"));
  await eventually("mover gone from agent-a", async () => !(await on(A, A_NS, "mover")));
  await apps(h.cp).patch("argocd", "mover", { spec: { destination: { name: "in-cluster" } } });
  await eventually("mover gone from agent-b", async () => !(await on(B, "argocd", "mover")));
  assert.ok(await apps(h.cp).get("argocd", "mover"), "principal copy stays");
});

test("AppProjects match by destination only and keep sourceNamespaces", { timeout: 60_000 }, async () => {
  await projects(h.cp).create({
    metadata: { name: "team", namespace: "argocd" },
    spec: { sourceRepos: ["*"], sourceNamespaces: ["team-*"], destinations: [{ name: A, namespace: "*" }] },
  });
  const p = await eventually("project on agent-a (its namespace)", () => projects(h.kube(A)).get(A_NS, "team"));
  assert.deepEqual(p.spec["sourceNamespaces"], ["team-*"]);
  assert.deepEqual(p.spec["destinations"], [{ name: "in-cluster", server: "https://kubernetes.default.svc", namespace: "*" }]);
  await sleep(500);
  assert.equal(await projects(h.kube(B)).get("argocd", "team"), undefined);
});

test("restarts: remapped and namespaced apps survive resync; changes made meanwhile are applied", { timeout: 120_000 }, async () => {
  await h.stopAgent(A);
  await apps(h.cp).patch("argocd", "web", { spec: { source: { path: "agent-down" } } });
  await apps(h.cp).delete("team-x", "svc");
  await apps(h.cp).create(to(A, "born-a", "argocd"));
  await h.startAgent(A, AGENT_A);
  await eventually("update applied after agent restart", async () => pathOf(await on(A, A_NS, "web")) === "agent-down", 30_000);
  await eventually("deletion applied after agent restart", async () => !(await on(A, "team-x", "svc")), 30_000);
  await eventually("creation applied after agent restart", () => on(A, A_NS, "born-a"), 30_000);

  await h.stopPrincipal();
  await apps(h.cp).patch("argocd", "web", { spec: { source: { path: "principal-down" } } });
  await apps(h.kube(B)).patchStatus("team-y", "svc-b", { status: { health: { status: "Progressing" } } });
  await h.startPrincipal(PRINCIPAL);
  await eventually("update applied after principal restart", async () => pathOf(await on(A, A_NS, "web")) === "principal-down", 30_000);
  await eventually("status from while down", async () => health(await apps(h.cp).get("team-y", "svc-b")) === "Progressing", 30_000);
  await sleep(2000); // let both resyncs finish
  for (const [c, ns, name] of [[A, A_NS, "web"], [A, A_NS, "marker"], [A, A_NS, "born-a"], [B, "argocd", "web-b"], [B, "team-y", "svc-b"]] as const) {
    assert.ok(await on(c, ns, name), `${c} ${ns}/${name} must survive the resyncs`);
  }
});
