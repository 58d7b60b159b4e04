import { startRedisProxy } from "/work/main/src/redisproxy/redis-proxy.ts";
import { AgentRedisRequests } from "/work/main/src/redisproxy/agent-redis.ts";
import { newRedisClient } from "/work/main/src/redisproxy/redis-settings.ts";
import { startRedisServer } from "/work/main/test/support/redis-server.ts";
import type { AgentEvent } from "/work/main/src/events/cloudevent.ts";

const hub = await startRedisServer({ password: "hubpw" });
const agentRedis = await startRedisServer();
let proxyRef: any;
const writer = { add(ev: AgentEvent) { setImmediate(() => proxyRef.responseHandler("agent-a")(ev, JSON.parse(Buffer.from(ev.data).toString()))); return true; } } as any;
const agentSide = new AgentRedisRequests({ writer, client: newRedisClient({ host: "127.0.0.1", port: agentRedis.port, username: "", password: "" }, "agent redis"), destinationBased: false });
const proxy = await startRedisProxy({
  host: "127.0.0.1", port: 0, backend: { host: "127.0.0.1", port: hub.port }, principalNamespace: "argocd",
  agents: { mode: () => "managed", connected: (a) => a === "agent-a", send: (_a, ev) => { setImmediate(() => agentSide.handler(ev, JSON.parse(Buffer.from(ev.data).toString()))); return true; }, discard: () => {} },
});
proxyRef = proxy;
await agentRedis.client().set("app|resources-tree|guestbook|1.8.3.gz", Buffer.from([1, 2, 3, 0, 255]));
await hub.client().set("foo", "hub-value");
const { Redis } = await import("ioredis");
const c = new Redis({ host: "127.0.0.1", port: proxy.port, password: "hubpw", maxRetriesPerRequest: 0 });
console.log("ping", await c.ping());
console.log("hub get", await c.get("foo"));
console.log("agent get", await c.getBuffer("app|resources-tree|agent-a_guestbook|1.8.3.gz"));
try { console.log(await c.get("app|resources-tree|agent-a_nothing|1.8.3.gz")); } catch (e) { console.log("miss ->", JSON.stringify((e as Error).message)); }
const s = new Redis({ host: "127.0.0.1", port: proxy.port, password: "hubpw" });
s.on("message", (ch, msg) => console.log("push", ch, JSON.stringify(msg)));
console.log("subscribed", await s.subscribe("app|managed-resources|agent-a_guestbook|1.8.3"));
await new Promise((r) => setTimeout(r, 200));
await agentRedis.client().publish("app|managed-resources|guestbook|1.8.3", "");
await agentRedis.client().publish("app|managed-resources|guestbook|1.8.3", "x");
await new Promise((r) => setTimeout(r, 500));
try { console.log(await c.get("app|resources-tree|agent-b_g|1.8.3.gz")); } catch (e) { console.log("agent-b ->", (e as Error).message); }
c.disconnect(); s.disconnect();
await proxy.close(); agentSide.close();
await hub.stop(); await agentRedis.stop();
process.exit(0);
