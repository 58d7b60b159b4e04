/**
 * A stand-in for the active principal's replication API
 * (replicationapi.Replication) on 127.0.0.1, as a real grpc-js server, for
 * tests of the replica side: the test sets the snapshot, the current sequence
 * and which missing resources are confirmed deleted; it reads the ACKs and
 * pushes ReplicatedEvents into the open Subscribe stream. Plaintext.
 *
 * @example
 *   const primary = await startFakePrimary({ snapshot: () => snap });
 *   await primary.waitForAck(10);
 *   primary.send(replicated(11, "outbound", "agent-a", EventTypes.create, EventTargets.application, app));
 *   await primary.stop();
 */
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import { setTimeout as sleep } from "node:timers/promises";
import { objectEvent, toWire } from "../../src/events/cloudevent.ts";
import { EventSources, type EventTarget, type EventType } from "../../src/events/event-types.ts";
import type { KubeObject } from "../../src/kube/resources.ts";
import {
  ReplicationService,
  type ConfirmMissingResourcesRequest,
  type ReplicatedEvent,
  type ReplicationAck,
  type ReplicationServer,
  type ReplicationSnapshot,
  type Resource,
} from "../../src/proto/gen/replication.ts";

export interface FakePrimary {
  port: number;
  /** Every ACK received, in order. */
  acks: number[];
  snapshotCalls: number;
  confirms: ConfirmMissingResourcesRequest[];
  /** What GetSnapshot answers. */
  snapshot: () => ReplicationSnapshot;
  /** The sequence Status reports and ConfirmMissingResources checks against. */
  current: number;
  /** "Kind/namespace/name" confirmed deleted; everything else is unknown. */
  deleted: Set<string>;
  /** Subscribe streams opened so far. */
  subscribes: number;
  /** Times a write to the replica stream returned false (backpressure reached us). */
  blockedWrites: number;
  /** Writes to the open Subscribe stream; false when none is open. */
  send(ev: ReplicatedEvent): boolean;
  /** Writes, then waits for "drain" when the stream's buffer is full (a sender that respects flow control). */
  sendPaced(ev: ReplicatedEvent): Promise<void>;
  waitForAck(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startFakePrimary(opts: { port?: number; snapshot: () => ReplicationSnapshot; current?: number }): Promise<FakePrimary> {
  let stream: ServerDuplexStream<ReplicationAck, ReplicatedEvent> | undefined;
  const server = new Server();
  const fake: FakePrimary = {
    port: 0,
    acks: [],
    snapshotCalls: 0,
    confirms: [],
    snapshot: opts.snapshot,
    current: opts.current ?? 0,
    deleted: new Set(),
    subscribes: 0,
    blockedWrites: 0,
    send(ev) {
      if (!stream || stream.destroyed || stream.writableEnded) return false;
      if (!stream.write(ev)) fake.blockedWrites++;
      return true;
    },
    async sendPaced(ev) {
      const s = stream;
      if (!s || s.destroyed || s.writableEnded) throw new Error("no open Subscribe stream");
      if (s.write(ev)) return;
      fake.blockedWrites++;
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          s.off("drain", onDrain);
          s.off("close", onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error("stream closed while waiting for drain"));
        s.on("drain", onDrain);
        s.on("close", onClose);
      });
    },
    async waitForAck(n, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (!fake.acks.includes(n)) {
        if (Date.now() > deadline) throw new Error(`no ACK ${n} within ${timeoutMs} ms (got ${fake.acks.slice(-5).join(",")})`);
        await sleep(20);
      }
    },
    async stop() {
      server.forceShutdown();
    },
  };
  const impl: ReplicationServer = {
    subscribe(call) {
      fake.subscribes++;
      stream = call;
      call.on("data", (ack: ReplicationAck) => fake.acks.push(Number(ack.ackedSequenceNum)));
      call.on("error", () => {});
      call.on("end", () => call.end());
    },
    getSnapshot(_call, cb) {
      fake.snapshotCalls++;
      cb(null, fake.snapshot());
    },
    status(_call, cb) {
      cb(null, { currentSequenceNum: String(fake.current), pendingEvents: 0, lastEventUnix: "0", connectedReplicas: stream ? 1 : 0 });
    },
    confirmMissingResources(call, cb) {
      const req = call.request;
      fake.confirms.push(req);
      if (Number(req.snapshotSequenceNum) !== fake.current) {
        const reason = `snapshot sequence ${req.snapshotSequenceNum} no longer current, current sequence ${fake.current}`;
        return cb(null, { results: req.resources.map((resource) => ({ resource, status: "unknown", reason })) });
      }
      cb(null, {
        results: req.resources.map((resource) => ({
          resource,
          status: fake.deleted.has(`${resource.kind}/${resource.namespace}/${resource.name}`) ? "deleted" : "unknown",
          reason: "",
        })),
      });
    },
  };
  server.addService(ReplicationService, impl);
  fake.port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`127.0.0.1:${opts.port ?? 0}`, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
  );
  return fake;
}

/** A snapshot resource holding `obj` as the primary's API server returned it. */
export function resource(kind: string, obj: KubeObject): Resource {
  return {
    name: obj.metadata.name ?? "",
    namespace: obj.metadata.namespace ?? "",
    kind,
    uid: obj.metadata.uid ?? "",
    specChecksum: Buffer.alloc(0),
    data: Buffer.from(JSON.stringify(obj)),
  };
}

/** A replicated event carrying `obj`, as the forwarder would number it. */
export function replicated(seq: number, direction: "inbound" | "outbound", agent: string, type: EventType, target: EventTarget, obj: KubeObject): ReplicatedEvent {
  const source = direction === "inbound" ? EventSources.agent : EventSources.principal;
  return {
    event: toWire(objectEvent(type, target, obj as never, source)),
    agentName: agent,
    direction,
    sequenceNum: String(seq),
    processedAtUnix: String(Math.floor(Date.now() / 1000)),
  };
}
