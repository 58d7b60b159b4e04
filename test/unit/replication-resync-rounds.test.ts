/**
 * Resync rounds (issue 13, item 6): one round at a time per peer, one
 * request-update per object per round, a bounded number of a round's events
 * unacknowledged at once, and a peer's own resync request at connect answered
 * by the round already started on that connection.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { requestEvent } from "../../src/events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { EventWriter } from "../../src/events/event-writer.ts";
import { ResyncRounds } from "../../src/replication/resync-rounds.ts";

const tick = (ms = 30) => new Promise((r) => setTimeout(r, ms));
/** Waits (up to 5 s, the machine may be loaded) until `n` events went out, then a little more so an extra one would show. */
async function sentAtLeast(sent: unknown[], n: number): Promise<void> {
  for (const deadline = Date.now() + 5000; sent.length < n && Date.now() < deadline; ) await tick(5);
  await tick();
}
const request = () => requestEvent(EventTypes.requestUpdate, EventTargets.resourceResync, {}, EventSources.principal);

test("each object is asked about once per round, again in the next round", () => {
  const rounds = new ResyncRounds();
  rounds.begin("agent-a");
  assert.equal(rounds.firstRequest("agent-a", "Application/app-1/uid-1"), true);
  assert.equal(rounds.firstRequest("agent-a", "Application/app-1/uid-1"), false, "the peer's list must not ask again");
  assert.equal(rounds.firstRequest("agent-b", "Application/app-1/uid-1"), true, "rounds are per peer");
  rounds.begin("agent-a");
  assert.equal(rounds.firstRequest("agent-a", "Application/app-1/uid-1"), true);
});

test("a round is busy until every event it sent is acknowledged", () => {
  const writer = new EventWriter({ send: () => {} });
  const rounds = new ResyncRounds();
  assert.equal(rounds.busy("agent-a", writer), false, "no round yet");
  rounds.begin("agent-a");
  const evs = [request(), request()];
  for (const ev of evs) rounds.send("agent-a", writer, ev);
  assert.equal(rounds.busy("agent-a", writer), true);
  writer.acknowledge(evs[0]!);
  assert.equal(rounds.busy("agent-a", writer), true, "one event still waits for its ack");
  writer.acknowledge(evs[1]!);
  assert.equal(rounds.busy("agent-a", writer), false);
  writer.close();
});

test("at most `window` events of a round are unacknowledged at once; the rest follow in order as acks arrive", async () => {
  const sent: string[] = [];
  const writer = new EventWriter({ send: (ev) => sent.push(ev.resourceId) });
  const stop = new AbortController();
  const rounds = new ResyncRounds({ window: 3, pollMs: 5, signal: stop.signal });
  rounds.begin("agent-a");
  const evs = Array.from({ length: 8 }, request);
  for (const ev of evs) rounds.send("agent-a", writer, ev);
  await sentAtLeast(sent, 3); // the writer sends on its own timer
  assert.deepEqual(sent, evs.slice(0, 3).map((e) => e.resourceId));
  assert.equal(rounds.busy("agent-a", writer), true);
  for (let acked = 0; acked < evs.length; acked++) {
    writer.acknowledge(evs[acked]!);
    await sentAtLeast(sent, Math.min(acked + 4, evs.length));
    assert.deepEqual(sent, evs.slice(0, Math.min(acked + 4, evs.length)).map((e) => e.resourceId), `after ${acked + 1} acks`);
  }
  assert.equal(rounds.busy("agent-a", writer), false);
  rounds.begin("agent-a");
  for (const ev of Array.from({ length: 5 }, request)) rounds.send("agent-a", writer, ev);
  stop.abort();
  assert.equal(rounds.busy("agent-a", writer), false, "shutdown drops the waiting events");
  writer.close();
});

test("without a round, events go out at once", async () => {
  const sent: string[] = [];
  const writer = new EventWriter({ send: (ev) => sent.push(ev.resourceId) });
  const rounds = new ResyncRounds({ window: 1 });
  for (const ev of [request(), request()]) rounds.send("agent-a", writer, ev);
  await tick();
  assert.equal(sent.length, 2);
  assert.throws(() => new ResyncRounds({ window: 0 }), RangeError);
  writer.close();
});

test("a peer's request on the connection our round started on is covered, for a while", () => {
  const rounds = new ResyncRounds();
  rounds.begin("agent-a", 1);
  assert.equal(rounds.startedOn("agent-a", 1, 60_000), true);
  assert.equal(rounds.startedOn("agent-a", 2, 60_000), false, "a new connection (the peer restarted) needs its own round");
  assert.equal(rounds.startedOn("agent-a", 1, -1), false, "too long ago");
  assert.equal(rounds.startedOn("agent-a", undefined, 60_000), false);
  rounds.forget("agent-a");
  assert.equal(rounds.startedOn("agent-a", 1, 60_000), false);
});
