// The profiling endpoint behind upstream's --pprof-port, as an operator uses it with
// curl against a running principal process: a V8 heap snapshot, a CPU profile and a
// sampling heap profile that DevTools can load, on 127.0.0.1 only; bad requests are
// refused with a reason; the port is off by default.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { freePort, principalDevArgs, runSync, start, type Running } from "../support/processes.ts";

let principal: Running;
let base: string;

before(async () => {
  const pprof = await freePort();
  principal = start([...principalDevArgs(await freePort()), "--pprof-port", String(pprof)]);
  await principal.waitFor(new RegExp(`profiling endpoint listening.*127\\.0\\.0\\.1:${pprof}`));
  await principal.waitFor(/principal started/);
  base = `http://127.0.0.1:${pprof}/debug/pprof`;
});
after(async () => {
  await principal?.stop();
});

test("/debug/pprof/ lists the endpoints", async () => {
  const res = await fetch(`${base}/`);
  assert.equal(res.status, 200);
  const body = await res.text();
  for (const p of ["/debug/pprof/heap", "/debug/pprof/profile?seconds=N", "/debug/pprof/allocs?seconds=N", "/debug/pprof/cmdline"]) assert.ok(body.includes(p), p);
});

test("/debug/pprof/heap is a V8 heap snapshot", { timeout: 120_000 }, async () => {
  const res = await fetch(`${base}/heap`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-disposition") ?? "", /attachment; filename="argocd-agent-\d+-.*\.heapsnapshot"/);
  const snapshot = (await res.json()) as { snapshot?: { meta?: { node_fields?: string[] }; node_count?: number }; nodes?: number[]; strings?: string[] };
  assert.ok(snapshot.snapshot, "has the snapshot header");
  assert.ok(snapshot.snapshot.meta?.node_fields?.includes("name"));
  assert.ok((snapshot.snapshot.node_count ?? 0) > 1000, "a real heap has many nodes");
  assert.ok(snapshot.strings?.some((s) => s.includes("principal")), "it is the principal's heap");
});

test("/debug/pprof/profile records a CPU profile for the given seconds", { timeout: 60_000 }, async () => {
  const t0 = Date.now();
  const res = await fetch(`${base}/profile?seconds=1`);
  assert.equal(res.status, 200);
  const profile = (await res.json()) as { nodes?: { callFrame?: { functionName?: string } }[]; startTime?: number; endTime?: number; samples?: number[] };
  assert.ok(Date.now() - t0 >= 1000, "waited the requested second");
  assert.ok(Array.isArray(profile.nodes) && profile.nodes.length > 0, "has nodes");
  assert.ok(profile.nodes.some((n) => n.callFrame?.functionName === "(root)"));
  assert.ok((profile.endTime ?? 0) - (profile.startTime ?? 0) >= 900_000, "spans about a second (µs)");
});

test("/debug/pprof/allocs records a sampling heap profile", { timeout: 60_000 }, async () => {
  const res = await fetch(`${base}/allocs?seconds=1`);
  assert.equal(res.status, 200);
  const profile = (await res.json()) as { head?: { callFrame?: unknown; children?: unknown[] }; samples?: unknown[] };
  assert.ok(profile.head?.callFrame, "has the allocation tree");
});

test("one CPU profile at a time; bad seconds and unknown paths are refused with a reason", { timeout: 60_000 }, async () => {
  const first = fetch(`${base}/profile?seconds=2`);
  await new Promise((r) => setTimeout(r, 300));
  const second = await fetch(`${base}/profile?seconds=1`);
  assert.equal(second.status, 409);
  assert.match(await second.text(), /already being recorded/);
  assert.equal((await first).status, 200);
  await (await first).arrayBuffer();
  for (const bad of ["0", "-1", "1.5", "abc", "601"]) {
    const res = await fetch(`${base}/profile?seconds=${bad}`);
    assert.equal(res.status, 400, bad);
    assert.match(await res.text(), /seconds must be an integer from 1 to 600/);
  }
  assert.equal((await fetch(`${base}/goroutine`)).status, 404);
  assert.equal((await fetch(`${base}/heap`, { method: "POST" })).status, 405);
  const cmdline = await (await fetch(`${base}/cmdline`)).text();
  assert.ok(cmdline.split("\x00").includes("--pprof-port"));
});

test("--pprof-port is validated like any port flag", () => {
  const res = runSync(["principal", "--pprof-port", "70000"]);
  assert.equal(res.code, 2);
  assert.match(res.stderr, /pprof-port/);
});
