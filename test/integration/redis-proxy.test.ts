/**
 * The redis proxy against real redis-server processes (a hub redis with a
 * password, an agent redis), with the principal's and the agent's redis rooms
 * joined by an in-process event link that carries the real redis-request /
 * redis-response payloads (JSON round trip), so the agent can be cut off or
 * slowed down at will. Clients speak as Argo CD's go-redis does: HELLO 3 with
 * AUTH, CLIENT SETINFO, lowercase get/subscribe/ping (ioredis 6 sends the same),
 * or raw RESP bytes where the exact bytes matter. The full path over gRPC with
 * real API servers is test/e2e/redis-proxy.test.ts.
 */
import assert from "node:assert/strict";
import { connect, type Socket } from "node:net";
import { after, before, test } from "node:test";
import { gunzipSync, gzipSync } from "node:zlib";
import { Redis } from "ioredis";
import type { AgentEvent } from "../../src/events/cloudevent.ts";
import type { EventWriter } from "../../src/events/event-writer.ts";
import { AgentRedisRequests } from "../../src/redisproxy/agent-redis.ts";
import { ClusterCacheReporter } from "../../src/redisproxy/cluster-cache-reporter.ts";
import { ClusterInfoWriter } from "../../src/redisproxy/cluster-info-writer.ts";
import { startRedisProxy, type RedisProxy, type RedisProxyOptions } from "../../src/redisproxy/redis-proxy.ts";
import { newRedisClient } from "../../src/redisproxy/redis-settings.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";
import { freePort } from "../support/processes.ts";
import { startRedisServer, type RedisServer } from "../support/redis-server.ts";

const AGENT = "agent-a";
const TREE = "app|resources-tree|agent-a_guestbook|1.8.3.gz";
const TREE_LOCAL = "app|resources-tree|guestbook|1.8.3.gz";
const CHANNEL = "app|managed-resources|agent-a_guestbook|1.8.3";
const CHANNEL_LOCAL = "app|managed-resources|guestbook|1.8.3";
const HUB_PASSWORD = "hub-secret";

let hub: RedisServer;
let agentRedis: RedisServer;
let pki: TestPki;

const payloadOf = (ev: AgentEvent) => JSON.parse(Buffer.from(ev.data).toString("utf8"));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Wired {
  proxy: RedisProxy;
  agent: AgentRedisRequests;
  /** Requests the principal sent to the agent. */
  requests: Record<string, unknown>[];
  link: { connected: boolean; delayMs: number; drop: boolean };
  close(): Promise<void>;
}

/** A principal-side proxy and an agent-side responder joined by an in-process event link. */
async function wire(opts: Partial<RedisProxyOptions> = {}, agentOpts: { idleTimeoutMs?: number; sweepIntervalMs?: number; agentRedisPort?: number } = {}): Promise<Wired> {
  const link = { connected: true, delayMs: 0, drop: false };
  const requests: Record<string, unknown>[] = [];
  let proxy!: RedisProxy;
  const toPrincipal = { add: (ev: AgentEvent) => (setTimeout(() => void proxy.responseHandler(AGENT)(ev, payloadOf(ev)), link.delayMs), true) } as unknown as EventWriter;
  const client = newRedisClient({ host: "127.0.0.1", port: agentOpts.agentRedisPort ?? agentRedis.port, username: "", password: "" }, "agent redis");
  const agent = new AgentRedisRequests({ writer: toPrincipal, client, destinationBased: false, ...agentOpts });
  proxy = await startRedisProxy({
    host: "127.0.0.1",
    port: 0,
    backend: { host: "127.0.0.1", port: hub.port },
    principalNamespace: "argocd",
    agents: {
      mode: () => "managed",
      connected: (a) => a === AGENT && link.connected,
      send: (_a, ev) => {
        const p = payloadOf(ev);
        requests.push(p);
        if (!link.drop) setTimeout(() => void agent.handler(ev, p), link.delayMs);
        return true;
      },
      discard: () => undefined,
    },
    ...opts,
  });
  return { proxy, agent, requests, link, close: async () => (await proxy.close(), agent.close()) };
}

/** A client configured like Argo CD's: RESP3 via HELLO 3 AUTH default <password>. */
function argoClient(port: number, extra: Record<string, unknown> = {}): Redis {
  const c = new Redis({ host: "127.0.0.1", port, password: HUB_PASSWORD, maxRetriesPerRequest: 0, retryStrategy: () => null, ...extra });
  c.on("error", () => undefined);
  return c;
}

/** A raw socket; `read` waits until `n` bytes (or the close) arrived. */
async function raw(port: number): Promise<{ s: Socket; send(b: string | Buffer): void; read(untilBytes: number, ms?: number): Promise<string>; closed: Promise<void> }> {
  const s = connect(port, "127.0.0.1");
  await new Promise((r) => s.once("connect", r));
  let buf = "";
  s.on("data", (d) => (buf += d.toString("latin1")));
  s.on("error", () => undefined);
  const closed = new Promise<void>((r) => s.once("close", () => r()));
  return {
    s,
    send: (b) => s.write(b),
    async read(n, ms = 5000) {
      const deadline = Date.now() + ms;
      while (buf.length < n && !s.destroyed && Date.now() < deadline) await sleep(10);
      const out = buf;
      buf = "";
      return out;
    },
    closed,
  };
}

const auth = `*2\r\n$4\r\nAUTH\r\n$${HUB_PASSWORD.length}\r\n${HUB_PASSWORD}\r\n`;
const cmd = (...parts: string[]) => `*${parts.length}\r\n` + parts.map((p) => `$${Buffer.byteLength(p)}\r\n${p}\r\n`).join("");

before(async () => {
  hub = await startRedisServer({ password: HUB_PASSWORD });
  agentRedis = await startRedisServer();
  pki = await createTestPki();
});
after(async () => {
  await hub?.stop();
  await agentRedis?.stop();
  pki?.cleanup();
});

test("Argo CD's client: PING, AUTH/HELLO and hub keys pass through; agent keys come from the agent's redis", async () => {
  const w = await wire();
  try {
    const value = Buffer.from([0x1f, 0x8b, 0, 1, 2, 0xff, 0x0d, 0x0a]);
    await agentRedis.client().set(TREE_LOCAL, value);
    await hub.client().set(TREE, "hub copy, never read by the proxy");
    await hub.client().set("mfst|x|agent-a_guestbook|r|1.8.3.gz", "manifest");
    const c = argoClient(w.proxy.port);
    assert.equal(await c.ping(), "PONG");
    assert.deepEqual(await c.getBuffer(TREE), value, "binary value, byte for byte, from the agent");
    assert.equal(await c.get("mfst|x|agent-a_guestbook|r|1.8.3.gz"), "manifest", "mfst| goes to the hub");
    assert.equal(await c.set("new-revoked-token", "t"), "OK");
    assert.equal(await hub.client().get("new-revoked-token"), "t", "writes land in the hub's redis");
    assert.equal(await c.call("GET", TREE.replace("guestbook", "guestbook")) !== null, true, "uppercase GET is routed too");
    await assert.rejects(c.get("app|resources-tree|agent-a_nothing|1.8.3.gz"), (e: Error) => e.message === "", "a miss is upstream's empty error reply");
    assert.equal(await c.get("mfst|x|agent-a_guestbook|r|1.8.3.gz"), "manifest", "the connection survives a miss");
    const gets = w.requests.filter((r) => (r["body"] as Record<string, unknown>)["get"]);
    assert.ok(gets.every((r) => r["connectionUuid"] === gets[0]!["connectionUuid"] && typeof r["uuid"] === "string"), "one connection UUID, a request UUID each");
    c.disconnect();
    const wrong = argoClient(w.proxy.port, { password: "wrong" });
    await assert.rejects(wrong.ping(), /WRONGPASS|invalid/i, "the hub's redis checks the client's own AUTH");
    wrong.disconnect();
  } finally {
    await w.close();
  }
});

test("exact bytes: hit, miss, subscribe ack and push; pipelined hub commands keep their order", async () => {
  const w = await wire();
  try {
    await agentRedis.client().set(TREE_LOCAL, "tree");
    const r = await raw(w.proxy.port);
    r.send(cmd("HELLO", "3", "AUTH", "default", HUB_PASSWORD));
    assert.match(await r.read(1, 1000), /^%\d+\r\n/, "the hub's redis answers HELLO 3 with a RESP3 map, passed through");
    r.send(cmd("set", "a", "1") + cmd("get", "a") + cmd("ping"));
    assert.equal(await r.read(13), "+OK\r\n$1\r\n1\r\n+PONG\r\n");
    r.send(cmd("get", TREE));
    assert.equal(await r.read(10), "$4\r\ntree\r\n");
    r.send(cmd("get", "app|resources-tree|agent-a_none|1.8.3.gz"));
    assert.equal(await r.read(3), "-\r\n");
    r.send(cmd("subscribe", CHANNEL));
    const ack = `>3\r\n$9\r\nsubscribe\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n:1\r\n`;
    assert.equal(await r.read(ack.length), ack);
    await agentRedis.client().publish(CHANNEL_LOCAL, "");
    const push = `>3\r\n$7\r\nmessage\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n$0\r\n\r\n`;
    assert.equal(await r.read(push.length), push);
    await agentRedis.client().publish(CHANNEL_LOCAL, "not empty");
    assert.equal(await r.read(1, 500), "", "a notification with a payload is not relayed (as upstream)");
    r.s.destroy();
    // A RESP2 client (no HELLO 3) gets arrays where upstream would push (it cannot read pushes).
    const r2 = await raw(w.proxy.port);
    r2.send(auth + cmd("subscribe", CHANNEL));
    const ack2 = `+OK\r\n*3\r\n$9\r\nsubscribe\r\n$${CHANNEL.length}\r\n${CHANNEL}\r\n:1\r\n`;
    assert.equal(await r2.read(ack2.length), ack2);
    await agentRedis.client().publish(CHANNEL_LOCAL, "");
    assert.equal(await r2.read(push.length), push.replace(">3", "*3"));
    r2.s.destroy();
  } finally {
    await w.close();
  }
});

test("SUBSCRIBE like Argo CD's OnUpdated: the client gets the agent's notifications; hub channels stay on the hub", async () => {
  const w = await wire();
  try {
    const sub = argoClient(w.proxy.port);
    const got: string[] = [];
    sub.on("message", (ch: string, msg: string) => got.push(`${ch}=${msg}`));
    await sub.subscribe(CHANNEL, "hub-channel");
    assert.equal(await sub.ping(), "PONG", "pings still answered while subscribed");
    await sleep(100);
    await agentRedis.client().publish(CHANNEL_LOCAL, "");
    await hub.client().publish("hub-channel", "from the hub");
    await sub.subscribe("app|managed-resources|agent-a_other|1.8.3");
    await agentRedis.client().publish("app|managed-resources|other|1.8.3", "");
    for (let i = 0; i < 100 && got.length < 3; i++) await sleep(20);
    assert.deepEqual(got.sort(), [`${CHANNEL}=`, "app|managed-resources|agent-a_other|1.8.3=", "hub-channel=from the hub"].sort());
    assert.equal(w.agent.stats().subscriptions, 2);
    sub.disconnect();
  } finally {
    await w.close();
  }
});

test("agent not connected, gone mid-request, or too slow: an error that says why, the connection closes, nothing hangs", async () => {
  const w = await wire({ timeoutMs: 500 });
  try {
    w.link.connected = false;
    let c = argoClient(w.proxy.port);
    let t0 = Date.now();
    await assert.rejects(c.get(TREE), /argocd-agent redis proxy: get .*agent 'agent-a' is not connected/);
    assert.ok(Date.now() - t0 < 1000);
    w.link.connected = true;
    w.link.drop = true;
    c = argoClient(w.proxy.port);
    t0 = Date.now();
    await assert.rejects(c.get(TREE), /no answer from agent 'agent-a' within 1s/);
    assert.ok(Date.now() - t0 < 2000, "timed out after the configured wait");
    const pending = c.get(TREE).catch((e: Error) => e);
    c = argoClient(w.proxy.port);
    const p2 = c.get(TREE).catch((e: Error) => e);
    await sleep(100);
    w.proxy.agentGone(AGENT);
    assert.match(String(await p2), /agent 'agent-a' disconnected/, "a disconnect fails open requests at once");
    assert.ok(await pending);
    assert.equal(w.proxy.calls.pending.size(), 0);
  } finally {
    await w.close();
  }
});

test("the agent's redis unreachable: the error names it; hub keys keep working", async () => {
  const w = await wire({}, { agentRedisPort: await freePort() });
  try {
    const c = argoClient(w.proxy.port);
    await assert.rejects(c.get(TREE), /the agent's redis answered: cannot reach agent redis at 127\.0\.0\.1:\d+: .*ECONNREFUSED/);
    assert.equal(await argoClient(w.proxy.port).ping(), "PONG");
  } finally {
    await w.close();
  }
});

test("malformed RESP, inline commands and bad agent keys close only that client", async () => {
  const w = await wire();
  try {
    const good = argoClient(w.proxy.port);
    assert.equal(await good.ping(), "PONG");
    // A bad type byte, an inline command (upstream closes on it too), a nested array, a null, an agent key of a bad shape.
    for (const bad of ["\x00\x01garbage\r\n", "PING\r\n", "*2\r\n$3\r\nget\r\n*1\r\n$1\r\nx\r\n", "*2\r\n$3\r\nget\r\n$-1\r\n", cmd("get", "app|resources-tree|agent-a_g|x|y|z")]) {
      const r = await raw(w.proxy.port);
      r.send(auth);
      await r.read(5);
      r.send(bad);
      const reply = await r.read(10);
      assert.match(reply, /^-ERR argocd-agent redis proxy: /, `${JSON.stringify(bad)} → ${JSON.stringify(reply)}`);
      await r.closed;
    }
    assert.equal(await good.ping(), "PONG", "other clients are not disturbed");
    assert.equal(w.proxy.connections(), 1);
    good.disconnect();
  } finally {
    await w.close();
  }
});

test("bounds: max clients, largest request, open agent requests per agent", async () => {
  const w = await wire({ maxClients: 3, maxCommandBytes: 1 << 20, maxPendingPerAgent: 2, timeoutMs: 5000 });
  try {
    const [a, b, c] = [argoClient(w.proxy.port), argoClient(w.proxy.port), argoClient(w.proxy.port)];
    for (const x of [a, b, c]) assert.equal(await x.ping(), "PONG");
    const r = await raw(w.proxy.port);
    assert.equal(await r.read(5), "-ERR max number of clients reached\r\n", "what redis itself answers");
    await r.closed;
    await assert.rejects(a.set("big", Buffer.alloc(2 << 20)), /request larger than 1048576 bytes/);
    assert.equal(await b.ping(), "PONG", "only the offending client is closed");
    w.link.drop = true;
    const slow = [b.get(TREE).catch((e: Error) => e), c.get(TREE).catch((e: Error) => e)];
    await sleep(200);
    const d = argoClient(w.proxy.port); // takes the slot a left
    await assert.rejects(d.get(TREE), /too many open redis requests to agent 'agent-a' \(limit 2\)/);
    w.proxy.agentGone(AGENT);
    for (const e of await Promise.all(slow)) assert.match(String(e), /agent 'agent-a' disconnected/);
  } finally {
    await w.close();
  }
});

test("a 10 MiB value goes through; agent pings keep subscriptions alive and idle ones are dropped", async () => {
  const w = await wire({ pingIntervalMs: 100 }, { idleTimeoutMs: 400, sweepIntervalMs: 100 });
  try {
    const big = Buffer.alloc(10 << 20, 7);
    big.write("start");
    await agentRedis.client().set(TREE_LOCAL, big);
    const c = argoClient(w.proxy.port);
    assert.ok((await c.getBuffer(TREE))!.equals(big));
    const sub = argoClient(w.proxy.port);
    await sub.subscribe(CHANNEL);
    await sleep(800);
    assert.equal(w.agent.stats().subscriptions, 1, "pings every 100 ms keep it");
    assert.ok(w.requests.filter((r) => (r["body"] as Record<string, unknown>)["ping"]).length >= 4);
    sub.disconnect(); // no more pings for its connection UUID
    c.disconnect();
    for (let i = 0; i < 50 && w.agent.stats().subscriptions; i++) await sleep(50);
    assert.deepEqual(w.agent.stats(), { subscriptions: 0, connections: 0, channels: 0 });
    await agentRedis.client().set(TREE_LOCAL, "small");
    const c2 = argoClient(w.proxy.port);
    assert.equal(await c2.get(TREE), "small");
    w.link.connected = false;
    for (let i = 0; i < 40 && c2.status === "ready"; i++) await sleep(25);
    assert.notEqual(c2.status, "ready", "a failed liveness ping closes the connection (upstream)");
  } finally {
    await w.close();
  }
});

test("TLS: the proxy serves TLS and talks TLS to a TLS hub redis", async () => {
  const tlsHub = await startRedisServer({ password: HUB_PASSWORD, tls: { certFile: pki.server.certFile, keyFile: pki.server.keyFile, caFile: pki.caFile } });
  const w = await wire({ tls: { cert: pki.server.cert, key: pki.server.key }, backend: { host: "127.0.0.1", port: tlsHub.port, tls: { ca: pki.ca.cert } } });
  try {
    await agentRedis.client().set(TREE_LOCAL, "over tls");
    const c = argoClient(w.proxy.port, { tls: { ca: pki.ca.cert, servername: "localhost" } });
    assert.equal(await c.set("k", "v"), "OK");
    assert.equal(await tlsHub.client().get("k"), "v");
    assert.equal(await c.get(TREE), "over tls");
    c.disconnect();
    const plain = argoClient(w.proxy.port);
    await assert.rejects(plain.ping());
    plain.disconnect();
  } finally {
    await w.close();
    await tlsHub.stop();
  }
});

test("cluster cache info: the agent reports its Argo CD's counts; the principal writes them and the connection state for Argo CD", async () => {
  const server = "https://argocd-agent-resource-proxy:9090?agentName=agent-a";
  const events: Record<string, unknown>[] = [];
  const writerSink = { add: (ev: AgentEvent) => (events.push({ type: ev.type, target: ev.target, rid: ev.resourceId, eid: ev.eventId, ...payloadOf(ev) }), true) } as unknown as EventWriter;
  const agentClient = newRedisClient({ host: "127.0.0.1", port: agentRedis.port, username: "", password: "" }, "agent redis");
  let connected = false;
  const reporter = new ClusterCacheReporter({ client: agentClient, writer: writerSink, intervalMs: 60_000, connected: () => connected });
  const key = "cluster|info|https://kubernetes.default.svc|1.8.3.gz";
  await agentRedis.client().del(key);
  connected = true;
  assert.equal(await reporter.reportOnce(), undefined, "a miss sends nothing");
  await agentRedis.client().set(key, gzipSync(JSON.stringify({ connectionState: { status: "Successful" }, applicationsCount: 3, cacheInfo: { apisCount: 5, resourcesCount: 7 } }) + "\n"));
  connected = false;
  assert.equal(await reporter.reportOnce(), undefined, "nothing is queued while disconnected");
  connected = true;
  assert.deepEqual(await reporter.reportOnce(), { applicationsCount: 3, apisCount: 5, resourcesCount: 7 });
  assert.equal(events.length, 1);
  assert.equal(events[0]!["type"], "io.argoproj.argocd-agent.event.cluster-cache-info-update");
  assert.equal(events[0]!["target"], "clusterCacheInfoUpdate");
  assert.equal(events[0]!["rid"], events[0]!["eid"]);
  reporter.close();
  agentClient.disconnect();

  for (const gzip of [true, false]) {
    const hubClient = newRedisClient({ host: "127.0.0.1", port: hub.port, username: "", password: HUB_PASSWORD }, "hub redis");
    const writer = new ClusterInfoWriter({ client: hubClient, gzip, servers: { server: async (a) => (a === AGENT ? server : undefined), agents: async () => [AGENT] } });
    const read = async () => {
      const v = await hub.client().getBuffer(`cluster|info|${server}|1.8.3${gzip ? ".gz" : ""}`);
      const text = (gzip ? gunzipSync(v!) : v!).toString();
      assert.ok(text.endsWith("}\n"), "JSON plus newline, as Go's json.Encoder writes");
      return JSON.parse(text);
    };
    await writer.connectionState(AGENT, true, new Date("2026-03-04T05:06:07.890Z"));
    assert.deepEqual(await read(), { connectionState: { status: "Successful", message: "Agent: 'agent-a' is connected with principal", attemptedAt: "2026-03-04T05:06:07Z" }, cacheInfo: {}, applicationsCount: 0 });
    const ttl = await hub.client().ttl(`cluster|info|${server}|1.8.3${gzip ? ".gz" : ""}`);
    assert.ok(ttl > 590 && ttl <= 600, `expires after Argo CD's 10 minutes (ttl ${ttl})`);
    assert.equal(await writer.handler(AGENT)({} as AgentEvent, { applicationsCount: 3, apisCount: 5, resourcesCount: 7 }), undefined);
    assert.deepEqual(await read(), { connectionState: { status: "Successful", message: "Agent: 'agent-a' is connected with principal", attemptedAt: "2026-03-04T05:06:07Z" }, cacheInfo: { apisCount: 5, resourcesCount: 7 }, applicationsCount: 3 });
    await writer.connectionState(AGENT, false, new Date("2026-03-04T05:07:00Z"));
    assert.equal((await read()).connectionState.status, "Failed");
    assert.deepEqual(await writer.handler("agent-unmapped")({} as AgentEvent, { applicationsCount: 1, apisCount: 1, resourcesCount: 1 }), { failed: true }, "no cluster secret: an error, as upstream");
    await writer.close();
  }
});
