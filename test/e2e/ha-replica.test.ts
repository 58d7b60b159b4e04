/**
 * The HA replica (src/ha/replica-client.ts, replica-apply.ts) against a real
 * kube-apiserver, following a fake active principal (test/support/
 * fake-ha-primary.ts: a real grpc-js replicationapi.Replication server on
 * loopback). What the replica must hold afterwards is asserted on the API
 * server: the snapshot of a managed and an autonomous agent (managed apps
 * without source-uid, stale objects pruned only when the primary confirms
 * their deletion), outbound and inbound events mapped as our principal maps
 * them, a sequence gap and an ambiguous delete answered by a re-snapshot, an
 * API outage ridden out, ACKs, a reconnect after the primary restarts, and
 * the bound of the event queue.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import { credentials } from "@grpc/grpc-js";
import { EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { startReplicaClient, type ReplicaClientWithStats } from "../../src/ha/replica-client.ts";
import { countingReplicaMetrics } from "../../src/ha/replica-metrics.ts";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { applications, appProjects, ensureNamespace } from "../../src/kube/crud.ts";
import { secrets } from "../../src/kube/core-objects.ts";
import type { Application, AppProject, KubeObject, Secret } from "../../src/kube/resources.ts";
import type { ReplicationSnapshot, Resource } from "../../src/proto/gen/replication.ts";
import { replicated, resource, startFakePrimary, type FakePrimary } from "../support/fake-ha-primary.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { startTcpGate, type TcpGate } from "../support/tcp-gate.ts";

const SOURCE_UID = "argocd.argoproj.io/source-uid";
let env: KubeEnv;
let kube: KubeClient;
let gate: TcpGate;
let NS: string; // the principal namespace
let MANAGED: string; // agent names = their namespaces on the hub
let AUTO: string;
const b64 = (s: string) => Buffer.from(s).toString("base64");

before(async () => {
  env = await startKubeEnv({ clusters: ["replica"], namespaces: ["argocd", "agent-managed"] });
  const c = env.cluster("replica");
  kube = createKubeClient(c.kubeConfig);
  gate = await startTcpGate(c, { open: true });
  [NS, MANAGED, AUTO] = [c.ns("argocd"), c.ns("agent-managed"), c.ns("agent-auto")];
}, { timeout: 120_000 });

after(async () => {
  await gate?.stop();
  await env?.stop();
});

async function eventually(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** An object as the primary's API server returns it (server-set fields included). */
function served<T extends KubeObject>(o: T, uid: string): T {
  return { ...o, metadata: { ...o.metadata, uid, resourceVersion: "4711", generation: 3, creationTimestamp: "2026-01-02T03:04:05Z", managedFields: [{ manager: "argocd-server", operation: "Update" }] } };
}

const spec = (project: string, dest: Record<string, string>, path = "guestbook") => ({
  project,
  source: { repoURL: "https://example.invalid/repo.git", path, targetRevision: "HEAD" },
  destination: dest,
});

const hubApp = (name: string, extra: Partial<Application> = {}): Application =>
  served({ apiVersion: "argoproj.io/v1alpha1", kind: "Application", metadata: { name, namespace: MANAGED, labels: { team: "a" } }, spec: spec("proj-m", { name: MANAGED, namespace: "guestbook" }), ...extra }, `primary-${name}`);

const mirrorApp = (name: string, agentUid: string): Application =>
  served({ metadata: { name, namespace: AUTO, annotations: { [SOURCE_UID]: agentUid } }, spec: spec(`${AUTO}-default`, { name: "auto-cluster", namespace: "x" }), status: { sync: { status: "Synced" } } }, `primary-${name}`);

const projM = (): AppProject =>
  served({ metadata: { name: "proj-m", namespace: NS }, spec: { sourceNamespaces: [MANAGED], destinations: [{ name: MANAGED, namespace: "*" }], sourceRepos: ["*"] } }, "primary-proj-m");

const autoDefault = (): AppProject =>
  served({ metadata: { name: `${AUTO}-default`, namespace: NS, annotations: { [SOURCE_UID]: "agent-proj-default" } }, spec: { sourceNamespaces: [AUTO], destinations: [{ name: "auto-cluster", server: "*", namespace: "*" }], sourceRepos: ["*"] } }, "primary-auto-default");

const repo1 = (): Secret =>
  served({ metadata: { name: "repo-1", namespace: NS, labels: { "argocd.argoproj.io/secret-type": "repository" } }, type: "Opaque", data: { url: b64("https://example.invalid/repo.git"), project: b64("proj-m") } }, "primary-repo-1");

const selfRegistered = (agent: string, name: string): Secret =>
  served({
    metadata: { name, namespace: NS, labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/self-registered-cluster": "true", "argocd-agent.argoproj-labs.io/agent-name": agent } },
    type: "Opaque",
    data: { name: b64(agent), server: b64(`https://proxy:9090?agentName=${agent}`) },
  }, `primary-${name}`);

/** A snapshot resource of the kind the object is. */
function res(o: KubeObject): Resource {
  const kind = "type" in o ? "Repository" : "destinations" in ((o as AppProject).spec ?? {}) ? "AppProject" : "Application";
  return resource(kind, o);
}

function snapshot(seq: number, managed: KubeObject[], auto: KubeObject[], principal: Secret[] = []): ReplicationSnapshot {
  return {
    agents: [
      { name: MANAGED, mode: "managed", connected: true, resources: managed.map(res) },
      { name: AUTO, mode: "autonomous", connected: false, resources: auto.map(res) },
    ],
    lastSequenceNum: String(seq),
    principalResources: principal.map((s) => resource("ClusterSecret", s)),
  };
}

const apps = () => applications(kube);
const getApp = (ns: string, name: string) => apps().get(ns, name);

test("the replica follows the primary: snapshot, events, gap, confirmed prune, API outage, restart", { timeout: 180_000 }, async () => {
  // What this cluster held before (an earlier replication, now stale), and its own manual cluster secret.
  await apps().create({ metadata: { name: "stale-app", namespace: MANAGED }, spec: spec("proj-m", { name: MANAGED, namespace: "x" }) });
  await apps().create({ metadata: { name: "limbo-app", namespace: MANAGED }, spec: spec("proj-m", { name: MANAGED, namespace: "x" }) });
  const sec = secrets(kube);
  const gone = selfRegistered("agent-old", "cluster-agent-old");
  await sec.create({ metadata: { name: gone.metadata.name, namespace: NS, labels: gone.metadata.labels }, type: "Opaque", data: gone.data });
  await sec.create({
    metadata: { name: "cluster-auto", namespace: NS, labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": AUTO } },
    type: "Opaque",
    data: { name: b64("auto-cluster"), server: b64("https://proxy:9090?agentName=auto") },
  });

  const operation = { sync: { revision: "HEAD" }, initiatedBy: { username: "admin" } };
  const guestbook = hubApp("guestbook", { operation, status: { sync: { status: "Synced" } } });
  let snap = snapshot(10, [guestbook, projM(), repo1()], [mirrorApp("auto-app", "agent-uid-1"), autoDefault()], [selfRegistered(MANAGED, "cluster-managed")]);
  const primary = await startFakePrimary({ snapshot: () => snap, current: 12 });
  primary.deleted.add(`Application/${MANAGED}/stale-app`);
  primary.deleted.add(`ClusterSecret/${NS}/cluster-agent-old`);

  const metrics = countingReplicaMetrics();
  const streamStates: boolean[] = [];
  const client = startReplicaClient({
    peerAddress: `127.0.0.1:${primary.port}`,
    credentials: credentials.createInsecure(),
    kube: createKubeClient({ kubeconfig: gate.kubeconfigPath }),
    namespace: NS,
    metrics,
    onStreamState: (up) => streamStates.push(up),
    timing: { reconcileDelayMs: 300, backoff: { baseMs: 200, factor: 1.5, capMs: 1000 }, connectTimeoutMs: 5000 },
  });
  let restarted: FakePrimary | undefined;
  try {
    // ---- snapshot
    await primary.waitForAck(10);
    assert.deepEqual(streamStates, [true], "stream reported up once the snapshot is applied");
    assert.equal(client.lastSequence(), 10);
    const local = await getApp(MANAGED, "guestbook");
    assert.ok(local, "managed app from the snapshot");
    assert.equal(local.metadata.annotations?.[SOURCE_UID], undefined, "managed apps get no source-uid");
    assert.notEqual(local.metadata.uid, "primary-guestbook");
    assert.deepEqual(local.metadata.labels, { team: "a" });
    assert.deepEqual(local.status, { sync: { status: "Synced" } });
    assert.deepEqual(local.operation, operation);
    const mirror = await getApp(AUTO, "auto-app");
    assert.equal(mirror?.metadata.annotations?.[SOURCE_UID], "agent-uid-1", "mirrors keep the agent's uid");
    assert.equal((await appProjects(kube).get(NS, "proj-m"))?.spec["sourceNamespaces"]?.toString(), MANAGED);
    assert.equal((await appProjects(kube).get(NS, `${AUTO}-default`))?.metadata.annotations?.[SOURCE_UID], "agent-proj-default");
    assert.equal((await sec.get(NS, "repo-1"))?.data?.["project"], b64("proj-m"));
    assert.ok(await sec.get(NS, "cluster-managed"), "self-registered cluster secret from principal_resources");
    assert.equal(await getApp(MANAGED, "stale-app"), undefined, "stale app pruned: the primary confirmed its deletion");
    assert.ok(await getApp(MANAGED, "limbo-app"), "an object the primary did not confirm deleted is kept");
    assert.equal(await sec.get(NS, "cluster-agent-old"), undefined, "stale self-registered cluster secret pruned");
    assert.ok(await sec.get(NS, "cluster-auto"), "a manual cluster secret is never pruned");
    const asked = primary.confirms.filter((c) => c.agentName === MANAGED);
    assert.ok(asked.some((c) => c.snapshotSequenceNum === "10") && asked.some((c) => c.snapshotSequenceNum === "12"), "asked at the snapshot's sequence, then at the current one");
    assert.equal(metrics.values.snapshotAgents, 2);

    // ---- events: outbound and inbound, mapped as the principal maps them
    primary.send(replicated(11, "outbound", MANAGED, EventTypes.specUpdate, EventTargets.application, hubApp("guestbook", { spec: spec("proj-m", { name: MANAGED, namespace: "guestbook" }, "v2") })));
    const agentCopy: Application = {
      metadata: { name: "guestbook", namespace: "argocd", uid: "agent-guestbook", annotations: { [SOURCE_UID]: "primary-guestbook", "argocd.argoproj.io/refresh": "normal" } },
      spec: spec("proj-m", { server: "https://kubernetes.default.svc", namespace: "guestbook" }, "v2"),
      status: { sync: { status: "Synced" }, health: { status: "Healthy" }, operationState: { operation, phase: "Running", startedAt: "2026-01-02T03:04:06Z" } },
    };
    primary.send(replicated(12, "inbound", MANAGED, EventTypes.statusUpdate, EventTargets.application, agentCopy));
    const autoTwo: Application = {
      metadata: { name: "auto-two", namespace: "argocd", uid: "agent-uid-2", labels: { app: "two" } },
      spec: spec("default", { server: "https://kubernetes.default.svc", namespace: "two" }),
      status: { sync: { status: "OutOfSync" } },
      operation: { sync: { revision: "abc" } },
    };
    primary.send(replicated(13, "inbound", AUTO, EventTypes.create, EventTargets.application, autoTwo));
    const team: AppProject = { metadata: { name: "team", namespace: "argocd", uid: "agent-proj-team" }, spec: { destinations: [{ server: "https://kubernetes.default.svc", namespace: "*" }], sourceRepos: ["*"] } };
    primary.send(replicated(14, "inbound", AUTO, EventTypes.create, EventTargets.appProject, team));
    primary.send(replicated(15, "outbound", MANAGED, EventTypes.delete, EventTargets.application, hubApp("gone-soon")));
    primary.send(replicated(16, "inbound", AUTO, EventTypes.delete, EventTargets.application, { metadata: { name: "auto-app", namespace: "argocd", uid: "agent-uid-1" }, spec: {} } as Application));
    primary.send(replicated(17, "outbound", MANAGED, EventTypes.create, EventTargets.application, hubApp("new-app")));
    await primary.waitForAck(17);
    const gb = (await getApp(MANAGED, "guestbook"))!;
    assert.equal((gb.spec["source"] as { path: string }).path, "v2", "outbound spec-update applied");
    assert.deepEqual(gb.status?.["health"], { status: "Healthy" }, "managed agent's status copied");
    assert.equal(gb.operation, undefined, "the agent started the operation: cleared as the principal does");
    assert.equal(gb.metadata.annotations?.["argocd.argoproj.io/refresh"], "normal", "refresh annotation mirrored");
    assert.equal(gb.metadata.annotations?.[SOURCE_UID], undefined);
    const two = (await getApp(AUTO, "auto-two"))!;
    assert.ok(two, "autonomous agent's app mirrored (its namespace created)");
    assert.equal(two.spec["project"], `${AUTO}-default`, "project prefixed");
    assert.deepEqual(two.spec["destination"], { name: "auto-cluster", namespace: "two" }, "destination = the agent's cluster by its cluster secret");
    assert.equal(two.metadata.annotations?.[SOURCE_UID], "agent-uid-2");
    assert.equal(two.operation, undefined, "created without operation");
    assert.deepEqual(two.status, { sync: { status: "OutOfSync" } });
    const teamMirror = (await appProjects(kube).get(NS, `${AUTO}-team`))!;
    assert.deepEqual(teamMirror.spec["sourceNamespaces"], [AUTO]);
    assert.deepEqual(teamMirror.spec["destinations"], [{ name: "auto-cluster", server: "*", namespace: "*" }]);
    assert.equal(await getApp(AUTO, "auto-app"), undefined, "autonomous delete removed the mirror");
    assert.ok(await getApp(MANAGED, "new-app"));
    assert.equal(metrics.values.eventsProcessed, 7);
    assert.equal(metrics.values.eventsErrors, 0);
    assert.ok(client.lastEventUnix() > 0);

    // ---- a sequence gap: the event is applied, then a re-snapshot at once
    snap = snapshot(25, [hubApp("new-app"), hubApp("from-resnapshot"), projM(), repo1()], [mirrorApp("auto-two", "agent-uid-2"), autoDefault()], [selfRegistered(MANAGED, "cluster-managed")]);
    primary.current = 25;
    primary.send(replicated(20, "outbound", MANAGED, EventTypes.specUpdate, EventTargets.application, hubApp("new-app", { metadata: { name: "new-app", namespace: MANAGED, labels: { gap: "yes" } } })));
    primary.send(replicated(21, "outbound", MANAGED, EventTypes.create, EventTargets.application, hubApp("covered-by-snapshot")));
    primary.send(replicated(26, "outbound", MANAGED, EventTypes.create, EventTargets.application, hubApp("after-gap")));
    await primary.waitForAck(26);
    assert.equal(metrics.values.sequenceGaps, 1);
    assert.equal(metrics.values.reconciliations, 1);
    assert.ok(await getApp(MANAGED, "from-resnapshot"), "re-snapshot applied");
    assert.equal(await getApp(MANAGED, "covered-by-snapshot"), undefined, "events the snapshot covers are skipped");
    assert.ok(await getApp(MANAGED, "after-gap"));

    // ---- a repository delete is ambiguous (sent per recipient): a re-snapshot prunes only what the primary confirms
    snap = snapshot(27, [hubApp("new-app"), hubApp("from-resnapshot"), hubApp("after-gap"), projM()], [mirrorApp("auto-two", "agent-uid-2"), autoDefault()], [selfRegistered(MANAGED, "cluster-managed")]);
    primary.current = 27;
    primary.deleted.add(`Repository/${NS}/repo-1`);
    primary.send(replicated(27, "outbound", MANAGED, EventTypes.delete, EventTargets.repository, repo1()));
    await eventually("repo-1 pruned after the confirmed re-snapshot", async () => (await sec.get(NS, "repo-1")) === undefined);
    assert.equal(metrics.values.reconciliations, 2);

    // ---- the local API server is down for 3 s while events arrive: they wait and apply
    await gate.close();
    primary.send(replicated(28, "outbound", MANAGED, EventTypes.specUpdate, EventTargets.application, hubApp("after-gap", { spec: spec("proj-m", { name: MANAGED, namespace: "guestbook" }, "during-outage") })));
    primary.send(replicated(29, "outbound", MANAGED, EventTypes.create, EventTargets.application, hubApp("outage-app")));
    await sleep(3000);
    assert.ok(!primary.acks.includes(29), "nothing applied while the API server is down");
    await gate.open();
    await primary.waitForAck(29);
    assert.equal(((await getApp(MANAGED, "after-gap"))!.spec["source"] as { path: string }).path, "during-outage");
    assert.ok(await getApp(MANAGED, "outage-app"));
    assert.equal(metrics.values.eventsErrors, 0, "an outage is waited out, not an error");

    // ---- the primary restarts (sequence numbers start over): reconnect with backoff, fresh snapshot
    await primary.stop();
    await eventually("stream reported down", () => streamStates.length === 2);
    assert.deepEqual(streamStates, [true, false]);
    await sleep(1000); // a few refused attempts
    snap = snapshot(3, [hubApp("new-app"), hubApp("from-resnapshot"), hubApp("after-gap"), hubApp("outage-app"), projM()], [mirrorApp("auto-two", "agent-uid-2"), autoDefault()], [selfRegistered(MANAGED, "cluster-managed")]);
    restarted = await startFakePrimary({ port: primary.port, snapshot: () => snap, current: 3 });
    await restarted.waitForAck(3);
    assert.deepEqual(streamStates, [true, false, true]);
    assert.ok(metrics.values.reconnectAttempts >= 1, `reconnect attempts ${metrics.values.reconnectAttempts}`);
    assert.equal(client.lastSequence(), 3, "sequence follows the restarted primary");
    restarted.send(replicated(4, "outbound", MANAGED, EventTypes.create, EventTargets.application, hubApp("after-restart")));
    await restarted.waitForAck(4);
    assert.ok(await getApp(MANAGED, "after-restart"));
    assert.equal(metrics.values.connected, 1);
  } finally {
    await client.stop();
    await primary.stop();
    await restarted?.stop();
  }
  assert.equal(streamStates.at(-1), false, "stop reports the stream down");
});

test("a flood of events is held in a bounded queue; the stream pauses at the bound; nothing is lost", { timeout: 120_000 }, async () => {
  const agent = env.cluster("replica").ns("agent-flood");
  await ensureNamespace(kube, agent);
  const flood = (n: number): Application =>
    served({ metadata: { name: "flood", namespace: agent, annotations: { n: String(n), pad: "x".repeat(4000) } }, spec: spec("default", { name: agent, namespace: "x" }) }, "primary-flood");
  const snap: ReplicationSnapshot = { agents: [{ name: agent, mode: "managed", connected: true, resources: [resource("Application", flood(0))] }], lastSequenceNum: "0", principalResources: [] };
  const primary = await startFakePrimary({ snapshot: () => snap });
  const metrics = countingReplicaMetrics();
  let client: ReplicaClientWithStats | undefined;
  try {
    client = startReplicaClient({
      peerAddress: `127.0.0.1:${primary.port}`,
      credentials: credentials.createInsecure(),
      kube,
      namespace: NS,
      metrics,
      onStreamState: () => {},
      timing: { maxQueuedEvents: 5 },
    });
    await primary.waitForAck(0);
    const total = 150;
    // Sent as fast as the stream takes them (as the forwarder does): the replica sets the pace.
    for (let i = 1; i <= total; i++) await primary.sendPaced(replicated(i, "outbound", agent, EventTypes.specUpdate, EventTargets.application, flood(i)));
    await primary.waitForAck(total, 90_000);
    const stats = client.queueStats();
    assert.ok(stats.peak <= 5, `queue peak ${stats.peak} within its bound`);
    assert.ok(stats.pauses >= 1, "the stream was paused at the bound");
    assert.equal((await getApp(agent, "flood"))?.metadata.annotations?.["n"], String(total), "every event applied, in order");
    assert.equal(metrics.values.eventsProcessed, total);
    assert.equal(metrics.values.eventsDropped, 0);
    assert.equal(metrics.values.sequenceGaps, 0);
  } finally {
    await client?.stop();
    await primary.stop();
  }
});

test("a replica still behind the peer one Status tick later re-snapshots", { timeout: 60_000 }, async () => {
  let seq = 5;
  const primary = await startFakePrimary({ snapshot: () => ({ agents: [], lastSequenceNum: String(seq), principalResources: [] }), current: 5 });
  const metrics = countingReplicaMetrics();
  const client = startReplicaClient({
    peerAddress: `127.0.0.1:${primary.port}`,
    credentials: credentials.createInsecure(),
    kube,
    namespace: NS,
    metrics,
    onStreamState: () => {},
    timing: { statusIntervalMs: 300 },
  });
  try {
    await primary.waitForAck(5);
    await sleep(1000);
    assert.equal(metrics.values.reconciliations, 0, "level with the peer: no re-snapshot");
    // The peer moves on and its events never arrive (a lost stretch): at most two ticks later, a snapshot.
    seq = 9;
    primary.current = 9;
    await primary.waitForAck(9, 5000);
    assert.equal(metrics.values.reconciliations, 1);
    assert.equal(client.lastSequence(), 9);
  } finally {
    await client.stop();
    await primary.stop();
  }
});

test("an unusable peer address is refused with the flag's name", () => {
  const base = { credentials: credentials.createInsecure(), kube, namespace: "argocd", metrics: countingReplicaMetrics(), onStreamState: () => {} };
  for (const peerAddress of ["", "host", "host:", "host:99999", "a b:1"]) {
    assert.throws(() => startReplicaClient({ ...base, peerAddress }), /--ha-peer-address must be host:port/, peerAddress);
  }
});
