// The retry rules of the HA replica's writes (src/ha/replica-writes.ts
// ReplicaWriter.retrying): conflicts re-run at once, an unanswered API server
// is waited for, 429/5xx back off, everything else fails at once, and no
// wait outlives its limit. No kube: the write is a function that fails on cue.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ApiException } from "@kubernetes/client-node";
import { ReplicaWriter } from "../../src/ha/replica-writes.ts";
import type { KubeClient } from "../support/kube-client.ts";
import type { ApiReachability } from "../../src/kube/reachability.ts";

const apiError = (code: number, reason = "") => new ApiException(code, `HTTP ${code}`, JSON.stringify({ reason }), {});
const unanswered = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:6443"), { code: "ECONNREFUSED" });

function writer(reachable: boolean[] = [], maxApiWaitMs = 5_000) {
  const waits: number[] = [];
  const reach = {
    waitUntilReachable: async () => {
      waits.push(Date.now());
      return reachable.shift() ?? true;
    },
  } as unknown as ApiReachability;
  const w = new ReplicaWriter({ kube: {} as KubeClient, signal: new AbortController().signal, reach, maxApiWaitMs });
  return { w, waits };
}

/** A write failing with `errors` in turn, then returning "done". */
function failing(...errors: unknown[]) {
  let calls = 0;
  const fn = async () => {
    calls++;
    const e = errors.shift();
    if (e) throw e;
    return "done";
  };
  return { fn, calls: () => calls };
}

test("conflicts and already-exists races re-run the write", async () => {
  const { w } = writer();
  const f = failing(apiError(409), apiError(409, "AlreadyExists"), apiError(409));
  assert.equal(await w.retrying("x", f.fn), "done");
  assert.equal(f.calls(), 4);
});

test("endless conflicts give up after 10 attempts", async () => {
  const { w } = writer();
  const f = failing(...Array.from({ length: 20 }, () => apiError(409)));
  await assert.rejects(w.retrying("x", f.fn), (err: unknown) => (err as ApiException<unknown>).code === 409);
  assert.equal(f.calls(), 10);
});

test("an unanswered API server is waited for, then the write runs again", async () => {
  const { w, waits } = writer([true, true]);
  const f = failing(unanswered(), unanswered());
  assert.equal(await w.retrying("x", f.fn), "done");
  assert.equal(waits.length, 2);
  assert.equal(f.calls(), 3);
});

test("when the API server does not come back within the wait, the error is thrown", async () => {
  const { w } = writer([false]);
  const f = failing(unanswered());
  await assert.rejects(w.retrying("x", f.fn), /ECONNREFUSED/);
});

test("throttling and server errors back off and retry", async () => {
  const { w, waits } = writer();
  const started = Date.now();
  const f = failing(apiError(429), apiError(503));
  assert.equal(await w.retrying("x", f.fn), "done");
  assert.equal(waits.length, 0, "no reachability wait: the server answered");
  assert.ok(Date.now() - started >= 550, "200 ms, then 400 ms");
});

test("server errors past the wait limit are thrown", async () => {
  const { w } = writer([], 300);
  const f = failing(...Array.from({ length: 50 }, () => apiError(500)));
  await assert.rejects(w.retrying("x", f.fn), (err: unknown) => (err as ApiException<unknown>).code === 500);
  assert.ok(f.calls() >= 2 && f.calls() <= 4, `${f.calls()} attempts within 300 ms`);
});

test("errors a retry cannot fix fail at once", async () => {
  const { w } = writer();
  for (const code of [400, 403, 404, 422]) {
    const f = failing(apiError(code));
    await assert.rejects(w.retrying("x", f.fn), (err: unknown) => (err as ApiException<unknown>).code === code);
    assert.equal(f.calls(), 1);
  }
});

test("a stopped writer does not start another attempt", async () => {
  const ac = new AbortController();
  const w = new ReplicaWriter({ kube: {} as KubeClient, signal: ac.signal, reach: { waitUntilReachable: async () => true } as unknown as ApiReachability });
  ac.abort();
  await assert.rejects(w.retrying("x", async () => "done"), /stopped/);
});
