// The HA forwarder (operations.md §4.5) behind the real Replication service, over
// a loopback gRPC connection: per-process sequence numbers (also with no replica),
// a new stream buffers until the replica's first ACK and then goes live, at most
// 10 replica streams, a replica more than the queue bound behind is disconnected
// (buffering or live), no first ACK within the timeout → DEADLINE_EXCEEDED.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, Metadata, Server, ServerCredentials, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { configureLogging } from "../../src/observability/log.ts";
import { parseAuthSetting } from "../../src/auth/method.ts";
import { fromWire, objectEvent, type AgentEvent } from "../../src/events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { Forwarder, MAX_REPLICAS, REPLICA_QUEUE_BOUND, type ForwarderMetrics, type ForwarderOptions } from "../../src/ha/forwarder.ts";
import { replicationService } from "../../src/ha/replication-service.ts";
import { ReplicationClient, type ReplicatedEvent, type ReplicationAck } from "../../src/proto/gen/replication.ts";

const logs: string[] = [];
configureLogging({ write: (l) => logs.push(l), defaultLevel: "info" });

const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
});

function appEvent(name: string, payloadBytes = 0): AgentEvent {
  const app = { metadata: { name, namespace: "agent-a", uid: `uid-${name}`, resourceVersion: "1" }, spec: { pad: "x".repeat(payloadBytes) } };
  return objectEvent(EventTypes.specUpdate, EventTargets.application, app, EventSources.principal);
}

function countingMetrics() {
  const c = { queued: 0, dropped: 0, forwarded: 0, errors: 0, replicas: 0, queue: 0, last: 0 };
  const m: ForwarderMetrics = {
    queued: () => void c.queued++,
    dropped: (n) => void (c.dropped += n),
    forwarded: () => void c.forwarded++,
    forwardingError: () => void c.errors++,
    replicasConnected: (n) => void (c.replicas = n),
    queueSize: (n) => void (c.queue = n),
    lastSequence: (n) => void (c.last = n),
  };
  return { c, m };
}

/** The Replication service with its forwarder on a loopback port (plaintext, header identity). */
async function startService(opts: ForwarderOptions = {}) {
  const metrics = countingMetrics();
  const forwarder = new Forwarder({ metrics: metrics.m, ...opts });
  const server = new Server();
  const svc = replicationService({ method: parseAuthSetting("header:x-replica-id:^(.+)$"), allowedClients: [], state: () => "active", forwarder, context: () => undefined });
  server.addService(svc.definition, svc.implementation);
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const client = new ReplicationClient(`127.0.0.1:${port}`, credentials.createInsecure());
  cleanups.push(() => client.close(), () => server.forceShutdown());
  return { forwarder, client, metrics: metrics.c };
}

interface Sub {
  stream: ClientDuplexStream<ReplicationAck, ReplicatedEvent>;
  events: ReplicatedEvent[];
  ended: Promise<ServiceError | "ok">;
  ack(n: number): void;
  waitFor(count: number, timeoutMs?: number): Promise<void>;
}

function subscribe(client: InstanceType<typeof ReplicationClient>, id = "replica-1"): Sub {
  const md = new Metadata();
  md.set("x-replica-id", id);
  const stream = client.subscribe(md);
  const events: ReplicatedEvent[] = [];
  stream.on("data", (e: ReplicatedEvent) => events.push(e));
  const ended = new Promise<ServiceError | "ok">((resolve) => {
    stream.on("error", (e: ServiceError) => resolve(e));
    stream.on("end", () => setImmediate(() => resolve("ok")));
  });
  return {
    stream,
    events,
    ended,
    ack: (n) => void stream.write({ ackedSequenceNum: String(n) }),
    async waitFor(count, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (events.length < count) {
        if (Date.now() > until) throw new Error(`got ${events.length} of ${count} events`);
        await sleep(10);
      }
    },
  };
}

/** Until the forwarder has registered `n` streams (Subscribe is asynchronous on the server). */
async function replicasAre(f: Forwarder, n: number): Promise<void> {
  const until = Date.now() + 5000;
  while (f.connectedReplicas() !== n) {
    if (Date.now() > until) throw new Error(`${f.connectedReplicas()} replicas, expected ${n}`);
    await sleep(10);
  }
}

test("events are numbered per process, also with no replica; a new replica gets nothing until its first ACK, then the buffer and live events in order", async () => {
  const { forwarder, client, metrics } = await startService();
  assert.equal(forwarder.forward(appEvent("a"), "agent-a", "outbound"), 1);
  assert.equal(forwarder.forward(appEvent("b"), "agent-a", "inbound"), 2);
  assert.equal(forwarder.lastSequence(), 2);
  assert.equal(metrics.last, 2);
  assert.equal(metrics.queued, 0, "nothing queued without a replica");

  const sub = subscribe(client);
  await replicasAre(forwarder, 1);
  const snap = await new Promise<{ lastSequenceNum: string }>((res, rej) => {
    const md = new Metadata();
    md.set("x-replica-id", "replica-1");
    client.getSnapshot({ sinceSequenceNum: "0" }, md, (e, r) => (e ? rej(e) : res(r)));
  });
  assert.equal(snap.lastSequenceNum, "2");
  const sent = [appEvent("c"), appEvent("d")];
  forwarder.forward(sent[0]!, "agent-a", "outbound");
  forwarder.forward(sent[1]!, "agent-b", "inbound");
  await sleep(300);
  assert.equal(sub.events.length, 0, "buffering until the first ACK");
  assert.equal(forwarder.pendingEvents(), 2);
  assert.equal(metrics.queue, 2);

  sub.ack(2);
  await sub.waitFor(2);
  assert.deepEqual(sub.events.map((e) => [e.sequenceNum, e.agentName, e.direction]), [["3", "agent-a", "outbound"], ["4", "agent-b", "inbound"]]);
  const first = fromWire(sub.events[0]!.event);
  assert.ok(first.ok);
  assert.equal(first.value.event.resourceId, sent[0]!.resourceId);
  assert.equal(first.value.event.type, EventTypes.specUpdate);
  assert.ok(Math.abs(Number(sub.events[0]!.processedAtUnix) - Date.now() / 1000) < 5);

  forwarder.forward(appEvent("e"), "agent-a", "outbound");
  await sub.waitFor(3);
  assert.equal(sub.events[2]!.sequenceNum, "5");
  assert.equal(forwarder.pendingEvents(), 0);
  assert.equal(metrics.forwarded, 3);
  assert.ok(forwarder.lastEventUnix() > 0);
  sub.stream.end();
  await replicasAre(forwarder, 0);
});

test(`at most ${MAX_REPLICAS} replica streams: the next one is refused with RESOURCE_EXHAUSTED, a freed slot is reused`, async () => {
  const { forwarder, client, metrics } = await startService();
  const subs = Array.from({ length: MAX_REPLICAS }, (_, i) => subscribe(client, `replica-${i}`));
  await replicasAre(forwarder, MAX_REPLICAS);
  assert.equal(metrics.replicas, MAX_REPLICAS);
  const extra = subscribe(client, "replica-extra");
  const err = (await extra.ended) as ServiceError;
  assert.equal(err.code, status.RESOURCE_EXHAUSTED);
  assert.match(err.details, /too many replicas/);
  assert.equal(forwarder.connectedReplicas(), MAX_REPLICAS);

  subs[0]!.stream.cancel();
  await replicasAre(forwarder, MAX_REPLICAS - 1);
  const again = subscribe(client, "replica-again");
  await replicasAre(forwarder, MAX_REPLICAS);
  forwarder.forward(appEvent("x"), "agent-a", "outbound");
  again.ack(0);
  await again.waitFor(1);
  forwarder.stop("test over");
  for (const s of [...subs.slice(1), again]) {
    const e = (await s.ended) as ServiceError;
    assert.equal(e.code, status.UNAVAILABLE);
    assert.match(e.details, /replication stopped: test over/);
  }
  assert.equal(forwarder.connectedReplicas(), 0);
});

test(`a buffering replica more than ${REPLICA_QUEUE_BOUND} events behind is disconnected (it re-snapshots); others keep going`, async () => {
  const { forwarder, client, metrics } = await startService();
  const slow = subscribe(client, "slow");
  const fast = subscribe(client, "fast");
  await replicasAre(forwarder, 2);
  fast.ack(0);
  await sleep(100);
  logs.length = 0;
  for (let i = 0; i < REPLICA_QUEUE_BOUND; i++) forwarder.forward(appEvent(`a${i}`), "agent-a", "outbound");
  assert.equal(forwarder.connectedReplicas(), 2, "exactly the bound still fits");
  forwarder.forward(appEvent("one-too-many"), "agent-a", "outbound");
  const err = (await slow.ended) as ServiceError;
  assert.equal(err.code, status.RESOURCE_EXHAUSTED);
  assert.match(err.details, /queue of 1000 events overflowed/);
  assert.equal(metrics.dropped, REPLICA_QUEUE_BOUND + 1);
  assert.ok(logs.some((l) => l.includes("replica is too far behind") && l.includes("peer=slow")), logs.join("\n"));
  assert.equal(forwarder.connectedReplicas(), 1);
  await fast.waitFor(REPLICA_QUEUE_BOUND + 1);
  assert.equal(fast.events.at(-1)!.sequenceNum, String(REPLICA_QUEUE_BOUND + 1));
  fast.stream.end();
});

test("a live replica that stops reading is disconnected once its queue passes the bound", async () => {
  const { forwarder, client } = await startService({ queueBound: 20 });
  const sub = subscribe(client, "stalled");
  await replicasAre(forwarder, 1);
  sub.ack(0);
  forwarder.forward(appEvent("first"), "agent-a", "outbound");
  await sub.waitFor(1);
  sub.stream.pause(); // stops reading: HTTP/2 flow control then stops the server's writes
  let n = 0;
  const until = Date.now() + 20_000;
  while (forwarder.connectedReplicas() === 1 && Date.now() < until) {
    for (let i = 0; i < 20; i++) forwarder.forward(appEvent(`big-${n++}`, 16 * 1024), "agent-a", "outbound");
    await sleep(5);
  }
  assert.equal(forwarder.connectedReplicas(), 0, `still connected after ${n} events of 16 KiB`);
  sub.stream.resume();
  const err = await sub.ended;
  assert.notEqual(err, "ok");
  assert.equal((err as ServiceError).code, status.RESOURCE_EXHAUSTED);
});

test("no first ACK within the initial-ACK timeout → DEADLINE_EXCEEDED", async () => {
  const { forwarder, client } = await startService({ initialAckTimeoutMs: 300 });
  const started = Date.now();
  const sub = subscribe(client, "silent");
  const err = (await sub.ended) as ServiceError;
  assert.equal(err.code, status.DEADLINE_EXCEEDED);
  assert.match(err.details, /no initial ACK within 300 ms/);
  assert.ok(Date.now() - started >= 250);
  assert.equal(forwarder.connectedReplicas(), 0);

  // An ACK in time keeps the stream.
  const ok = subscribe(client, "prompt");
  await replicasAre(forwarder, 1);
  ok.ack(0);
  await sleep(500);
  assert.equal(forwarder.connectedReplicas(), 1);
  ok.stream.end();
});
