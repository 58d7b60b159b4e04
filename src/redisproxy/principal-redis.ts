/**
 * The principal's redis room, from settings: the redis proxy (unless
 * `--disable-redis-proxy`) and the cluster info writer (when the principal
 * has a cluster to read agents' cluster secrets from). It gives the live
 * lanes for `redis` and `clusterCacheInfoUpdate` events and follows agent
 * connects and disconnects.
 *
 * @example
 *   const redis = await startPrincipalRedis(cfg, { kube, kubeAvailable: true, agents, metricsRegistry });
 *   laneRouter({ live: redis.lanes("agent-a") });
 *   registry.on((what, rec) => redis.onAgent(what, rec.agent));
 */
import type { Registry } from "prom-client";
import { StartupError } from "../cli/component-command.ts";
import { EventTargets } from "../events/event-types.ts";
import type { Lanes } from "../events/lanes.ts";
import type { KubeClient } from "../kube/client.ts";
import type { ProxyAgents } from "../resourceproxy/server.ts";
import { tlsVersionOptions, type TlsVersionSettings } from "../transport/tls-options.ts";
import { readPem, readSecret, secretField } from "../transport/tls-material.ts";
import { ClusterInfoWriter, clusterServersFromSecrets } from "./cluster-info-writer.ts";
import { redisProxyMetrics } from "./metrics.ts";
import type { RedisProxy, RedisProxyOptions } from "./redis-proxy.ts";
import { newRedisClient, parseRedisAddress, redisCredentials, redisTls } from "./redis-settings.ts";

export interface PrincipalRedisSettings extends TlsVersionSettings {
  namespace: string;
  listenHost: string;
  destinationBasedMapping: boolean;
  disableRedisProxy: boolean;
  redisProxyPort: number;
  redisProxyTimeout: number;
  redisServerAddress: string;
  redisPassword: string;
  redisCredsDirPath: string;
  redisCompressionType: string;
  redisTlsEnabled: boolean;
  redisProxyServerTlsCert: string;
  redisProxyServerTlsKey: string;
  redisProxyServerTlsSecretName: string;
  redisCaPath: string;
  redisCaSecretName: string;
  redisTlsInsecure: boolean;
}

export interface PrincipalRedisDeps {
  kube: () => KubeClient;
  /** Whether the principal has a cluster (kubeconfig or in a pod). */
  kubeAvailable: boolean;
  agents: ProxyAgents;
  metricsRegistry: Registry;
  /** Destination-based mapping: the agent of an Application on the principal. */
  agentForApp?: (namespace: string, name: string) => string | undefined;
}

export interface PrincipalRedis {
  proxy?: RedisProxy;
  writer?: ClusterInfoWriter;
  lanes(agent: string): NonNullable<Lanes["live"]>;
  onAgent(what: "connected" | "disconnected", agent: string): void;
  close(): Promise<void>;
}

/** The proxy's own certificate: files, else the Secret (tls.crt, tls.key). */
async function listenerTls(cfg: PrincipalRedisSettings, kube: () => KubeClient): Promise<RedisProxyOptions["tls"]> {
  if (!cfg.redisTlsEnabled) return undefined;
  if (Boolean(cfg.redisProxyServerTlsCert) !== Boolean(cfg.redisProxyServerTlsKey)) {
    throw new StartupError("both --redis-proxy-server-tls-cert and --redis-proxy-server-tls-key have to be given");
  }
  const v = tlsVersionOptions(cfg);
  if (cfg.redisProxyServerTlsCert) {
    return {
      cert: await readPem(cfg.redisProxyServerTlsCert, "--redis-proxy-server-tls-cert", "certificate"),
      key: await readPem(cfg.redisProxyServerTlsKey, "--redis-proxy-server-tls-key", "key"),
      ...v,
    };
  }
  const data = await readSecret(kube(), cfg.namespace, cfg.redisProxyServerTlsSecretName, "--redis-proxy-server-tls-secret-name");
  const where = `Secret ${cfg.namespace}/${cfg.redisProxyServerTlsSecretName}`;
  return { cert: secretField(data, "tls.crt", where, "certificate"), key: secretField(data, "tls.key", where, "key"), ...v };
}

export async function startPrincipalRedis(cfg: PrincipalRedisSettings, deps: PrincipalRedisDeps): Promise<PrincipalRedis> {
  const address = parseRedisAddress(cfg.redisServerAddress, "--redis-server-address");
  const backendTls = await redisTls(
    {
      enabled: cfg.redisTlsEnabled,
      insecure: cfg.redisTlsInsecure,
      caPath: cfg.redisCaPath,
      caSecretName: cfg.redisCaSecretName,
      flags: { insecure: "--redis-tls-insecure", caPath: "--redis-ca-path", caSecretName: "--redis-ca-secret-name" },
    },
    deps.kube,
    cfg.namespace,
  );
  const { password } = await redisCredentials({ credsDir: cfg.redisCredsDirPath, password: cfg.redisPassword });
  // The proxy's modules (and redis-parser) are evaluated only when it runs (issue #19).
  const proxy = cfg.disableRedisProxy
    ? undefined
    : await (await import("./redis-proxy.ts")).startRedisProxy({
        host: cfg.listenHost,
        port: cfg.redisProxyPort,
        backend: { ...address, ...(backendTls ? { tls: backendTls } : {}) },
        agents: deps.agents,
        principalNamespace: cfg.namespace,
        ...(cfg.destinationBasedMapping && deps.agentForApp ? { agentForApp: deps.agentForApp } : {}),
        tls: await listenerTls(cfg, deps.kube),
        timeoutMs: cfg.redisProxyTimeout || undefined,
        metrics: redisProxyMetrics(deps.metricsRegistry),
      });
  const controller = new AbortController();
  const writer = deps.kubeAvailable
    ? new ClusterInfoWriter({
        client: newRedisClient({ ...address, username: "", password, tls: backendTls }, "the hub's Argo CD redis"),
        gzip: cfg.redisCompressionType !== "none",
        servers: clusterServersFromSecrets(deps.kube(), cfg.namespace, controller.signal),
      })
    : undefined;
  return {
    proxy,
    writer,
    lanes(agent) {
      return {
        ...(proxy ? { [EventTargets.redis]: proxy.responseHandler(agent) } : {}),
        ...(writer ? { [EventTargets.clusterCacheInfoUpdate]: writer.handler(agent) } : {}),
      };
    },
    onAgent(what, agent) {
      if (what === "disconnected") proxy?.agentGone(agent);
      void writer?.connectionState(agent, what === "connected");
    },
    async close() {
      await proxy?.close();
      await writer?.close();
      controller.abort();
    },
  };
}
