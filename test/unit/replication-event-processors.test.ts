/**
 * The principal's --event-processors bound: never more than `limit` events in
 * progress, slots handed out round-robin across agents, and per-resource order
 * intact when events arrive through per-resource chains as the event session
 * delivers them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { EventProcessors } from "../../src/replication/event-processors.ts";

test("at most `limit` events run at once; all of them run", { timeout: 10_000 }, async () => {
  const slots = new EventProcessors(3);
  let running = 0;
  let peak = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: 40 }, (_, i) =>
      slots.run(`agent-${i % 4}`, async () => {
        running++;
        peak = Math.max(peak, running);
        await sleep(1 + (i % 3));
        running--;
        done++;
      }),
    ),
  );
  assert.equal(peak, 3);
  assert.equal(done, 40);
  assert.deepEqual(slots.stats(), { active: 0, waiting: 0 });
});

test("a failing event releases its slot", { timeout: 10_000 }, async () => {
  const slots = new EventProcessors(1);
  await assert.rejects(slots.run("a", async () => Promise.reject(new Error("boom"))), /boom/);
  assert.equal(await slots.run("a", async () => 42), 42);
  assert.deepEqual(slots.stats(), { active: 0, waiting: 0 });
});

test("slots are handed out round-robin across agents (a burst does not starve others)", { timeout: 10_000 }, async () => {
  const slots = new EventProcessors(1);
  const order: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const first = slots.run("busy", () => gate);
  const all = [first];
  for (let i = 0; i < 5; i++) all.push(slots.run("busy", async () => void order.push(`busy${i}`)));
  all.push(slots.run("quiet", async () => void order.push("quiet0")));
  all.push(slots.run("other", async () => void order.push("other0")));
  all.push(slots.run("quiet", async () => void order.push("quiet1")));
  assert.deepEqual(slots.stats(), { active: 1, waiting: 8 });
  release();
  await Promise.all(all);
  assert.deepEqual(order, ["busy0", "quiet0", "other0", "busy1", "quiet1", "busy2", "busy3", "busy4"]);
});

test("per-resource order is kept when each resource's events are chained, as the event session does", { timeout: 10_000 }, async () => {
  const slots = new EventProcessors(2);
  const chains = new Map<string, Promise<void>>();
  const applied = new Map<string, number[]>();
  const deliver = (agent: string, resource: string, seq: number) => {
    const prev = chains.get(resource) ?? Promise.resolve();
    chains.set(resource, prev.then(() => slots.run(agent, async () => {
      await sleep(Math.random() * 3);
      applied.set(resource, [...(applied.get(resource) ?? []), seq]);
    })));
  };
  for (let seq = 0; seq < 20; seq++) for (const r of ["a/app1", "a/app2", "b/app1"]) deliver(r.split("/")[0]!, r, seq);
  await Promise.all(chains.values());
  for (const r of ["a/app1", "a/app2", "b/app1"]) assert.deepEqual(applied.get(r), Array.from({ length: 20 }, (_, i) => i), r);
});

test("the limit must be a positive integer", () => {
  assert.throws(() => new EventProcessors(0), RangeError);
  assert.throws(() => new EventProcessors(1.5), RangeError);
});
