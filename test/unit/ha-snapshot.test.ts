// What the active principal gives a replica (operations.md §4.5) and how HA gates
// the principal's own replication, over a principal context whose informer caches
// are plain lists: the snapshot's agents (registry ∪ object owners), modes,
// resources and principal resources; ConfirmMissingResources answers; sendTo and
// the informer callbacks queue nothing while passive, and forward while active;
// becoming active replays what was held back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { configureLogging } from "../../src/observability/log.ts";
import type { AgentEvent } from "../../src/events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../src/events/event-types.ts";
import type { Application, AppProject, KubeObject, Secret } from "../../src/kube/resources.ts";
import { AgentRegistry } from "../../src/principal/agent-registry.ts";
import { SelfWrites, SOURCE_UID } from "../../src/replication/objects.ts";
import { principalEvent, sendTo, type PrincipalContext } from "../../src/replication/principal/principal-context.ts";
import { haGatedAppHandlers, haGatedProjectHandlers, replayOnActive } from "../../src/replication/principal/principal-ha-gate.ts";
import { buildSnapshot, confirmMissing, resourceOf } from "../../src/ha/snapshot.ts";
import { SELF_REGISTERED_LABEL } from "../../src/registration/self-registration.ts";

configureLogging({ write: () => {}, defaultLevel: "error" });

const fakeInformer = <T extends KubeObject>(items: T[]) => ({
  list: () => items,
  get: (ns: string | undefined, name: string) => items.find((o) => o.metadata.name === name && (o.metadata.namespace ?? "") === (ns ?? "")),
  addHandlers: () => () => {},
});

const app = (ns: string, name: string, sourceUid?: string): Application => ({
  apiVersion: "argoproj.io/v1alpha1",
  kind: "Application",
  metadata: { name, namespace: ns, uid: `uid-${ns}-${name}`, resourceVersion: "5", ...(sourceUid ? { annotations: { [SOURCE_UID]: sourceUid } } : {}) },
  spec: { project: "default", destination: { name: "in-cluster" } },
});

const project = (name: string, spec: Record<string, unknown>, sourceUid?: string): AppProject => ({
  metadata: { name, namespace: "argocd", uid: `uid-${name}`, resourceVersion: "3", ...(sourceUid ? { annotations: { [SOURCE_UID]: sourceUid } } : {}) },
  spec,
});

const secret = (name: string, labels: Record<string, string>): Secret => ({ metadata: { name, namespace: "argocd", uid: `uid-${name}`, labels }, data: { name: "Y2x1c3Rlcg==" } });

function context(active: { value: boolean } | undefined) {
  const registry = new AgentRegistry();
  registry.record("agent-m", "managed");
  registry.record("agent-a", "autonomous");
  const apps = [app("agent-m", "guestbook"), app("agent-a", "local", "remote-uid"), app("argocd", "hub-only"), app("agent-x", "other")];
  const projects = [
    project("default", { destinations: [{ name: "*", namespace: "*" }], sourceNamespaces: ["agent-*"] }),
    project("agent-a-proj", { destinations: [{ name: "agent-a", server: "*" }], sourceNamespaces: ["agent-a"] }, "remote-proj-uid"),
    project("agent-z-proj", { destinations: [{ name: "agent-z", server: "*" }], sourceNamespaces: ["agent-z"] }, "z-uid"),
  ];
  const secrets = [
    secret("cluster-agent-m", { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": "agent-m", [SELF_REGISTERED_LABEL]: "true" }),
    secret("cluster-agent-x", { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": "agent-x" }),
  ];
  const forwarded: [string, AgentEvent][] = [];
  const ctx = {
    namespace: "argocd",
    principalUid: "principal-uid",
    destinationBased: false,
    registry,
    appInformer: fakeInformer(apps),
    projectInformer: fakeInformer(projects),
    clusters: { informer: fakeInformer(secrets), clusterName: (a: string) => a },
    dataKinds: [],
    selfWrites: new SelfWrites(),
    mirrorSpecs: new Map(),
    expectedDeletes: new Set(),
    appAgents: new Map(),
    ha: active && { accepting: () => active.value, outbound: (agent: string, ev: AgentEvent) => void forwarded.push([agent, ev]) },
  } as unknown as PrincipalContext;
  const queued = (agent: string) => ctx.registry.get(agent)?.writer.backlog().unsent ?? 0;
  return { ctx, apps, projects, forwarded, queued };
}

const kindsAndNames = (rs: { kind: string; name: string }[]) => rs.map((r) => `${r.kind}/${r.name}`);

test("the snapshot: registry agents and object owners, their modes, connection and resources; self-registered cluster secrets", () => {
  const { ctx } = context(undefined);
  ctx.registry.connect("agent-m", "managed", () => {});
  const snap = buildSnapshot(ctx, 42);
  assert.equal(snap.lastSequenceNum, "42");
  assert.deepEqual(snap.agents.map((a) => [a.name, a.mode, a.connected, kindsAndNames(a.resources)]), [
    ["agent-a", "autonomous", false, ["Application/local", "AppProject/agent-a-proj"]],
    ["agent-m", "managed", true, ["Application/guestbook", "AppProject/default"]],
    ["agent-x", "managed", false, ["Application/other", "AppProject/default"]],
    ["agent-z", "autonomous", false, ["AppProject/agent-z-proj"]],
  ]);
  const guestbook = snap.agents[1]!.resources[0]!;
  assert.deepEqual(JSON.parse(guestbook.data.toString()), app("agent-m", "guestbook"), "data is the object as cached");
  assert.equal(guestbook.uid, "uid-agent-m-guestbook");
  assert.equal(guestbook.specChecksum.length, 0);
  assert.deepEqual(kindsAndNames(snap.principalResources), ["ClusterSecret/cluster-agent-m"], "manual cluster secrets are not replicated");
  assert.deepEqual(buildSnapshot(undefined, 7), { agents: [], lastSequenceNum: "7", principalResources: [] });
});

test("ConfirmMissingResources: exists (with data) / deleted / unknown, and all unknown once the sequence moved", () => {
  const { ctx, apps } = context(undefined);
  const asked = [
    resourceOf("Application", apps[0]!),
    { ...resourceOf("Application", app("agent-m", "gone")), data: Buffer.alloc(0) },
    resourceOf("AppProject", project("gone-proj", {})),
    resourceOf("ApplicationSet", { metadata: { name: "set", namespace: "argocd" } }),
    resourceOf("Widget", { metadata: { name: "w", namespace: "argocd" } }),
    resourceOf("ClusterSecret", secret("cluster-agent-x", {})),
  ];
  const res = confirmMissing(ctx, { agentName: "agent-m", snapshotSequenceNum: "9", resources: asked }, 9);
  assert.deepEqual(res.results.map((r) => [r.resource?.name, r.status]), [
    ["guestbook", "exists"], ["gone", "deleted"], ["gone-proj", "deleted"], ["set", "unknown"], ["w", "unknown"], ["cluster-agent-x", "deleted"],
  ]);
  assert.deepEqual(JSON.parse(res.results[0]!.resource!.data.toString()), apps[0]);
  assert.match(res.results[3]!.reason, /ApplicationSets are not watched/);
  const moved = confirmMissing(ctx, { agentName: "agent-m", snapshotSequenceNum: "9", resources: asked }, 12);
  assert.ok(moved.results.every((r) => r.status === "unknown" && r.reason === "snapshot sequence 9 no longer current, current sequence 12"));
});

test("sendTo: nothing is queued while passive; while active, queued and forwarded (not GPG keys)", () => {
  const active = { value: false };
  const { ctx, forwarded, queued, apps } = context(active);
  const ev = principalEvent(ctx, EventTypes.specUpdate, EventTargets.application, apps[0]!);
  sendTo(ctx, "agent-m", ev);
  assert.equal(queued("agent-m"), 0);
  assert.equal(forwarded.length, 0);
  active.value = true;
  sendTo(ctx, "agent-m", ev);
  sendTo(ctx, "agent-m", principalEvent(ctx, EventTypes.specUpdate, EventTargets.gpgKey, { metadata: { name: "gpg", namespace: "argocd", uid: "g" } }, false));
  assert.equal(queued("agent-m"), 2);
  assert.deepEqual(forwarded.map(([a, e]) => [a, e.target]), [["agent-m", "application"]]);
});

test("informer callbacks do nothing while passive; while active, a principal project change is forwarded once with the hub object", () => {
  const active = { value: false };
  const { ctx, forwarded, queued, apps, projects } = context(active);
  const appHandlers = haGatedAppHandlers(ctx);
  const projectHandlers = haGatedProjectHandlers(ctx);
  appHandlers.onAdd!(apps[0]!);
  projectHandlers.onAdd!(projects[0]!);
  projectHandlers.onAdd!(projects[1]!);
  assert.equal(queued("agent-m"), 0);
  assert.equal(forwarded.length, 0);
  assert.equal(ctx.mirrorSpecs.size, 0, "not even the mirror cache is touched while passive");

  active.value = true;
  appHandlers.onAdd!(apps[0]!);
  projectHandlers.onUpdate!(projects[0]!, projects[0]!);
  projectHandlers.onAdd!(projects[1]!); // a mirror: reaches replicas as the agent's own event
  assert.deepEqual(forwarded.map(([a, e]) => [a, e.target, e.type.split(".").pop()]), [
    ["agent-m", "application", "create"],
    ["argocd", "appproject", "spec-update"],
  ]);
  assert.deepEqual(JSON.parse(Buffer.from(forwarded[1]![1].data).toString()).spec, projects[0]!.spec, "the hub's project, not an agent copy");
  assert.equal(queued("agent-m"), 2, "the app create and the agent's project copy");
});

test("becoming active replays the caches: creates for managed apps, mirror specs cached afresh", () => {
  const active = { value: true };
  const { ctx, forwarded, queued } = context(active);
  ctx.mirrorSpecs.set("agent-a/local", { stale: true });
  replayOnActive(ctx);
  assert.deepEqual(forwarded.map(([a, e]) => [a, e.subject, e.type.split(".").pop()]).sort(), [
    ["agent-m", "agent-m/guestbook", "create"],
    ["agent-x", "agent-x/other", "create"],
  ]);
  assert.equal(queued("agent-m"), 1);
  assert.deepEqual(ctx.mirrorSpecs.get("agent-a/local"), app("agent-a", "local").spec);
  assert.ok(ctx.mirrorSpecs.has("argocd/agent-a-proj"));
});
