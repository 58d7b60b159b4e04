/**
 * Principal HA end to end (operations.md §4): two principals, each with its
 * own hub cluster, P1 active and P2 replicating from it; a managed and an
 * autonomous agent reach "the principal" through haproxy, which here stands
 * in for the GSLB / global load balancer of a real deployment: TCP
 * passthrough, health-checking GET /healthz of both principals and sending
 * agents to the one answering 200. The operator fails over with
 * `argocd-agent ctl ha demote -f` (P1) and `ctl ha promote -f` (P2) while the
 * autonomous agent keeps writing Applications and the test writes managed
 * Applications at the active hub. Afterwards every change must be on P2's
 * hub and on the agents (exact names and specs), the agents on P2, and P1
 * alive but not ready, refusing agents and replicating from P2.
 *
 * The hub writer pauses while no hub is active and, before the demote, the
 * test waits until P2 holds every managed write made at P1 (the operator's
 * "replica caught up" check): replication is asynchronous, so a hub write
 * that P1's informer has not forwarded yet when P1 is demoted never reaches
 * P2 (as upstream). Agents are not paused: they are the source of truth of
 * autonomous apps and resync with whichever principal they reach. Timings
 * (ctl, haproxy, agents, convergence) are logged as a timeline.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeClient } from "../support/kube-client.ts";
import type { Application } from "../../src/kube/resources.ts";
import {
  adminStatus, AUTO, ctlHa, ctlStatus, MANAGED, probe, startHaEnv, subscribeProbe, type HaEnv,
} from "./ha-harness.ts";
import { app, apps, eventually } from "./replication-harness.ts";

const NS = "argocd";
const log = (s: string) => console.log(`[ha-failover] ${s}`);
let h: HaEnv;

before(async () => {
  h = await startHaEnv(log);
}, { timeout: 240_000 });

after(async () => {
  await h?.stop();
});

let broken: string | undefined;

/**
 * Runs one step of the scenario; a failure gets the components' log tails, and
 * the steps after it fail at once (each builds on the state the one before left).
 */
function scenarioStep(name: string, fn: () => Promise<void>): () => Promise<void> {
  return async () => {
    if (broken) throw new Error(`not run: the step "${broken}" failed first`);
    try {
      await fn();
    } catch (err) {
      broken = name;
      const e = err as Error;
      e.message = `${e.message}\n${h?.logs(30) ?? ""}`;
      throw e;
    }
  };
}

/** name → spec.source.path of the Applications the writers made (deleted ones removed). */
type Model = Map<string, string>;
const source = (path: string) => app("x", NS, path).spec.source;

async function listed(kube: KubeClient, ns: string): Promise<Map<string, Application>> {
  return new Map((await apps(kube).list(ns)).items.map((a) => [a.metadata.name!, a]));
}

/**
 * What differs between the Applications in `ns` and the model: missing,
 * unexpected, or a spec.source other than the last one written; undefined when equal.
 */
async function differences(kube: KubeClient, ns: string, model: Model, check?: (a: Application) => string | undefined): Promise<string | undefined> {
  const have = await listed(kube, ns);
  const out: string[] = [];
  const missing = [...model.keys()].filter((n) => !have.has(n));
  const extra = [...have.keys()].filter((n) => !model.has(n));
  if (missing.length) out.push(`missing ${missing.join(",")}`);
  if (extra.length) out.push(`unexpected ${extra.join(",")}`);
  for (const [name, path] of model) {
    const a = have.get(name);
    if (!a) continue;
    try {
      assert.deepEqual(a.spec["source"], source(path));
    } catch {
      out.push(`${name}: source ${JSON.stringify(a.spec["source"])}, want path ${path}`);
    }
    const bad = check?.(a);
    if (bad) out.push(`${name}: ${bad}`);
  }
  return out.length ? out.join("; ") : undefined;
}

/** Polls until every check reports no difference; fails with the last differences. */
async function converged(what: string, checks: Record<string, () => Promise<string | undefined>>, timeoutMs: number): Promise<void> {
  await eventually(what, async () => {
    const diffs: string[] = [];
    for (const [label, check] of Object.entries(checks)) {
      const d = await check();
      if (d) diffs.push(`${label}: ${d}`);
    }
    if (diffs.length) throw new Error(diffs.join("\n  "));
    return true;
  }, timeoutMs);
}

const projectIs = (want: string) => (a: Application) => (a.spec["project"] === want ? undefined : `project ${String(a.spec["project"])}, want ${want}`);
const managedModel: Model = new Map();
const autoModel: Model = new Map();

/** Retries a write a few times (an API server may answer a conflict or a transient error). */
async function write(what: string, fn: () => Promise<unknown>): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await fn();
      return;
    } catch (err) {
      if (i >= 4) throw new Error(`${what} failed: ${(err as Error).message}`);
      await sleep(100);
    }
  }
}

/**
 * One writer step on `model`: create a new app, update the source path of a
 * live one, or (every 8th step) delete the oldest; the model follows each
 * write that succeeded.
 */
async function change(kube: KubeClient, ns: string, prefix: string, model: Model, k: number): Promise<void> {
  const live = [...model.keys()].filter((n) => n.startsWith(prefix));
  if (live.length < 3 || k % 3 === 0) {
    const name = `${prefix}${String(k).padStart(3, "0")}`;
    await write(`create ${ns}/${name}`, () => apps(kube).create(app(name, ns, `p${k}`) as Application));
    model.set(name, `p${k}`);
  } else if (k % 8 === 7) {
    const name = live[0];
    await write(`delete ${ns}/${name}`, () => apps(kube).delete(ns, name));
    model.delete(name);
  } else {
    const name = live[(k * 7) % live.length];
    await write(`update ${ns}/${name}`, () => apps(kube).patch(ns, name, { spec: { source: { path: `p${k}` } } }));
    model.set(name, `p${k}`);
  }
}

const STEP1 = "P2 replicates P1: its hub holds the managed apps and the autonomous mirrors; agents are on P1";
test(STEP1, { timeout: 180_000 }, scenarioStep(STEP1, async () => {
  const { p1, p2, lb } = h;
  await eventually("P2 replicating (HAAdmin Status)", async () => (await adminStatus(p2.admin)).state === "replicating", 60_000);
  const s2 = await ctlStatus(p2.admin);
  assert.equal(s2["state"], "replicating");
  assert.equal(s2["preferred_role"], "replica");
  assert.equal(s2["peer_address"], `127.0.0.1:${p1.grpcPort}`);
  assert.equal(s2["peer_reachable"], true);
  const s1 = await ctlStatus(p1.admin);
  assert.equal(s1["state"], "active");
  assert.equal(s1["preferred_role"], "primary");
  assert.equal(s1["connected_replicas"], 1);

  // Health as the GSLB sees it: the active one 200, the replica 503 with its state; both alive.
  const [h1, r1, l1, h2, r2, l2] = await Promise.all([
    probe(p1.healthzPort, "/healthz"), probe(p1.healthzPort, "/readyz"), probe(p1.healthzPort, "/livez"),
    probe(p2.healthzPort, "/healthz"), probe(p2.healthzPort, "/readyz"), probe(p2.healthzPort, "/livez"),
  ]);
  assert.deepEqual([h1.status, h1.haState, r1.status, l1.status], [200, "active", 200, 200], "P1 health");
  assert.deepEqual([h2.status, h2.haState, h2.body, r2.status, l2.status], [503, "replicating", "HA state: replicating - not accepting traffic\n", 503, 200], "P2 health");
  await lb.waitForStates({ p1: "UP", p2: "DOWN" });

  // The probe sees a principal that takes agents (so its "refused" later means something), and P2 refuses.
  const ok = await subscribeProbe(h, p1.grpcPort);
  assert.deepEqual(ok, { authenticated: true, accepted: true }, "P1 (active) accepts an agent's Subscribe");
  const refused = await subscribeProbe(h, p2.grpcPort);
  assert.equal(refused.accepted, false, `P2 (replicating) must refuse Subscribe: ${JSON.stringify(refused)}`);
  assert.equal(refused.code, "UNAVAILABLE");
  assert.match(refused.details ?? "", /not accepting connections in state replicating/);

  await eventually("both agents connected to P1 (through haproxy)", async () => (await adminStatus(p1.admin)).connectedAgents === 2, 60_000);
  assert.equal((await adminStatus(p2.admin)).connectedAgents, 0);

  for (let k = 0; k < 4; k++) {
    await change(p1.kube, MANAGED, "m-", managedModel, k);
    await change(h.auto, NS, "a-", autoModel, k);
  }
  await converged("managed apps on the managed agent and on P2's hub, autonomous mirrors on both hubs", {
    "managed agent": () => differences(h.managed, NS, managedModel),
    "P2 hub managed": () => differences(p2.kube, MANAGED, managedModel, projectIs("default")),
    "P1 hub mirrors": () => differences(p1.kube, AUTO, autoModel, projectIs(`${AUTO}-default`)),
    "P2 hub mirrors": () => differences(p2.kube, AUTO, autoModel, projectIs(`${AUTO}-default`)),
  }, 60_000);
  // The replica holds what the primary holds: same specs (managed apps are not remapped, mirrors as P1 mapped them).
  for (const ns of [MANAGED, AUTO]) {
    const [a, b] = await Promise.all([listed(p1.kube, ns), listed(p2.kube, ns)]);
    for (const [name, x] of a) assert.deepEqual(b.get(name)?.spec, x.spec, `${ns}/${name} on P2's hub`);
  }
}));

/** Resolves with the time `cond` first held (polled every 100 ms), or 0 after `timeoutMs`. */
async function firstTime(cond: () => Promise<boolean>, timeoutMs: number, stop: () => boolean): Promise<number> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until && !stop()) {
    if (await cond().catch(() => false)) return Date.now();
    await sleep(100);
  }
  return 0;
}

const STEP2 = "failover under writes: agents follow haproxy to P2 and no Application change is lost";
test(STEP2, { timeout: 360_000 }, scenarioStep(STEP2, async () => {
  const { p1, p2, lb } = h;
  const at: Record<string, number> = {}; // when things happened (ms since the epoch)
  let hub: KubeClient | undefined = p1.kube; // where managed apps are written; undefined while no hub is active
  let k = 100;
  let writersDone = false;
  const started = Date.now();
  // Bounds the whole failover: ctl runs from source and needs seconds to start on a busy machine.
  const WRITER_CAP_MS = 180_000;
  const counts = { auto: 0, managedP1: 0, managedP2: 0 };
  // The autonomous agent's cluster: one change every 150 ms, for at least 8 s and until 3 s after the promotion.
  const autoWriter = (async () => {
    for (let i = 0; ; i++) {
      const now = Date.now();
      if (now - started > WRITER_CAP_MS) throw new Error(`failover not done after ${WRITER_CAP_MS / 1000} s (autonomous writer cap)`);
      if (now - started >= 8000 && at["P2 promoted"] && now - at["P2 promoted"] >= 3000) break;
      await change(h.auto, NS, "a-", autoModel, 1000 + i);
      counts.auto++;
      await sleep(150);
    }
  })().finally(() => (writersDone = true));
  autoWriter.catch(() => {}); // awaited below; no unhandled rejection meanwhile
  // The active hub: one managed change every 200 ms, paused while no hub is active.
  const hubWriter = (async () => {
    while (!writersDone) {
      const target = hub;
      if (target) {
        await change(target, MANAGED, "m-", managedModel, k++);
        if (target === p1.kube) counts.managedP1++;
        else counts.managedP2++;
      }
      await sleep(200);
    }
  })();
  hubWriter.catch(() => {});
  let watching = true;
  const watchers: Promise<unknown>[] = [];
  try {
    await sleep(2500);
    hub = undefined;
    await sleep(250); // a change in flight finishes
    at["drain start"] = Date.now();
    await converged("P2 caught up with every managed write made at P1 (drain before demote)", {
      "P2 hub managed": () => differences(p2.kube, MANAGED, managedModel),
    }, 20_000);
    at["drained"] = Date.now();

    // From here on, watch what the agents and the load balancer do.
    const stop = () => !watching;
    watchers.push(
      firstTime(async () => { const s = await lb.states(); return s["p1"] === "DOWN" && s["p2"] === "UP"; }, WRITER_CAP_MS, stop).then((t) => t && (at["haproxy sends to P2"] = t)),
      firstTime(async () => (await adminStatus(p2.admin)).connectedAgents === 2, WRITER_CAP_MS, stop).then((t) => t && (at["both agents connected to P2"] = t)),
    );
    at["demote issued"] = Date.now();
    const demote = await ctlHa(["demote", "--address", p1.admin, "-f"]);
    assert.equal(demote.code, 0, `ctl ha demote: ${demote.stderr}${demote.stdout}`);
    assert.match(demote.stdout, /Demoted\. State is now: replicating/);
    at["P1 demoted"] = Date.now();
    const promote = await ctlHa(["promote", "--address", p2.admin, "-f"]);
    assert.equal(promote.code, 0, `ctl ha promote: ${promote.stderr}${promote.stdout}`);
    assert.match(promote.stdout, /Promoted\. State is now: active/);
    at["P2 promoted"] = Date.now();
    hub = p2.kube;

    await lb.waitForStates({ p1: "DOWN", p2: "UP" }, 30_000);
    await eventually("both agents connected to P2", async () => (await adminStatus(p2.admin)).connectedAgents === 2, 60_000);
    await autoWriter;
    await hubWriter;
    at["writers stopped"] = Date.now();
    assert.ok(counts.managedP1 > 0 && counts.managedP2 > 0, `the hub writer wrote at both hubs: ${JSON.stringify(counts)}`);

    await converged("every change on P2's hub and on the agents", {
      "autonomous agent (writer's own view)": () => differences(h.auto, NS, autoModel),
      "P2 hub mirrors": () => differences(p2.kube, AUTO, autoModel, projectIs(`${AUTO}-default`)),
      "P2 hub managed": () => differences(p2.kube, MANAGED, managedModel, projectIs("default")),
      "managed agent": () => differences(h.managed, NS, managedModel),
    }, 90_000);
    at["converged"] = Date.now();
    const s2 = await ctlStatus(p2.admin);
    assert.equal(s2["state"], "active");
    assert.equal(s2["connected_agents"], 2);
  } finally {
    writersDone = true;
    watching = false;
    await Promise.allSettled([autoWriter, hubWriter, ...watchers]);
    const base = at["P2 promoted"] ?? at["demote issued"] ?? started;
    const line = Object.entries(at).sort((x, y) => x[1] - y[1])
      .map(([what, ms]) => `${what} ${ms - base >= 0 ? "+" : ""}${((ms - base) / 1000).toFixed(2)} s`).join(", ");
    log(`timeline (0 = ${at["P2 promoted"] ? "ctl ha promote returned" : "demote issued"}): ${line}`);
    log(`writes: ${counts.auto} on the autonomous agent, ${counts.managedP1} managed at P1's hub, ${counts.managedP2} at P2's hub; ` +
      `final sets: ${autoModel.size} autonomous, ${managedModel.size} managed apps`);
  }
}));

const STEP3 = "the demoted P1 is alive but not ready, refuses agents and replicates from P2";
test(STEP3, { timeout: 180_000 }, scenarioStep(STEP3, async () => {
  const { p1, p2, lb } = h;
  await eventually("P1 replicating from P2", async () => (await adminStatus(p1.admin)).state === "replicating", 60_000);
  const s1 = await ctlStatus(p1.admin);
  assert.equal(s1["state"], "replicating");
  assert.equal(s1["peer_address"], `127.0.0.1:${p2.grpcPort}`);
  assert.equal(s1["peer_reachable"], true);
  assert.equal(s1["connected_agents"], undefined, "no agent on P1 (Go JSON omits the zero)");
  const [live, health, ready] = await Promise.all([probe(p1.healthzPort, "/livez"), probe(p1.healthzPort, "/healthz"), probe(p1.healthzPort, "/readyz")]);
  assert.equal(live.status, 200, "P1 alive");
  assert.deepEqual([health.status, health.haState, health.body], [503, "replicating", "HA state: replicating - not accepting traffic\n"]);
  assert.equal(ready.status, 503, "P1 not ready");
  assert.deepEqual(await lb.states(), { p1: "DOWN", p2: "UP" });
  const refused = await subscribeProbe(h, p1.grpcPort);
  assert.equal(refused.authenticated, true, "Authenticate still answers on a passive principal");
  assert.equal(refused.accepted, false, `P1 must refuse Subscribe: ${JSON.stringify(refused)}`);
  assert.equal(refused.code, "UNAVAILABLE");
  assert.match(refused.details ?? "", /not accepting connections in state replicating/);
  // P1 follows P2 now: its hub gets P2's state, changes made after the failover included.
  await converged("P1's hub caught up with P2", {
    "P1 hub managed": () => differences(p1.kube, MANAGED, managedModel, projectIs("default")),
    "P1 hub mirrors": () => differences(p1.kube, AUTO, autoModel, projectIs(`${AUTO}-default`)),
  }, 60_000);
}));
