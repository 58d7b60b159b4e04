/**
 * Redelivery (issue 13, items 4 and 6): a re-sent copy of an event applied a
 * moment ago is only acknowledged, and a write that got no answer from the API
 * server is retried as soon as it answers again instead of waiting for the
 * peer's re-send backoff.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { KubeConfig } from "@kubernetes/client-node";
import { objectEvent, requestEvent } from "../../src/events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { ApiReachability } from "../../src/kube/reachability.ts";
import { Redelivery } from "../../src/replication/redelivery.ts";
import type { ApiReachability as Reach } from "../../src/kube/reachability.ts";
import { freePort } from "../support/processes.ts";

const ev = () => requestEvent(EventTypes.requestSyncedResourceList, EventTargets.resourceResync, {}, EventSources.principal);
const tmp = mkdtempSync(join(tmpdir(), "redelivery-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

test("a re-sent copy of an applied event is acked without applying it again", async () => {
  const redelivery = new Redelivery({ signal: new AbortController().signal });
  const e = ev();
  let applied = 0;
  const apply = async () => void applied++;
  await redelivery.run("agent-a", e, apply);
  await redelivery.run("agent-a", { ...e }, apply);
  assert.equal(applied, 1);
  await redelivery.run("agent-b", e, apply);
  assert.equal(applied, 2, "another peer's event with the same ids is its own");
  await redelivery.run("agent-a", ev(), apply);
  assert.equal(applied, 3, "a new event is applied");
  assert.deepEqual(redelivery.stats(), { duplicates: 1, apiRetries: 0 });
});

test("the same object version is applied again once another event of that resource came between", async () => {
  const redelivery = new Redelivery({ signal: new AbortController().signal });
  const secret = { metadata: { name: "repo-1", namespace: "argocd", uid: "u1", resourceVersion: "7" }, data: {} };
  const update = objectEvent(EventTypes.specUpdate, EventTargets.repository, secret, EventSources.principal);
  const del = objectEvent(EventTypes.delete, EventTargets.repository, secret, EventSources.principal);
  const applied: string[] = [];
  const apply = (what: string) => async () => void applied.push(what);
  await redelivery.run("principal", update, apply("update"));
  await redelivery.run("principal", { ...update }, apply("update"));
  await redelivery.run("principal", del, apply("delete"));
  await redelivery.run("principal", { ...del }, apply("delete"));
  // The project matches the agent again: the same version is sent again, and must be applied.
  await redelivery.run("principal", { ...update }, apply("update"));
  await redelivery.run("principal", { ...update }, apply("update"));
  assert.deepEqual(applied, ["update", "delete", "update"], "re-sent copies are still acked only");
  await redelivery.run("principal", { ...del }, apply("delete"));
  assert.deepEqual(applied, ["update", "delete", "update", "delete"], "a later delete is applied too");
});

test("a retryable failure is not remembered: the re-send is applied", async () => {
  const redelivery = new Redelivery({ signal: new AbortController().signal });
  const e = ev();
  let applied = 0;
  const out = await redelivery.run("agent-a", e, async () => (applied++, { retryableFailure: true }));
  assert.deepEqual(out, { retryableFailure: true });
  await redelivery.run("agent-a", e, async () => void applied++);
  assert.equal(applied, 2);
});

test("remembered events expire after the TTL and beyond the size bound", async () => {
  const redelivery = new Redelivery({ signal: new AbortController().signal, recentTtlMs: -1 });
  const e = ev();
  let applied = 0;
  await redelivery.run("agent-a", e, async () => void applied++);
  await redelivery.run("agent-a", e, async () => void applied++);
  assert.equal(applied, 2, "expired");
  const small = new Redelivery({ signal: new AbortController().signal, maxRecent: 1 });
  const [a, b] = [ev(), ev()];
  for (const x of [a, b, a]) await small.run("p", x, async () => void applied++);
  assert.equal(applied, 5, "the oldest was forgotten");
});

test("an unreachable API server: retried once it answers, not before", async () => {
  let reachable = false;
  let waits = 0;
  const reach = { waitUntilReachable: async () => (waits++, await new Promise((r) => setTimeout(r, 50)), reachable || (reachable = true)) } as unknown as Reach;
  const redelivery = new Redelivery({ reach, signal: new AbortController().signal });
  let attempts = 0;
  const out = await redelivery.run("agent-a", ev(), async () => (++attempts < 3 ? { retryableFailure: true, apiUnreachable: true } : undefined));
  assert.equal(out, undefined, "applied in the end");
  assert.equal(attempts, 3);
  assert.equal(waits, 2);
  assert.equal(redelivery.stats().apiRetries, 2);
});

test("the wait is bounded: attempts, time, and shutdown hand the event back to the peer's re-send", async () => {
  const never = { waitUntilReachable: (signal: AbortSignal) => new Promise<boolean>((r) => (signal.aborted ? r(false) : signal.addEventListener("abort", () => r(false)))) } as unknown as Reach;
  const unreachable = async () => ({ retryableFailure: true, apiUnreachable: true });
  const timed = new Redelivery({ reach: never, signal: new AbortController().signal, maxApiWaitMs: 30 });
  assert.deepEqual(await timed.run("p", ev(), unreachable), { retryableFailure: true, apiUnreachable: true });
  const stop = new AbortController();
  const stopping = new Redelivery({ reach: never, signal: stop.signal });
  const running = stopping.run("p", ev(), unreachable);
  stop.abort();
  assert.equal((await running)?.retryableFailure, true);
  const always = { waitUntilReachable: async () => true } as unknown as Reach;
  let attempts = 0;
  await new Redelivery({ reach: always, signal: new AbortController().signal, maxAttempts: 4 }).run("p", ev(), async () => (attempts++, unreachable()));
  assert.equal(attempts, 4);
});

test("ApiReachability resolves once the API server gives any HTTP answer", { timeout: 15_000 }, async () => {
  const port = await freePort();
  const file = join(tmp, "kubeconfig");
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  const kc = new KubeConfig();
  kc.loadFromFile(file);
  const reach = new ApiReachability(kc, { intervalMs: 50, probeTimeoutMs: 500 });
  assert.equal(await reach.waitUntilReachable(AbortSignal.timeout(300)), false, "nothing listens yet");
  const waiting = reach.waitUntilReachable(AbortSignal.timeout(10_000));
  let server: Server | undefined;
  setTimeout(() => {
    server = createServer((_req, res) => res.writeHead(403).end("{}")).listen(port, "127.0.0.1");
  }, 300);
  const t0 = Date.now();
  assert.equal(await waiting, true, "a 403 is an answer");
  assert.ok(Date.now() - t0 < 2000, `resumed ${Date.now() - t0} ms after the server came up`);
  server?.closeAllConnections();
  server?.close();
});
