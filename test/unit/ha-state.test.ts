// The HA state machine (operations.md §4.3) and the controller's promote/demote
// rules on top of it: allowed transitions happen and are heard by listeners and
// metrics, refused ones leave the state alone, and the operator calls answer
// with the reason when the state does not allow them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { configureLogging } from "../../src/observability/log.ts";
import { HA_STATES, HaStateMachine, transitionAllowed, type HaState } from "../../src/ha/ha-state.ts";
import { HaController, HaPreconditionError } from "../../src/ha/ha-controller.ts";
import { Forwarder } from "../../src/ha/forwarder.ts";
import { createHaMetrics } from "../../src/ha/ha-metrics.ts";
import type { ReplicaClient } from "../../src/ha/replica-client.ts";

const logs: string[] = [];
configureLogging({ write: (l) => logs.push(l), defaultLevel: "info" });

const ALLOWED: [HaState, HaState][] = [
  ["recovering", "active"], ["recovering", "syncing"], ["recovering", "replicating"], ["recovering", "disconnected"],
  ["replicating", "disconnected"], ["replicating", "active"],
  ["disconnected", "replicating"], ["disconnected", "active"],
  ["active", "replicating"],
  ["syncing", "replicating"],
];

test("exactly upstream's transitions are allowed", () => {
  for (const from of HA_STATES) {
    for (const to of HA_STATES) {
      if (from === to) continue;
      const want = ALLOWED.some(([f, t]) => f === from && t === to);
      assert.equal(transitionAllowed(from, to), want, `${from} → ${to}`);
    }
  }
});

test("a machine starts in recovering, moves on allowed transitions and tells its listeners", () => {
  const sm = new HaStateMachine();
  const heard: string[] = [];
  sm.on((from, to, reason) => heard.push(`${from}>${to}:${reason}`));
  assert.equal(sm.state(), "recovering");
  assert.equal(sm.isActive(), false);
  assert.equal(sm.transition("syncing", "start"), true);
  assert.equal(sm.transition("replicating", "stream up"), true);
  assert.equal(sm.transition("disconnected", "stream lost"), true);
  assert.equal(sm.transition("active", "promoted"), true);
  assert.equal(sm.isActive(), true);
  assert.equal(sm.transition("active", "again"), true, "the current state is a no-op");
  assert.deepEqual(heard, ["recovering>syncing:start", "syncing>replicating:stream up", "replicating>disconnected:stream lost", "disconnected>active:promoted"]);
});

test("refused transitions leave the state unchanged, are logged and not heard", () => {
  const sm = new HaStateMachine();
  let heard = 0;
  sm.on(() => heard++);
  sm.transition("syncing", "start");
  for (const to of ["active", "disconnected", "recovering"] as const) {
    logs.length = 0;
    assert.equal(sm.transition(to, "test"), false, `syncing → ${to}`);
    assert.equal(sm.state(), "syncing");
    assert.ok(logs.some((l) => l.includes("HA state transition refused") && l.includes(`to=${to}`)), logs.join("\n"));
  }
  sm.transition("replicating", "up");
  sm.transition("active", "promoted");
  assert.equal(sm.transition("syncing", "x"), false);
  assert.equal(sm.transition("disconnected", "x"), false);
  assert.equal(sm.state(), "active");
  assert.equal(heard, 3);
});

// ------------------------------------------------------------ controller

class FakeReplica implements ReplicaClient {
  stopped = false;
  report: (up: boolean) => void;
  constructor(report: (up: boolean) => void) {
    this.report = report;
  }
  async stop() {
    this.stopped = true;
  }
  lastSequence() {
    return 7;
  }
  lastEventUnix() {
    return 1_700_000_000;
  }
}

function controller(role: "primary" | "replica", opts: { peer?: boolean } = {}) {
  const registry = new Registry();
  const metrics = createHaMetrics(registry);
  const state = new HaStateMachine();
  metrics.watchState(state);
  const forwarder = new Forwarder();
  const replicas: FakeReplica[] = [];
  let disconnects = 0;
  let promoted = 0;
  const ctl = new HaController({
    preferredRole: role,
    peerAddress: opts.peer === false ? "" : "peer:8443",
    state,
    metrics,
    forwarder,
    agents: { connectedCount: () => 2, disconnectAll: () => void disconnects++ },
    startReplica: opts.peer === false ? undefined : (report) => {
      const r = new FakeReplica(report);
      replicas.push(r);
      return r;
    },
    onActive: () => void promoted++,
  });
  const metric = async (name: string) => (await registry.getSingleMetricAsString(name)).split("\n").filter((l) => !l.startsWith("#")).join("\n");
  return { ctl, state, forwarder, replicas, metric, counts: () => ({ disconnects, promoted }) };
}

test("primary starts active without a replica client; replica starts syncing and follows the peer", () => {
  const p = controller("primary");
  p.ctl.start();
  assert.equal(p.ctl.state(), "active");
  assert.equal(p.ctl.accepting(), true);
  assert.equal(p.replicas.length, 0);
  assert.equal(p.counts().promoted, 1, "becoming active at start also lets replication catch up");

  const r = controller("replica");
  r.ctl.start();
  assert.equal(r.ctl.state(), "syncing");
  assert.equal(r.ctl.accepting(), false);
  assert.equal(r.replicas.length, 1);
  r.replicas[0]!.report(false);
  assert.equal(r.ctl.state(), "syncing", "no stream yet: stays syncing");
  r.replicas[0]!.report(true);
  assert.equal(r.ctl.state(), "replicating");
  r.replicas[0]!.report(false);
  assert.equal(r.ctl.state(), "disconnected");
  r.replicas[0]!.report(true);
  assert.equal(r.ctl.state(), "replicating");
  const s = r.ctl.status();
  assert.deepEqual({ ...s }, {
    state: "replicating", preferredRole: "replica", peerAddress: "peer:8443", peerReachable: true, peerState: "",
    connectedReplicas: 0, lastEventTimestamp: "1700000000", lastSequenceNum: "7", connectedAgents: 2,
  });
});

test("promote: refused when active, when syncing even with force, when replicating without force", async () => {
  const p = controller("primary");
  p.ctl.start();
  await assert.rejects(p.ctl.promote(true), (e: Error) => e instanceof HaPreconditionError && /already active/.test(e.message));

  const r = controller("replica");
  r.ctl.start();
  await assert.rejects(r.ctl.promote(true), (e: Error) => e instanceof HaPreconditionError && /cannot promote from state syncing/.test(e.message));
  r.replicas[0]!.report(true);
  await assert.rejects(r.ctl.promote(false), (e: Error) => e instanceof HaPreconditionError && /peer is reachable/.test(e.message));
  assert.equal(r.ctl.state(), "replicating");
  assert.equal(r.replicas[0]!.stopped, false);
  assert.equal(r.counts().promoted, 0);
});

test("promote from disconnected (or forced from replicating) stops the replica client, goes active and counts a failover", async () => {
  const r = controller("replica");
  r.ctl.start();
  r.replicas[0]!.report(true);
  r.replicas[0]!.report(false);
  assert.equal(await r.ctl.promote(false), "active");
  assert.equal(r.replicas[0]!.stopped, true);
  assert.equal(r.counts().promoted, 1);
  assert.equal(r.ctl.accepting(), true);
  r.replicas[0]!.report(false); // a late report of the stopped client changes nothing
  assert.equal(r.ctl.state(), "active");
  assert.match(await r.metric("argocd_agent_ha_failovers_total"), /argocd_agent_ha_failovers_total 1/);
  assert.match(await r.metric("argocd_agent_ha_state"), /state="active"} 1/);
  assert.match(await r.metric("argocd_agent_ha_state"), /state="disconnected"} 0/);
  assert.match(await r.metric("argocd_agent_ha_transitions_total"), /from_state="disconnected",to_state="active"} 1/);

  const f = controller("replica");
  f.ctl.start();
  f.replicas[0]!.report(true);
  assert.equal(await f.ctl.promote(true), "active");
});

test("demote: only from active; disconnects agents, follows the peer again and counts a failback", async () => {
  const r = controller("replica");
  r.ctl.start();
  await assert.rejects(r.ctl.demote(), (e: Error) => e instanceof HaPreconditionError && /cannot demote from state syncing/.test(e.message));

  const p = controller("primary");
  p.ctl.start();
  assert.equal(await p.ctl.demote(), "replicating");
  assert.equal(p.counts().disconnects, 1);
  assert.equal(p.replicas.length, 1, "a replica client follows the peer");
  assert.equal(p.ctl.accepting(), false);
  assert.match(await p.metric("argocd_agent_ha_failbacks_total"), /argocd_agent_ha_failbacks_total 1/);
  await assert.rejects(p.ctl.demote(), HaPreconditionError);
  // Back: forced, since it reports replicating.
  assert.equal(await p.ctl.promote(true), "active");
  assert.equal(p.replicas[0]!.stopped, true);
});

test("a demoted principal without a peer address reports replicating while following nothing", async () => {
  const p = controller("primary", { peer: false });
  p.ctl.start();
  logs.length = 0;
  assert.equal(await p.ctl.demote(), "replicating");
  assert.equal(p.replicas.length, 0);
  assert.ok(logs.some((l) => l.includes("not following a peer")));
  assert.equal(p.ctl.status().peerReachable, true, "as upstream: peer_reachable is state == replicating");
});

test("concurrent promote calls run one at a time: the second finds the principal active", async () => {
  const r = controller("replica");
  r.ctl.start();
  r.replicas[0]!.report(true);
  const [a, b] = await Promise.allSettled([r.ctl.promote(true), r.ctl.promote(true)]);
  assert.equal(a.status, "fulfilled");
  assert.equal(b.status, "rejected");
  assert.match((b as PromiseRejectedResult).reason.message, /already active/);
  assert.equal(r.counts().promoted, 1);
});
