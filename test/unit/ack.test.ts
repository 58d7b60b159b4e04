// Acks and heartbeats (wire-protocol.md §7.2, §7.3).
import { test } from "node:test";
import assert from "node:assert/strict";
import { acknowledges, ackFor, heartbeatEvent, isFireAndForget, needsAck } from "../../src/events/ack.ts";
import { decodeCloudEvent, encodeCloudEvent, fromWire, objectEvent, toWire, withExtension } from "../../src/events/cloudevent.ts";
import { ManualClock } from "../../src/events/clock.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { startHeartbeat } from "../../src/events/heartbeat.ts";
import type { AgentEvent } from "../../src/events/cloudevent.ts";

const app = { metadata: { name: "guestbook", namespace: "argocd", uid: "uid-1", resourceVersion: "42" } };

test("an ack copies every extension verbatim and carries no data", () => {
  let ev = objectEvent(EventTypes.specUpdate, EventTargets.application, app, EventSources.principal, { principaluid: "p-1" });
  ev = withExtension(ev, "sentat", "2025-01-02T03:04:05.5Z");
  // An unknown extension of another kind must survive too (Go copies the whole map).
  ev = { ...ev, extensions: { ...ev.extensions, custom: { attr: { $case: "ceInteger", value: 7 } } } };
  const ack = ackFor(ev, EventSources.agent);
  assert.equal(ack.type, "io.argoproj.argocd-agent.event.processed");
  assert.equal(ack.target, "eventProcessed");
  assert.equal(ack.source, "agent://agent-managed");
  assert.deepEqual(ack.extensions, ev.extensions);
  assert.equal(ack.data.byteLength, 0);
  assert.ok(acknowledges(ack, ev));

  const wire = toWire(ack);
  assert.deepEqual(wire.attributes["dataschema"], { attr: { $case: "ceUri", value: "eventProcessed" } });
  assert.equal(wire.attributes["datacontenttype"], undefined);
  assert.equal(wire.attributes["subject"], undefined);
  const back = decodeCloudEvent(encodeCloudEvent(ack));
  assert.ok(back.ok);
  assert.equal(back.value.event.eventId, "guestbook_uid-1_42");
  assert.deepEqual(back.value.event.extensions["custom"], { attr: { $case: "ceInteger", value: 7 } });
});

test("ack policy: everything but acks, unless the failure is retryable", () => {
  const ev = objectEvent(EventTypes.create, EventTargets.application, app, EventSources.principal);
  assert.equal(needsAck(ev), true);
  assert.equal(needsAck(ev, { retryableFailure: false }), true);
  assert.equal(needsAck(ev, { retryableFailure: true }), false);
  assert.equal(needsAck(ackFor(ev, "")), false);
  // The principal acks pings like any other event; that ack is its whole answer.
  const ping = heartbeatEvent(EventSources.agent);
  assert.equal(needsAck(ping), true);
  const reply = ackFor(ping, EventSources.principal);
  assert.equal(reply.type, EventTypes.processed);
  assert.equal(reply.resourceId, ping.resourceId);
  assert.equal(reply.eventId, ping.eventId);
});

test("heartbeat: ping, heartbeat schema, one UUID as both ids, no data or subject", () => {
  const ping = heartbeatEvent(EventSources.agent);
  assert.equal(ping.type, "io.argoproj.argocd-agent.event.ping");
  assert.equal(ping.target, "heartbeat");
  assert.match(ping.resourceId, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(ping.eventId, ping.resourceId);
  assert.equal(ping.subject, undefined);
  assert.equal(ping.dataContentType, undefined);
  assert.ok(isFireAndForget(ping));
  assert.notEqual(heartbeatEvent(EventSources.agent).eventId, ping.eventId);
  assert.ok(fromWire(toWire(ping)).ok);
});

test("startHeartbeat emits one ping per interval until aborted", () => {
  const clock = new ManualClock(0);
  const pings: AgentEvent[] = [];
  const ac = new AbortController();
  startHeartbeat({ intervalMs: 30_000, source: EventSources.agent, emit: (ev) => pings.push(ev), signal: ac.signal, clock });
  clock.advance(29_999);
  assert.equal(pings.length, 0);
  clock.advance(1);
  assert.equal(pings.length, 1);
  clock.advance(60_000);
  assert.equal(pings.length, 3);
  ac.abort();
  clock.advance(120_000);
  assert.equal(pings.length, 3);
  assert.equal(clock.pendingTimers(), 0);
});

test("startHeartbeat with interval 0 is off; a throwing emit does not stop it", () => {
  const clock = new ManualClock(0);
  startHeartbeat({ intervalMs: 0, source: "", emit: () => assert.fail("must not emit"), clock });
  assert.equal(clock.pendingTimers(), 0);
  let calls = 0;
  const stop = startHeartbeat({ intervalMs: 10, source: "", emit: () => { calls++; throw new Error("boom"); }, clock });
  for (let i = 0; i < 3; i++) assert.throws(() => clock.advance(10));
  assert.equal(calls, 3);
  stop();
  assert.equal(clock.pendingTimers(), 0);
  assert.throws(() => startHeartbeat({ intervalMs: -1, source: "", emit: () => {}, clock }), RangeError);
});
