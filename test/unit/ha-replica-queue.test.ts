// The HA replica's bounded event queue (src/ha/replica-queue.ts) and the
// checks on snapshot resources (src/ha/replica-snapshot.ts decodeResource):
// pure logic, no kube, no gRPC.
import { test } from "node:test";
import assert from "node:assert/strict";
import { BoundedEventQueue, QueueOverflowError, WAKE } from "../../src/ha/replica-queue.ts";
import { decodeResource } from "../../src/ha/replica-snapshot.ts";
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

test("the counting metrics implement every method of the interface", () => {
  const m = countingReplicaMetrics();
  m.connected(1);
  m.eventsReceived();
  m.eventsDropped?.();
  m.lastSequence(7);
  m.lagSeconds(0.5);
  assert.deepEqual({ c: m.values.connected, r: m.values.eventsReceived, d: m.values.eventsDropped, l: m.values.lastSequence, lag: m.values.lagSeconds }, { c: 1, r: 1, d: 1, l: 7, lag: 0.5 });
});
