/**
 * From settings to a connection to an Argo CD redis, as upstream reads them
 * (live-resources.md §3.1, §3.5): `host:port` address, password (and on the
 * agent a user name) or a credentials directory (`auth`, optional
 * `auth_username`), and TLS with exactly one of "insecure", a CA file, or a CA
 * Secret (key `ca.crt`). Misconfiguration is a StartupError naming the flags.
 *
 * @example
 *   const target = await redisTarget({ address: "argocd-redis:6379", password: "", credsDir: "", tls: undefined }, kube, "argocd");
 *   const client = newRedisClient(target, "agent redis");
 */
import { readFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import type { ConnectionOptions } from "node:tls";
import { StartupError } from "../cli/component-command.ts";
import type { KubeClient } from "../kube/client.ts";
import { getLogger } from "../observability/log.ts";
import { readPem, readSecret, secretField } from "../transport/tls-material.ts";
import { LazyRedis, type RedisClient } from "./lazy-redis.ts";

const log = getLogger("redis-proxy");

/** Go's net.SplitHostPort for `host:port` and `[v6]:port`. */
export function parseRedisAddress(address: string, setting: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(address) ?? /^([^:]*):(\d+)$/.exec(address);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !m[1] || !(port > 0 && port < 65536)) throw new StartupError(`${setting}: "${address}" is not a host:port address`);
  return { host: m[1], port };
}

/** User name and password, from the flags or from a credentials directory (upstream's redisCreds). */
export async function redisCredentials(o: { credsDir: string; username?: string; password: string }): Promise<{ username: string; password: string }> {
  if (!o.credsDir) return { username: o.username ?? "", password: o.password };
  if (o.username || o.password) throw new StartupError("--redis-creds-dir-path cannot be combined with --redis-username / --redis-password");
  const read = async (file: string, optional: boolean): Promise<string> => {
    try {
      return (await readFile(join(o.credsDir, file), "utf8")).trim();
    } catch (err) {
      if (optional && (err as NodeJS.ErrnoException).code === "ENOENT") return "";
      throw new StartupError(`--redis-creds-dir-path: cannot read ${join(o.credsDir, file)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  return { username: await read("auth_username", true), password: await read("auth", false) };
}

export interface RedisTlsSettings {
  enabled: boolean;
  insecure: boolean;
  caPath: string;
  caSecretName: string;
  /** Flag names, for messages (the principal and the agent spell them differently). */
  flags: { insecure: string; caPath: string; caSecretName: string };
}

const DEFAULT_CA_SECRET = "argocd-redis-tls";

/** TLS options towards a redis, or undefined without `--redis-tls-enabled`. */
export async function redisTls(t: RedisTlsSettings, kube: () => KubeClient, namespace: string): Promise<Pick<ConnectionOptions, "ca" | "rejectUnauthorized"> | undefined> {
  if (!t.enabled) return undefined;
  const modes = [t.insecure && t.flags.insecure, t.caPath && t.flags.caPath, t.caSecretName && t.caSecretName !== DEFAULT_CA_SECRET && t.flags.caSecretName].filter(Boolean);
  if (modes.length > 1) throw new StartupError(`only one Redis TLS mode can be specified: ${modes.join(", ")}`);
  if (t.insecure) {
    log.warn(`INSECURE: not verifying Redis's TLS certificate (${t.flags.insecure})`);
    return { rejectUnauthorized: false };
  }
  if (t.caPath) return { ca: await readPem(t.caPath, t.flags.caPath, "certificate") };
  if (!t.caSecretName) throw new StartupError(`redis TLS is enabled but no CA is configured: set ${t.flags.caPath}, ${t.flags.caSecretName} or ${t.flags.insecure}`);
  const data = await readSecret(kube(), namespace, t.caSecretName, t.flags.caSecretName);
  return { ca: secretField(data, "ca.crt", `Secret ${namespace}/${t.caSecretName}`, "certificate") };
}

export interface RedisTarget {
  host: string;
  port: number;
  username: string;
  password: string;
  tls?: Pick<ConnectionOptions, "ca" | "rejectUnauthorized">;
}

/**
 * An ioredis client that connects on first use and then stays connected,
 * reconnecting with a backoff capped at 5 s. A command waits for a
 * reconnect at most once and at most 10 s, so an outage turns into a quick
 * error for the proxy instead of a principal-side timeout. An unreachable
 * redis is logged once per outage, not once per attempt. ioredis itself is
 * loaded only with the first command (lazy-redis.ts).
 */
export function newRedisClient(t: RedisTarget, purpose: string): RedisClient {
  const client = new LazyRedis(async () => new (await import("ioredis")).Redis({
    host: t.host,
    port: t.port,
    ...(t.username ? { username: t.username } : {}),
    ...(t.password ? { password: t.password } : {}),
    ...(t.tls ? { tls: { ...t.tls, ...(isIP(t.host) ? {} : { servername: t.host }) } } : {}),
    db: 0,
    lazyConnect: true,
    maxRetriesPerRequest: 1,
    connectTimeout: 5_000,
    commandTimeout: 10_000,
    enableReadyCheck: false,
    retryStrategy: (times) => Math.min(200 * 2 ** Math.min(times, 5), 5_000),
  }));
  client.on("error", (err: Error) => {
    if (!outages.has(client)) log.warn(`cannot reach ${purpose}; retrying`, { address: `${t.host}:${t.port}`, error: err.message });
    outages.set(client, `cannot reach ${purpose} at ${t.host}:${t.port}: ${err.message}`);
  });
  client.on("ready", () => {
    if (outages.delete(client)) log.info(`${purpose} reachable again`, { address: `${t.host}:${t.port}` });
  });
  return client;
}

const outages = new WeakMap<RedisClient, string>();

/** Why a client made by newRedisClient cannot reach its redis now, if it cannot (clearer than ioredis's retry errors). */
export function redisOutage(client: RedisClient): string | undefined {
  return outages.get(client);
}
