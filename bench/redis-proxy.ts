#!/usr/bin/env node
/**
 * Redis proxy benchmark: the principal and a managed agent as child processes from source
 * (plaintext gRPC on loopback, userpass), two real redis-server processes (the hub's and the
 * agent's). This process is only the client, an ioredis 6 client speaking as Argo CD's
 * go-redis does (RESP3, HELLO with AUTH).
 *
 * Figures (medians of --runs, each run a fresh principal and agent), all in the same run:
 *   1. GET of a --size value, sequential: direct to the agent's redis vs through the redis
 *      proxy (client → principal → gRPC event → agent → agent's redis and back), p50/p99.
 *   2. The same with a 1 MiB value (base64 inside the JSON event).
 *   3. --clients concurrent clients, each doing GETs for --seconds: GETs per second, direct vs
 *      proxied.
 *   4. A hub key through the proxy (pass-through to the hub's redis) vs direct to the hub.
 *
 * Usage: node bench/redis-proxy.ts [--runs 3 --gets 300 --size 4096 --clients 50 --seconds 3]
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { Redis } from "ioredis";
import { bcryptHash } from "../src/auth/bcrypt.ts";
import { freePort, start, type Running } from "../test/support/processes.ts";
import { startRedisServer } from "../test/support/redis-server.ts";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "3" },
    gets: { type: "string", default: "300" },
    size: { type: "string", default: "4096" },
    clients: { type: "string", default: "50" },
    seconds: { type: "string", default: "3" },
  },
});
const RUNS = Number(args.runs);
const GETS = Number(args.gets);
const SIZE = Number(args.size);
const CLIENTS = Number(args.clients);
const SECONDS = Number(args.seconds);
const AGENT = "agent-managed";
const HUB_PASSWORD = "bench";
const KEY = "app|resources-tree|guestbook|1.8.3.gz";
const PROXY_KEY = `app|resources-tree|${AGENT}_guestbook|1.8.3.gz`;
const BIG_KEY = "app|resources-tree|big|1.8.3.gz";
const BIG_PROXY_KEY = `app|resources-tree|${AGENT}_big|1.8.3.gz`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
};
const median = (xs: number[]) => pct(xs, 50);
const ms = (x: number) => `${x.toFixed(2)} ms`;

const hub = await startRedisServer({ password: HUB_PASSWORD });
const agentRedis = await startRedisServer();
const seed = agentRedis.client();
await seed.set(KEY, Buffer.alloc(SIZE, 0x61));
await seed.set(BIG_KEY, Buffer.alloc(1 << 20, 0x62));
await hub.client().set("hub-key", Buffer.alloc(SIZE, 0x63));
const tmp = mkdtempSync(join(tmpdir(), "bench-redis-proxy-"));
writeFileSync(join(tmp, "passwd"), `${AGENT}:${await bcryptHash("secret", 4)}\n`);
writeFileSync(join(tmp, "creds"), `${AGENT}:secret\n`);

const client = (port: number, password?: string) => {
  const c = new Redis({ host: "127.0.0.1", port, ...(password ? { password } : {}), maxRetriesPerRequest: 0, retryStrategy: () => 50 });
  c.on("error", () => undefined);
  return c;
};

/** Sequential GETs alternating direct and proxied, so drift hits both. */
async function sequential(direct: Redis, proxied: Redis, dKey: string, pKey: string, n: number, bytes: number): Promise<{ direct: number[]; proxied: number[] }> {
  const out = { direct: [] as number[], proxied: [] as number[] };
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    if ((await direct.getBuffer(dKey))?.length !== bytes) throw new Error("direct GET returned the wrong value");
    out.direct.push(performance.now() - t);
    t = performance.now();
    if ((await proxied.getBuffer(pKey))?.length !== bytes) throw new Error("proxied GET returned the wrong value");
    out.proxied.push(performance.now() - t);
  }
  return out;
}

/** GETs per second with `clients` connections each looping for `seconds`. */
async function throughput(port: number, password: string | undefined, key: string): Promise<number> {
  const conns = Array.from({ length: CLIENTS }, () => client(port, password));
  await Promise.all(conns.map((c) => c.ping()));
  let done = 0;
  const end = performance.now() + SECONDS * 1000;
  await Promise.all(conns.map(async (c) => {
    while (performance.now() < end) {
      await c.getBuffer(key);
      done++;
    }
  }));
  for (const c of conns) c.disconnect();
  return done / SECONDS;
}

interface Figures { small: { direct: number[]; proxied: number[] }; big: { direct: number[]; proxied: number[] }; rateDirect: number; rateProxied: number; hubDirect: number[]; hubProxied: number[] }

async function oneRun(): Promise<Figures> {
  const grpc = await freePort();
  const proxyPort = await freePort();
  const procs: Running[] = [];
  try {
    procs.push(start([
      "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(grpc), "--insecure-plaintext",
      "--auth", `userpass:${join(tmp, "passwd")}`, "--insecure-jwt-generate", "--metrics-port", "0", "--healthz-port", "0", "--log-level", "error,principal=info",
      "--enable-resource-proxy=false", "--redis-proxy-port", String(proxyPort), "--redis-server-address", hub.address, "--redis-password", HUB_PASSWORD,
    ]));
    await procs[0]!.waitFor(/principal started/, 60_000);
    procs.push(start([
      "agent", "-n", "argocd", "--agent-mode", "managed", "--server-address", "127.0.0.1", "--server-port", String(grpc), "--insecure-plaintext",
      "--creds", `userpass:${join(tmp, "creds")}`, "--metrics-port", "0", "--healthz-port", "0", "--log-level", "error",
      "--redis-addr", agentRedis.address,
    ]));
    const direct = client(agentRedis.port);
    const proxied = client(proxyPort, HUB_PASSWORD);
    const deadline = Date.now() + 60_000;
    while ((await proxied.getBuffer(PROXY_KEY).catch(() => null))?.length !== SIZE) {
      if (Date.now() > deadline) throw new Error(`the proxy does not answer for the agent:\n${procs.map((p) => p.output()).join("\n")}`);
      await sleep(200); // the proxy closed the connection; ioredis reconnects
    }
    const small = await sequential(direct, proxied, KEY, PROXY_KEY, GETS, SIZE);
    const big = await sequential(direct, proxied, BIG_KEY, BIG_PROXY_KEY, Math.max(10, GETS / 10), 1 << 20);
    const hubDirectClient = client(hub.port, HUB_PASSWORD);
    const hubSeq = await sequential(hubDirectClient, proxied, "hub-key", "hub-key", GETS, SIZE);
    const rateDirect = await throughput(agentRedis.port, undefined, KEY);
    const rateProxied = await throughput(proxyPort, HUB_PASSWORD, PROXY_KEY);
    for (const c of [direct, proxied, hubDirectClient]) c.disconnect();
    return { small, big, rateDirect, rateProxied, hubDirect: hubSeq.direct, hubProxied: hubSeq.proxied };
  } finally {
    await Promise.all(procs.map((p) => p.stop()));
  }
}

const runs: Figures[] = [];
try {
  for (let r = 0; r < RUNS; r++) runs.push(await oneRun());
} finally {
  await hub.stop();
  await agentRedis.stop();
  rmSync(tmp, { recursive: true, force: true });
}
const med = (f: (x: Figures) => number) => median(runs.map(f));
console.log(`redis proxy: ${RUNS} runs, median of per-run figures (${GETS} sequential GETs each)`);
console.log(`  GET ${SIZE} B agent key:   direct p50 ${ms(med((x) => median(x.small.direct)))} p99 ${ms(med((x) => pct(x.small.direct, 99)))}` +
  ` | via proxy p50 ${ms(med((x) => median(x.small.proxied)))} p99 ${ms(med((x) => pct(x.small.proxied, 99)))}` +
  ` | ×${(med((x) => median(x.small.proxied)) / med((x) => median(x.small.direct))).toFixed(1)}`);
console.log(`  GET 1 MiB agent key:    direct p50 ${ms(med((x) => median(x.big.direct)))} | via proxy p50 ${ms(med((x) => median(x.big.proxied)))}` +
  ` | ×${(med((x) => median(x.big.proxied)) / med((x) => median(x.big.direct))).toFixed(1)}`);
console.log(`  GET ${SIZE} B hub key:     direct p50 ${ms(med((x) => median(x.hubDirect)))} | via proxy p50 ${ms(med((x) => median(x.hubProxied)))} (pass-through)`);
console.log(`  ${CLIENTS} clients, ${SECONDS} s:    direct ${Math.round(med((x) => x.rateDirect))} GET/s | via proxy ${Math.round(med((x) => x.rateProxied))} GET/s`);
process.exit(0);
