/**
 * LazyRedis (src/redisproxy/lazy-redis.ts): nothing is made before the first command, listeners
 * added before then reach the client, a duplicate is as lazy, disconnect() before the client exists
 * means it is disconnected as soon as it is made; and newRedisClient does not evaluate ioredis until
 * a command is sent (checked in a fresh process, the only place module loading can be observed).
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { spawnSync } from "node:child_process";
import { test } from "node:test";
import type { Redis } from "ioredis";
import { LazyRedis } from "../../src/redisproxy/lazy-redis.ts";
import { ROOT } from "../support/processes.ts";

class FakeRedis extends EventEmitter {
  readonly calls: string[] = [];
  disconnected = false;
  readonly dupes: FakeRedis[] = [];
  async getBuffer(key: string): Promise<Buffer | null> {
    this.calls.push(`get ${key}`);
    return key === "hit" ? Buffer.from("v") : null;
  }
  async set(key: string, value: Buffer | string, ex: string, seconds: number): Promise<string> {
    this.calls.push(`set ${key} ${String(value)} ${ex} ${seconds}`);
    return "OK";
  }
  async subscribe(channel: string): Promise<number> {
    this.calls.push(`subscribe ${channel}`);
    return 1;
  }
  async unsubscribe(channel: string): Promise<number> {
    this.calls.push(`unsubscribe ${channel}`);
    return 0;
  }
  duplicate(): FakeRedis {
    const d = new FakeRedis();
    this.dupes.push(d);
    return d;
  }
  disconnect(): void {
    this.disconnected = true;
  }
}

function lazyFake(): { lazy: LazyRedis; made: FakeRedis[] } {
  const made: FakeRedis[] = [];
  const lazy = new LazyRedis(async () => {
    const f = new FakeRedis();
    made.push(f);
    return f as unknown as Redis;
  });
  return { lazy, made };
}

test("nothing is made until the first command; then one client serves every command", async () => {
  const { lazy, made } = lazyFake();
  const errors: string[] = [];
  lazy.on("error", (e: Error) => errors.push(e.message));
  assert.equal(lazy.created, false);
  assert.equal(await lazy.unsubscribe("ch"), 0, "unsubscribing a client never made makes none");
  assert.equal(made.length, 0);
  const [a, b] = await Promise.all([lazy.getBuffer("hit"), lazy.getBuffer("miss")]);
  assert.equal(a?.toString(), "v");
  assert.equal(b, null);
  await lazy.set("k", "v", "EX", 600);
  await lazy.subscribe("ch");
  assert.equal(made.length, 1, "concurrent first commands share one client");
  assert.deepEqual(made[0]!.calls, ["get hit", "get miss", "set k v EX 600", "subscribe ch"]);
  // Listeners added before the client existed, and after, both receive its events.
  const ready: number[] = [];
  lazy.on("ready", () => ready.push(1));
  made[0]!.emit("error", new Error("boom"));
  made[0]!.emit("ready");
  assert.deepEqual(errors, ["boom"]);
  assert.deepEqual(ready, [1]);
  lazy.disconnect();
  assert.equal(made[0]!.disconnected, true);
});

test("a duplicate is made from the made client, only when it is used", async () => {
  const { lazy, made } = lazyFake();
  const dup = lazy.duplicate();
  const messages: string[] = [];
  dup.on("messageBuffer", (ch, msg) => messages.push(`${ch.toString()}:${msg.length}`));
  assert.equal(made.length, 0);
  await dup.subscribe("events");
  assert.equal(made.length, 1);
  assert.equal(made[0]!.dupes.length, 1);
  assert.deepEqual(made[0]!.dupes[0]!.calls, ["subscribe events"]);
  made[0]!.dupes[0]!.emit("messageBuffer", Buffer.from("events"), Buffer.alloc(0));
  assert.deepEqual(messages, ["events:0"]);
});

test("disconnect() before the client exists: made later, it is disconnected at once", async () => {
  const { lazy, made } = lazyFake();
  lazy.disconnect();
  assert.equal(made.length, 0, "disconnect alone makes nothing");
  await lazy.getBuffer("x").catch(() => undefined);
  assert.equal(made[0]!.disconnected, true);
});

test("newRedisClient evaluates ioredis only with the first command", () => {
  // A fresh process records every module it loads; the command goes to a closed loopback port.
  const script = `
    import { registerHooks } from "node:module";
    const loaded = [];
    registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
    const { newRedisClient } = await import(${JSON.stringify(`${ROOT}src/redisproxy/redis-settings.ts`)});
    const { configureLogging } = await import(${JSON.stringify(`${ROOT}src/observability/log.ts`)});
    configureLogging({ defaultLevel: "error" });
    const ioredis = () => loaded.filter((u) => u.includes("/node_modules/ioredis/")).length;
    const client = newRedisClient({ host: "127.0.0.1", port: 1, username: "", password: "" }, "test redis");
    const before = ioredis();
    const err = await client.getBuffer("k").then(() => "no error", (e) => e.message);
    client.disconnect();
    process.stdout.write(JSON.stringify({ before, after: ioredis(), err }));
    process.exit(0);
  `;
  const res = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 30_000 });
  assert.equal(res.status, 0, res.stderr);
  const r = JSON.parse(res.stdout) as { before: number; after: number; err: string };
  assert.equal(r.before, 0, "ioredis is not loaded by creating the client");
  assert.ok(r.after > 0, "the first command loads ioredis");
  assert.match(r.err, /ECONNREFUSED|connect|closed|Reached the max retries/i);
});
