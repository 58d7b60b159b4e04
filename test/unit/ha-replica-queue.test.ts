// The HA replica's bounded event queue (src/ha/replica-queue.ts) and the
// checks on snapshot resources (src/ha/replica-snapshot.ts decodeResource,
// applySnapshot with a stand-in writer): pure logic, no kube, no gRPC.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedEventQueue, QueueOverflowError, WAKE } from "../../src/ha/replica-queue.ts";
import { applySnapshot, decodeResource } from "../../src/ha/replica-snapshot.ts";
import type { ReplicaWriter } from "../../src/ha/replica-writes.ts";
import { countingReplicaMetrics } from "../../src/ha/replica-metrics.ts";
import type { Resource } from "../../src/proto/gen/replication.ts";

function flow() {
  const calls: string[] = [];
  return { calls, pause: () => calls.push("pause"), resume: () => calls.push("resume") };
}

test("at its bound the queue pauses the stream, and resumes it once drained to half", async () => {
  const f = flow();
  const q = new BoundedEventQueue<number>(4, f);
  for (const n of [1, 2, 3]) q.push(n);
  assert.deepEqual(f.calls, []);
  q.push(4);
  assert.deepEqual(f.calls, ["pause"], "paused when the 4th item made it full");
  assert.equal(q.size, 4);
  assert.equal(await q.next(), 1);
  assert.deepEqual(f.calls, ["pause"], "3 left: still above half");
  assert.equal(await q.next(), 2);
  assert.deepEqual(f.calls, ["pause", "resume"], "2 left = half: resumed");
  assert.equal(q.peak, 4);
  assert.equal(q.pauses, 1);
  assert.equal(await q.next(), 3);
  assert.equal(await q.next(), 4);
});

test("an item beyond the bound (flow control ignored) fails the queue and drops what it held", async () => {
  const q = new BoundedEventQueue<number>(2, flow());
  q.push(1);
  q.push(2);
  q.push(3); // the stream did not stop
  assert.ok(q.closed());
  assert.equal(q.size, 0, "held items dropped: the re-snapshot covers them");
  await assert.rejects(q.next(), (err: unknown) => err instanceof QueueOverflowError && err.dropped === 3 && /bound of 2/.test(err.message));
  q.push(4); // ignored after close
  assert.equal(q.size, 0);
});

test("a waiting next() gets the pushed item directly, WAKE on wake(), and the reason on close", async () => {
  const q = new BoundedEventQueue<string>(10, flow());
  const first = q.next();
  q.push("a");
  assert.equal(await first, "a");
  const second = q.next();
  q.wake();
  assert.equal(await second, WAKE);
  const third = q.next();
  q.close(new Error("stream ended"));
  await assert.rejects(third, /stream ended/);
  q.close(new Error("later reason"));
  await assert.rejects(q.next(), /stream ended/, "the first reason wins");
});

test("the bound must be a positive integer", () => {
  assert.throws(() => new BoundedEventQueue(0, flow()), RangeError);
  assert.throws(() => new BoundedEventQueue(1.5, flow()), RangeError);
});

test("many items through a small queue keep their order and stay bounded", async () => {
  const f = flow();
  const q = new BoundedEventQueue<number>(8, f);
  const got: number[] = [];
  let pushed = 0;
  // A producer that honours pause/resume like a Readable.
  let paused = false;
  f.pause = () => ((paused = true), f.calls.push("pause"));
  f.resume = () => ((paused = false), f.calls.push("resume"));
  while (got.length < 5000) {
    while (!paused && pushed < 5000) q.push(++pushed);
    const n = await q.next();
    if (n !== WAKE) got.push(n);
  }
  assert.deepEqual(got, Array.from({ length: 5000 }, (_, i) => i + 1));
  assert.equal(q.peak, 8);
});

const res = (kind: string, ns: string, name: string, data: unknown): Resource => ({
  name,
  namespace: ns,
  kind,
  uid: "u",
  specChecksum: Buffer.alloc(0),
  data: Buffer.from(typeof data === "string" ? data : JSON.stringify(data)),
});

test("snapshot resources are checked like event payloads before they are written", () => {
  const ok = decodeResource(res("Application", "agent-a", "app", { metadata: { name: "app", namespace: "agent-a", uid: "x" }, spec: { project: "p" } }));
  assert.equal(typeof ok, "object");
  assert.match(decodeResource(res("Application", "agent-a", "app", "{not json")) as string, /not JSON/);
  assert.match(decodeResource(res("Application", "agent-a", "app", [1])) as string, /not a JSON object/);
  assert.match(decodeResource(res("Application", "agent-a", "app", { metadata: { name: "app", namespace: "agent-a" } })) as string, /no spec/);
  assert.match(decodeResource(res("Application", "agent-a", "app", { metadata: { name: "other", namespace: "agent-a" }, spec: {} })) as string, /names agent-a\/other/);
  assert.match(decodeResource(res("AppProject", "argocd", "p", { metadata: { name: "p", namespace: "elsewhere" }, spec: {} })) as string, /names elsewhere\/p/);
  assert.match(decodeResource(res("Repository", "argocd", "Bad_Name", { metadata: { name: "Bad_Name" } })) as string, /invalid metadata.name/);
  const secret = decodeResource(res("Repository", "argocd", "repo", { metadata: { name: "repo" }, data: { url: "eA==" } }));
  assert.equal(typeof secret === "object" && secret.metadata.namespace, "argocd", "a missing namespace is the resource's");
});

// Wire fact (hand-run interop against upstream's Go principal): its snapshot lists every
// key it tracks, with `data` left empty when it cannot read the object (for example a key
// an agent's own copy put there, namespace "argocd"). Upstream replicas skip such entries;
// they are neither written nor an apply error, and still count as present (no prune).
test("snapshot resources without data are skipped, not failed", async () => {
  const written: string[] = [];
  const asked: string[] = [];
  const writer = {
    retrying: async (what: string, fn: () => Promise<unknown>) => (what === "list Secrets" ? { items: [] } : fn()),
    apps: { list: async () => ({ items: [{ metadata: { name: "app1", namespace: "argocd" }, spec: {} }] }) },
    projects: { list: async () => ({ items: [] }) },
    upsertApp: async (a: { metadata: { namespace: string; name: string } }) => void written.push(`${a.metadata.namespace}/${a.metadata.name}`),
  } as unknown as ReplicaWriter;
  const empty: Resource = { name: "app1", namespace: "argocd", kind: "Application", uid: "u1", specChecksum: Buffer.alloc(0), data: Buffer.alloc(0) };
  const full = res("Application", "agent-a", "app1", { metadata: { name: "app1", namespace: "agent-a" }, spec: { project: "default" } });
  const r = await applySnapshot(
    { writer, namespace: "argocd", destinationBased: false, confirmMissing: async (req) => (asked.push(...req.resources.map((x) => x.name)), { results: [] }) },
    { lastSequenceNum: "0", principalResources: [], agents: [{ name: "agent-a", mode: "managed", connected: false, resources: [empty, full] }] },
  );
  assert.deepEqual(written, ["agent-a/app1"]);
  assert.equal(r.applied, 1);
  assert.equal(r.failed, 0, "an entry without data is not an apply error");
  assert.equal(r.skipped, 1);
});

// Wire fact (same hand-run): an upstream replica upserts an autonomous agent's inbound copy as
// it came (namespace "argocd", in-cluster destination) and, once promoted, lists it under the
// agent in its snapshot. Written as is it would be an Application of the hub itself.
test("a snapshot Application this principal would not map to its agent is skipped", async () => {
  const written: string[] = [];
  const writer = {
    retrying: async (what: string, fn: () => Promise<unknown>) => (what === "list Secrets" ? { items: [] } : fn()),
    apps: { list: async () => ({ items: [] }) },
    projects: { list: async () => ({ items: [] }) },
    upsertApp: async (a: { metadata: { namespace: string; name: string } }) => void written.push(`${a.metadata.namespace}/${a.metadata.name}`),
  } as unknown as ReplicaWriter;
  const raw = res("Application", "argocd", "auto1", {
    metadata: { name: "auto1", namespace: "argocd", annotations: { "argocd.argoproj.io/source-uid": "u9" } },
    spec: { project: "default", destination: { server: "https://kubernetes.default.svc" } },
  });
  const mirror = res("Application", "agent-a", "auto1", {
    metadata: { name: "auto1", namespace: "agent-a", annotations: { "argocd.argoproj.io/source-uid": "u9" } },
    spec: { project: "agent-a-default", destination: { name: "agent-a" } },
  });
  for (const destinationBased of [false, true]) {
    written.length = 0;
    const r = await applySnapshot(
      { writer, namespace: "argocd", destinationBased, confirmMissing: async () => ({ results: [] }) },
      { lastSequenceNum: "0", principalResources: [], agents: [{ name: "agent-a", mode: "autonomous", connected: false, resources: [raw, mirror] }] },
    );
    assert.deepEqual(written, ["agent-a/auto1"], `destinationBased=${destinationBased}`);
    assert.equal(r.skipped, 1);
    assert.equal(r.failed, 0);
  }
});

test("the counting metrics implement every method of the interface", () => {
  const m = countingReplicaMetrics();
  m.connected(1);
  m.eventsReceived();
  m.eventsDropped?.();
  m.lastSequence(7);
  m.lagSeconds(0.5);
  assert.deepEqual({ c: m.values.connected, r: m.values.eventsReceived, d: m.values.eventsDropped, l: m.values.lastSequence, lag: m.values.lagSeconds }, { c: 1, r: 1, d: 1, l: 7, lag: 0.5 });
});
