import { startRedisServer } from "../test/support/redis-server.ts";
import { startRedisProxy } from "../src/redisproxy/redis-proxy.ts";
import { Redis } from "ioredis";
const hub = await startRedisServer({ password: "pw" });
const proxy = await startRedisProxy({ host: "127.0.0.1", port: 0, backend: { host: "127.0.0.1", port: hub.port }, principalNamespace: "argocd", maxClients: 2, maxCommandBytes: 1 << 20,
  agents: { mode: () => "managed", connected: () => false, send: () => true, discard: () => {} } });
const mk = () => { const c = new Redis({ host: "127.0.0.1", port: proxy.port, password: "pw", maxRetriesPerRequest: 0, retryStrategy: () => null }); c.on("error", (e) => console.log("client err", e.message)); return c; };
const a = mk(), b = mk();
console.log(await a.ping(), await b.ping());
const d = mk();
const t = setTimeout(() => console.log("still pending after 5s; status", d.status), 5000);
try { console.log(await d.get("x")); } catch (e) { console.log("d ->", (e as Error).message); }
clearTimeout(t);
await proxy.close(); await hub.stop(); process.exit(0);
