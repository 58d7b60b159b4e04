/**
 * The redis proxy end to end, as the hub's Argo CD server uses it: a redis
 * client (ioredis 6 speaks like go-redis v9: HELLO 3 AUTH, CLIENT SETINFO,
 * lowercase get/subscribe/ping) → our principal's redis proxy → the hub's
 * redis-server for hub keys, or over the real gRPC event stream → the managed
 * agent → the agent's redis-server for agent keys. Real kube-apiservers, real
 * redis-server processes; the principal and the agent run in-process.
 *
 * Covers live-resources.md §9 D1–D5: routing, cache miss, subscriptions,
 * agent gone or slow, cluster cache info and connection state, metrics; and
 * that 1,000 concurrent proxy clients and a 10 MiB value leave replication
 * alone.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Redis } from "ioredis";
import { ensureNamespace } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";
import { freePort } from "../support/processes.ts";
import { startRedisServer, type RedisServer } from "../support/redis-server.ts";
import { app, apps, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const HUB_PASSWORD = "hub-secret";
const SERVER = `https://argocd-agent-resource-proxy:9090?agentName=${MANAGED}`;
const TREE = `app|resources-tree|${MANAGED}_guestbook|1.8.3.gz`;
const TREE_LOCAL = "app|resources-tree|guestbook|1.8.3.gz";
const CHANNEL = `app|managed-resources|${MANAGED}_guestbook|1.8.3`;
const CHANNEL_LOCAL = "app|managed-resources|guestbook|1.8.3";
const CLUSTER_KEY = `cluster|info|${SERVER}|1.8.3.gz`;

let h: Harness;
let hub: RedisServer;
let agentRedis: RedisServer;
let proxyPort: number;
let principalMetrics: number;
let agentMetrics: number;
const clients: Redis[] = [];

function argoClient(): Redis {
  const c = new Redis({ host: "127.0.0.1", port: proxyPort, password: HUB_PASSWORD, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on("error", () => undefined);
  clients.push(c);
  return c;
}

async function startAgent() {
  return h.startAgent(MANAGED, { redisAddr: agentRedis.address, cacheRefreshInterval: "1s", metricsPort: String(agentMetrics) });
}

before(async () => {
  hub = await startRedisServer({ password: HUB_PASSWORD });
  agentRedis = await startRedisServer();
  h = await startHarness({ agents: { [MANAGED]: { cluster: MANAGED, mode: "managed" } } });
  await ensureNamespace(h.cp, "argocd");
  // The agent's Argo CD cluster secret at the hub, as `argocd-agent ctl agent create` writes it.
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  await h.cp.core.createNamespacedSecret({
    namespace: "argocd",
    body: {
      metadata: { name: `cluster-${MANAGED}`, labels: { "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": MANAGED } },
      data: { name: b64(MANAGED), server: b64(SERVER), config: b64("{}") },
    },
  });
  principalMetrics = await freePort();
  agentMetrics = await freePort();
  await h.startPrincipal({
    disableRedisProxy: "false", redisProxyPort: "0", redisServerAddress: hub.address, redisPassword: HUB_PASSWORD,
    redisProxyTimeout: "10s", metricsPort: String(principalMetrics),
  });
  proxyPort = h.principal()!.redisProxyPort!;
  await startAgent();
}, { timeout: 120_000 });

after(async () => {
  for (const c of clients) c.disconnect();
  await h?.stop();
  await hub?.stop();
  await agentRedis?.stop();
});

test("D1/D2: agent keys come from the agent's redis, everything else from the hub's; a miss is upstream's empty error", { timeout: 60_000 }, async () => {
  await agentRedis.client().set(TREE_LOCAL, gzipSync('{"nodes":[]}'));
  await hub.client().set("cluster|info|x|1.8.3.gz", "hub value");
  const c = argoClient();
  assert.equal(await c.ping(), "PONG");
  assert.equal(gunzipSync((await c.getBuffer(TREE))!).toString(), '{"nodes":[]}');
  assert.equal(await c.get("cluster|info|x|1.8.3.gz"), "hub value");
  assert.equal(await c.set("foo", "bar"), "OK");
  assert.equal(await hub.client().get("foo"), "bar");
  await assert.rejects(c.get(`app|resources-tree|${MANAGED}_missing|1.8.3.gz`), (e: Error) => e.message === "");
});

test("sharded resource trees are read from the agent too", { timeout: 30_000 }, async () => {
  await agentRedis.client().set("app|resources-tree|guestbook|1|1.8.3.gz", "shard 1");
  assert.equal(await argoClient().get(`app|resources-tree|${MANAGED}_guestbook|1|1.8.3.gz`), "shard 1");
});

test("D3: a subscription gets the agent's notifications over the event stream", { timeout: 30_000 }, async () => {
  const sub = argoClient();
  const got: string[] = [];
  sub.on("message", (ch: string, msg: string) => got.push(`${ch}=${msg}`));
  await sub.subscribe(CHANNEL);
  await agentRedis.client().publish(CHANNEL_LOCAL, "");
  await eventually("push relayed", () => got.length === 1);
  assert.deepEqual(got, [`${CHANNEL}=`]);
  await agentRedis.client().publish(CHANNEL_LOCAL, "payload");
  await agentRedis.client().publish(CHANNEL_LOCAL, "");
  await eventually("second push", () => got.length === 2);
  assert.deepEqual(got, [`${CHANNEL}=`, `${CHANNEL}=`], "a notification with a payload is not relayed");
  sub.disconnect();
});

test("D5: the agent's cache counts and its connection state land in the hub's redis for Argo CD", { timeout: 60_000 }, async () => {
  await agentRedis.client().set(
    "cluster|info|https://kubernetes.default.svc|1.8.3.gz",
    gzipSync(JSON.stringify({ applicationsCount: 3, cacheInfo: { apisCount: 5, resourcesCount: 7 } }) + "\n"),
  );
  const info = await eventually("counts at the hub", async () => {
    const raw = await hub.client().getBuffer(CLUSTER_KEY);
    const v = raw && JSON.parse(gunzipSync(raw).toString());
    return v?.applicationsCount === 3 ? v : undefined;
  });
  assert.deepEqual(info.cacheInfo, { apisCount: 5, resourcesCount: 7 });
  assert.equal(info.connectionState.status, "Successful");
  assert.equal(info.connectionState.message, `Agent: '${MANAGED}' is connected with principal`);
  assert.match(info.connectionState.attemptedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
});

test("metrics with upstream's names count agent-routed commands on both sides", { timeout: 30_000 }, async () => {
  const p = await (await fetch(`http://127.0.0.1:${principalMetrics}/metrics`)).text();
  assert.match(p, new RegExp(`argocd_principal_redis_proxy_requests_total\\{agent_name="${MANAGED}",command="get"\\} [1-9]`));
  assert.match(p, new RegExp(`argocd_principal_redis_proxy_requests_total\\{agent_name="${MANAGED}",command="subscribe"\\} [1-9]`));
  const a = await (await fetch(`http://127.0.0.1:${agentMetrics}/metrics`)).text();
  assert.match(a, /argocd_agent_redis_proxy_requests_total\{command="get"\} [1-9]/);
});

test("1,000 concurrent clients and a 10 MiB value do not disturb replication", { timeout: 240_000 }, async () => {
  const big = Buffer.alloc(10 << 20, 1);
  big.write("ten mebibytes");
  await agentRedis.client().set("app|resources-tree|big|1.8.3.gz", big);
  await agentRedis.client().set(TREE_LOCAL, "small tree");

  /** Creates `n` Applications at the hub; resolves with the seconds until all are on the agent's cluster. */
  const replicate = async (prefix: string, n: number): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < n; i++) await apps(h.cp).create(app(`${prefix}-${i}`, MANAGED) as Application);
    await eventually(`${prefix} apps on the agent`, async () => {
      const list = (await apps(h.managed).list("argocd")).items;
      return list.filter((a) => a.metadata.name?.startsWith(`${prefix}-`)).length === n;
    }, 120_000);
    return (performance.now() - t0) / 1000;
  };

  const quiet = await replicate("quiet", 20);
  const load = (async () => {
    const conns = Array.from({ length: 1000 }, () => argoClient());
    const t0 = performance.now();
    const values = await Promise.all(conns.map((c) => c.get(TREE).catch((e: Error) => `error: ${e.message}`)));
    const errors = values.filter((v) => v !== "small tree");
    if (errors.length) console.log(`${errors.length} failed GETs, e.g. ${[...new Set(errors)].slice(0, 3).join(" | ")}`);
    const seconds = (performance.now() - t0) / 1000;
    for (const c of conns) c.disconnect();
    return { ok: values.filter((v) => v === "small tree").length, seconds };
  })();
  const bigReads = (async () => {
    const c = argoClient();
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      const v = await c.getBuffer(`app|resources-tree|${MANAGED}_big|1.8.3.gz`);
      assert.ok(v?.equals(big), "the 10 MiB value arrives intact");
      times.push((performance.now() - t0) / 1000);
    }
    return times;
  })();
  const busy = await replicate("busy", 20);
  const [l, b] = await Promise.all([load, bigReads]);
  console.log(`replication of 20 apps: ${quiet.toFixed(2)} s quiet, ${busy.toFixed(2)} s during 1,000 clients + 10 MiB reads; ` +
    `1,000 concurrent GETs in ${l.seconds.toFixed(2)} s; 10 MiB GET ${b.map((x) => x.toFixed(2)).join("/")} s`);
  assert.equal(l.ok, 1000, "every client got the agent's value");
  assert.ok(busy < Math.max(10, quiet * 5), `replication under load took ${busy.toFixed(1)} s (quiet: ${quiet.toFixed(1)} s)`);
});

test("D4: agent slow or gone: a clear error and a closed connection, no hung client", { timeout: 60_000 }, async () => {
  // Slow: the agent's redis stops answering for 12 s; the principal waits --redis-proxy-timeout (10 s).
  const c = argoClient();
  assert.equal(await c.get(TREE), "small tree");
  await agentRedis.client().call("CLIENT", "PAUSE", "12000", "ALL");
  let t0 = performance.now();
  await assert.rejects(c.get(TREE), /argocd-agent redis proxy: get .*no answer from agent 'agent-managed' within 10s/);
  assert.ok(performance.now() - t0 < 11_500);
  await eventually("closed", () => c.status === "end");
  await new Promise((r) => setTimeout(r, 2500)); // the pause ends

  await h.stopAgent(MANAGED);
  const d = argoClient();
  t0 = performance.now();
  await assert.rejects(d.get(TREE), /agent 'agent-managed' is not connected to the principal/);
  assert.ok(performance.now() - t0 < 1000, "at once, not after a timeout");
  assert.equal(await argoClient().get("foo"), "bar", "hub keys still work without the agent");
  const state = await eventually("Failed connection state", async () => {
    const raw = await hub.client().getBuffer(CLUSTER_KEY);
    const v = raw && JSON.parse(gunzipSync(raw).toString());
    return v?.connectionState?.status === "Failed" ? v.connectionState : undefined;
  });
  assert.equal(state.message, `Agent: '${MANAGED}' is disconnected with principal`);
  await startAgent();
  assert.equal(await argoClient().get(TREE), "small tree", "works again once the agent is back");
});
