// The bound on what an event stream queues for a peer (src/transport/outbound-backlog.ts):
// a peer that stops reading is paused, then disconnected once nothing at all is delivered
// for the stall time; a slow peer that keeps draining is never disconnected.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { heartbeatEvent, ackFor } from "../../src/events/ack.ts";
import { newEvent } from "../../src/events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { OUTBOUND_MESSAGE_COST_BYTES, OutboundBacklog, type WriteFn } from "../../src/transport/outbound-backlog.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} });

/** A stream whose writes complete only when `drain(n)` says so. */
function fakeStream() {
  const pending: (() => void)[] = [];
  const write: WriteFn = (_msg, done) => {
    pending.push(() => done());
    return true;
  };
  return { write, pending, drain: (n = pending.length) => pending.splice(0, n).forEach((d) => d()) };
}

const app = (i: number) =>
  newEvent({ type: EventTypes.specUpdate, target: EventTargets.application, resourceId: `app-${i}`, eventId: `e-${i}`, source: "", payload: { i } });

describe("OutboundBacklog", () => {
  it("pauses reading over the bound, drops acks meanwhile, resumes under half, and disconnects a peer that reads nothing", async () => {
    const calls: string[] = [];
    const s = fakeStream();
    const b = new OutboundBacklog({
      peer: "p",
      maxBytes: 10 * OUTBOUND_MESSAGE_COST_BYTES,
      stallMs: 150,
      pauseReading: () => calls.push("pause"),
      resumeReading: () => calls.push("resume"),
      disconnect: (why) => calls.push(`disconnect: ${why}`),
    });
    for (let i = 0; i < 11; i++) b.send(ackFor(heartbeatEvent("agent"), ""), s.write);
    assert.deepEqual(calls, ["pause"]);
    b.send(ackFor(heartbeatEvent("agent"), ""), s.write); // dropped: over the bound
    b.send(app(1), s.write); // tracked events still go out
    assert.equal(b.state().dropped, 1);
    assert.equal(s.pending.length, 12);
    s.drain(8); // under half the bound
    assert.deepEqual(calls, ["pause", "resume"]);
    for (let i = 0; i < 10; i++) b.send(ackFor(heartbeatEvent("agent"), ""), s.write); // 6 fit, 4 dropped
    assert.deepEqual(calls, ["pause", "resume", "pause"]);
    assert.equal(b.state().dropped, 5);
    await sleep(250);
    assert.equal(calls.length, 4);
    assert.match(calls[3], /^disconnect: outbound backlog of \d+ bytes \(10 messages\) over the bound of 10240 bytes with nothing sent for \d+ ms$/);
    assert.equal(b.state().disconnected, true);
    b.send(app(2), s.write); // nothing more after a disconnect
    assert.equal(s.pending.length, 10);
  });

  it("never disconnects a slow peer that keeps draining", async () => {
    let disconnected = false;
    const s = fakeStream();
    const b = new OutboundBacklog({ peer: "p", maxBytes: 4 * OUTBOUND_MESSAGE_COST_BYTES, stallMs: 100, disconnect: () => (disconnected = true) });
    for (let i = 0; i < 20; i++) b.send(app(i), s.write);
    for (let i = 0; i < 8; i++) {
      await sleep(60);
      s.drain(1);
    }
    assert.equal(disconnected, false);
    b.close();
  });

  it("starts the stall clock at the first queued message, not at the last write of an idle stream", async () => {
    let disconnected = false;
    const s = fakeStream();
    const b = new OutboundBacklog({ peer: "p", maxBytes: 2 * OUTBOUND_MESSAGE_COST_BYTES, stallMs: 100, disconnect: () => (disconnected = true) });
    b.send(app(0), s.write);
    s.drain();
    await sleep(150); // idle longer than the stall time
    for (let i = 1; i < 5; i++) b.send(app(i), s.write);
    await sleep(30);
    assert.equal(disconnected, false);
    b.close();
  });
});
