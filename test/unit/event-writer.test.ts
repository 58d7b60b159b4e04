// Delivery bookkeeping of the event writer (wire-protocol.md §7.1), driven by a fake clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ackFor, heartbeatEvent } from "../../src/events/ack.ts";
import { extensionString, formatSentAt, objectEvent, type AgentEvent } from "../../src/events/cloudevent.ts";
import { ManualClock } from "../../src/events/clock.ts";
import { EventSources, EventTargets, EventTypes, type EventType } from "../../src/events/event-types.ts";
import { EventWriter, type EventWriterOptions } from "../../src/events/event-writer.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} }); // failures are asserted through the counters

const T0 = Date.UTC(2025, 0, 2, 3, 4, 5);

function appEvent(type: EventType, name: string, resourceVersion: string): AgentEvent {
  return objectEvent(type, EventTargets.application, { metadata: { name, namespace: "argocd", uid: `${name}-uid`, resourceVersion } }, EventSources.principal);
}

function setup(opts: EventWriterOptions = {}) {
  const clock = new ManualClock(T0);
  const sent: { at: number; ev: AgentEvent }[] = [];
  const writer = new EventWriter({ clock, random: () => 0, send: (ev) => sent.push({ at: clock.now() - T0, ev }), ...opts });
  const ids = () => sent.map((s) => s.ev.eventId);
  return { clock, sent, writer, ids };
}

test("sends a new event at once, stamped with sentat", () => {
  const { clock, sent, writer } = setup();
  assert.equal(writer.add(appEvent(EventTypes.create, "a", "1")), true);
  assert.equal(sent.length, 0, "sending happens on the clock, not inside add");
  clock.advance(0);
  assert.equal(sent.length, 1);
  assert.equal(extensionString(sent[0]!.ev, "sentat"), formatSentAt(T0));
  assert.deepEqual(writer.stats().sent, 1);
  assert.deepEqual(writer.backlog(), { inFlight: 1, unsent: 0, fireAndForget: 0 });
});

test("at most one unacknowledged event per resource; other resources are not blocked", () => {
  const { clock, writer, ids } = setup();
  writer.add(appEvent(EventTypes.create, "a", "1"));
  writer.add(appEvent(EventTypes.setOperation, "a", "2"));
  writer.add(appEvent(EventTypes.create, "b", "1"));
  clock.advance(0);
  assert.deepEqual(ids(), ["a_a-uid_1", "b_b-uid_1"]);
  assert.equal(writer.acknowledge({ resourceId: "a_a-uid", eventId: "a_a-uid_1" }), "in-flight");
  clock.advance(0);
  assert.deepEqual(ids(), ["a_a-uid_1", "b_b-uid_1", "a_a-uid_2"]);
  assert.equal(writer.stats().acked, 1);
});

test("re-sends an unacknowledged event with Go's backoff until acked", () => {
  const { clock, sent, writer } = setup(); // random 0 => 5 s, 20 s, 80 s, then 120 s
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(0);
  clock.advance(600_000);
  assert.deepEqual(sent.map((s) => s.at), [0, 5_000, 25_000, 105_000, 225_000, 345_000, 465_000, 585_000]);
  // A re-send is the very same event: sentat keeps the first transmission time.
  assert.ok(sent.every((s) => extensionString(s.ev, "sentat") === formatSentAt(T0)));
  assert.equal(writer.stats().resent, 7);
  writer.acknowledge({ resourceId: "a_a-uid", eventId: "a_a-uid_1" });
  clock.advance(600_000);
  assert.equal(sent.length, 8);
  assert.equal(clock.pendingTimers(), 0);
});

test("jitter adds up to 100 % of the base delay", () => {
  const { clock, sent, writer } = setup({ random: () => 0.5 });
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(100_000);
  assert.deepEqual(sent.map((s) => s.at), [0, 7_500, 37_500]);
});

test("an ack must match resourceid and eventid; it may also pop the queued head", () => {
  const { clock, writer, ids } = setup();
  writer.add(appEvent(EventTypes.create, "a", "1"));
  writer.add(appEvent(EventTypes.setOperation, "a", "2"));
  clock.advance(0);
  assert.equal(writer.acknowledge({ resourceId: "a_a-uid", eventId: "a_a-uid_9" }), "unmatched");
  assert.equal(writer.acknowledge({ resourceId: "zzz", eventId: "a_a-uid_1" }), "unmatched");
  // An ack for the queued head (e.g. a duplicate that was delivered before) removes it.
  assert.equal(writer.acknowledge({ resourceId: "a_a-uid", eventId: "a_a-uid_2" }), "queued");
  assert.equal(writer.acknowledge(ackFor(appEvent(EventTypes.create, "a", "1"), "")), "in-flight");
  clock.advance(10_000);
  assert.deepEqual(ids(), ["a_a-uid_1"]);
  assert.deepEqual(writer.backlog(), { inFlight: 0, unsent: 0, fireAndForget: 0 });
});

test("only the newest unsent spec-update and status-update survive", () => {
  const { clock, writer } = setup();
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(0); // create in flight; the rest waits
  writer.add(appEvent(EventTypes.specUpdate, "a", "2"));
  writer.add(appEvent(EventTypes.statusUpdate, "a", "3"));
  writer.add(appEvent(EventTypes.setOperation, "a", "4"));
  writer.add(appEvent(EventTypes.specUpdate, "a", "5"));
  writer.add(appEvent(EventTypes.statusUpdate, "a", "6"));
  assert.deepEqual(writer.pending("a_a-uid").unsent.map((e) => e.eventId), ["a_a-uid_4", "a_a-uid_5", "a_a-uid_6"]);
  assert.equal(writer.stats().coalesced, 2);
  assert.equal(writer.pending("a_a-uid").inFlight?.eventId, "a_a-uid_1");
});

test("a delete discards everything pending or in flight for its resource", () => {
  const { clock, writer, ids } = setup();
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(0);
  writer.add(appEvent(EventTypes.specUpdate, "a", "2"));
  writer.add(appEvent(EventTypes.delete, "a", "3"));
  assert.equal(writer.stats().discarded, 2);
  clock.advance(0);
  assert.deepEqual(ids(), ["a_a-uid_1", "a_a-uid_3"]);
  // A late ack for the discarded create matches nothing; the delete stays in flight.
  assert.equal(writer.acknowledge({ resourceId: "a_a-uid", eventId: "a_a-uid_1" }), "unmatched");
  assert.equal(writer.pending("a_a-uid").inFlight?.eventId, "a_a-uid_3");
});

test("acks and heartbeats are fire-and-forget and never wait behind our own events", () => {
  const { clock, sent, writer } = setup();
  const ours = appEvent(EventTypes.statusUpdate, "a", "1");
  writer.add(ours);
  clock.advance(0);
  // The peer's event for the same resource must be acked although ours is unacknowledged.
  const ack = ackFor(appEvent(EventTypes.specUpdate, "a", "7"), EventSources.agent);
  writer.add(ack);
  writer.add(heartbeatEvent(EventSources.agent));
  clock.advance(0);
  assert.deepEqual(sent.map((s) => s.ev.type), [EventTypes.statusUpdate, EventTypes.processed, EventTypes.ping]);
  assert.equal(extensionString(sent[1]!.ev, "sentat"), undefined);
  assert.equal(extensionString(sent[2]!.ev, "sentat"), undefined);
  clock.advance(300_000);
  assert.equal(sent.filter((s) => s.ev.type !== EventTypes.statusUpdate).length, 2, "never retried");
  assert.equal(writer.stats().fireAndForgetSent, 2);
  assert.equal(writer.stats().sent, 1);
});

test("attaching a new stream re-sends in-flight events immediately", () => {
  const { clock, sent, writer } = setup();
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(1_000);
  writer.detach();
  writer.add(appEvent(EventTypes.create, "b", "1"));
  writer.add(ackFor(appEvent(EventTypes.create, "c", "1"), ""));
  clock.advance(60_000);
  assert.equal(sent.length, 1, "nothing is sent while detached");
  const second: AgentEvent[] = [];
  writer.attach((ev) => second.push(ev));
  clock.advance(0);
  assert.deepEqual(second.map((e) => e.eventId).sort(), ["a_a-uid_1", "b_b-uid_1", "c_c-uid_1"]);
  assert.equal(writer.stats().resent, 1);
});

test("a throwing send is counted and retried with backoff", () => {
  const clock = new ManualClock(T0);
  let fail = true;
  const delivered: AgentEvent[] = [];
  const writer = new EventWriter({
    clock,
    random: () => 0,
    send: (ev) => {
      if (fail) throw new Error("stream closed");
      delivered.push(ev);
    },
  });
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(0);
  assert.equal(writer.stats().sendErrors, 1);
  fail = false;
  clock.advance(5_000);
  assert.equal(delivered.length, 1);
});

test("events without resourceid are refused; abort closes the writer", () => {
  const ac = new AbortController();
  const { clock, writer, sent } = setup({ signal: ac.signal });
  const noId = { ...appEvent(EventTypes.create, "a", "1"), resourceId: "" };
  assert.equal(writer.add(noId), false);
  writer.add(appEvent(EventTypes.create, "a", "1"));
  clock.advance(0);
  ac.abort();
  assert.equal(writer.add(appEvent(EventTypes.create, "b", "1")), false);
  assert.equal(writer.stats().rejected, 2);
  clock.advance(600_000);
  assert.equal(sent.length, 1);
  assert.equal(clock.pendingTimers(), 0);
  const pre = new EventWriter({ clock, signal: AbortSignal.abort() });
  assert.equal(pre.add(appEvent(EventTypes.create, "x", "1")), false);
});

test("the detached fire-and-forget backlog is bounded", () => {
  const clock = new ManualClock(T0);
  const writer = new EventWriter({ clock, maxFireAndForgetBacklog: 2 });
  for (let i = 0; i < 5; i++) writer.add(heartbeatEvent("", `hb-${i}`));
  assert.equal(writer.backlog().fireAndForget, 2);
  assert.equal(writer.stats().fireAndForgetDropped, 3);
  const sent: string[] = [];
  writer.attach((ev) => sent.push(ev.eventId));
  clock.advance(0);
  assert.deepEqual(sent, ["hb-3", "hb-4"]);
});
