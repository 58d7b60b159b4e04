/**
 * Real redis-server processes for tests (Debian's `redis-server`): one per
 * call, on a free loopback port, without persistence, optionally with a
 * password. `client()` gives an ioredis client speaking RESP3 with HELLO like
 * Argo CD's go-redis does; `cli()` runs redis-cli.
 *
 * @example
 *   const hub = await startRedisServer({ password: "hub-secret" });
 *   await hub.client().set("k", "v");
 *   await hub.stop();
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { Redis, type RedisOptions } from "ioredis";
import { freePort, startRaw, type Running } from "./processes.ts";

export interface RedisServer {
  port: number;
  /** host:port */
  address: string;
  proc: Running;
  /** A fresh client (closed by stop()). */
  client(opts?: RedisOptions): Redis;
  /** redis-cli against this server; returns stdout. */
  cli(...args: string[]): string;
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  password?: string;
  /** Serve TLS only (PEM files); clients are not asked for certificates. */
  tls?: { certFile: string; keyFile: string; caFile: string };
}

export async function startRedisServer(o: RedisServerOptions = {}): Promise<RedisServer> {
  const port = await freePort();
  const args = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "no", "--loglevel", "warning"];
  args.push(...(o.tls ? ["--port", "0", "--tls-port", String(port), "--tls-cert-file", o.tls.certFile, "--tls-key-file", o.tls.keyFile, "--tls-ca-cert-file", o.tls.caFile, "--tls-auth-clients", "no"] : ["--port", String(port)]));
  if (o.password) args.push("--requirepass", o.password);
  const proc = startRaw("redis-server", args);
  const clients: Redis[] = [];
  const deadline = Date.now() + 10_000;
  const tlsCli = o.tls ? ["--tls", "--cacert", o.tls.caFile] : [];
  for (;;) {
    const r = spawnSync("redis-cli", ["-p", String(port), ...tlsCli, ...(o.password ? ["-a", o.password, "--no-auth-warning"] : []), "ping"], { encoding: "utf8" });
    if (r.stdout.trim() === "PONG") break;
    if (Date.now() > deadline) throw new Error(`redis-server on ${port} did not start: ${proc.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    port,
    address: `127.0.0.1:${port}`,
    proc,
    client(opts = {}) {
      const tls = o.tls ? { tls: { ca: readFileSync(o.tls.caFile) } } : {};
      const c = new Redis({ host: "127.0.0.1", port, ...tls, ...(o.password ? { password: o.password } : {}), maxRetriesPerRequest: 1, ...opts });
      c.on("error", () => undefined);
      clients.push(c);
      return c;
    },
    cli(...cmd) {
      const r = spawnSync("redis-cli", ["-p", String(port), ...tlsCli, ...(o.password ? ["-a", o.password, "--no-auth-warning"] : []), ...cmd], { encoding: "utf8" });
      return r.stdout;
    },
    async stop() {
      for (const c of clients) c.disconnect();
      await proc.stop();
    },
  };
}
