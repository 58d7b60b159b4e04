import { startRedisServer } from "../test/support/redis-server.ts";
import { startRedisProxy } from "../src/redisproxy/redis-proxy.ts";
import { Redis } from "ioredis";
import { connect } from "node:net";
const hub = await startRedisServer({ password: "pw" });
const proxy = await startRedisProxy({ host: "127.0.0.1", port: 0, backend: { host: "127.0.0.1", port: hub.port }, principalNamespace: "argocd", maxClients: 2, maxCommandBytes: 1 << 20,
  agents: { mode: () => "managed", connected: () => false, send: () => true, discard: () => {} } });
const mk = () => { const c = new Redis({ host: "127.0.0.1", port: proxy.port, password: "pw", maxRetriesPerRequest: 0, retryStrategy: () => null }); c.on("error", (e) => console.log("client err", e.message)); return c; };
const a = mk(), b = mk();
console.log(await a.ping(), await b.ping());
const s = connect(proxy.port, "127.0.0.1"); s.on("data", (d) => console.log("raw got", JSON.stringify(d.toString()))); s.on("close", () => console.log("raw closed"));
await new Promise((r) => setTimeout(r, 300));
console.log("sending big");
try { await a.set("big", Buffer.alloc(2 << 20)); } catch (e) { console.log("big ->", (e as Error).message); }
console.log("b ping", await b.ping());
await proxy.close(); await hub.stop(); process.exit(0);
