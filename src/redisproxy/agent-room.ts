/**
 * The agent's redis room, from settings (live-resources.md §3.5, §3.6): one
 * client of the local Argo CD redis (`--redis-addr`, credentials, TLS) that
 * answers the principal's redis requests and, in managed mode, feeds the
 * cluster cache report every `--cache-refresh-interval`.
 *
 * @example
 *   const redis = await startAgentRedis(cfg, { kube, writer, metricsRegistry, connected });
 *   laneRouter({ live: redis.lanes });
 */
import type { Registry } from "prom-client";
import { StartupError } from "../cli/component-command.ts";
import { EventTargets } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { Lanes } from "../events/lanes.ts";
import type { KubeClient } from "../kube/client.ts";
import { AgentRedisRequests } from "./agent-redis.ts";
import { ClusterCacheReporter } from "./cluster-cache-reporter.ts";
import { agentRedisMetrics } from "./metrics.ts";
import { newRedisClient, parseRedisAddress, redisCredentials, redisTls } from "./redis-settings.ts";

export interface AgentRedisSettings {
  namespace: string;
  agentMode: string;
  destinationBasedMapping: boolean;
  cacheRefreshInterval: number;
  redisAddr: string;
  redisUsername: string;
  redisPassword: string;
  redisCredsDirPath: string;
  redisTlsEnabled: boolean;
  redisTlsInsecure: boolean;
  redisTlsCaPath: string;
  redisTlsCaSecretName: string;
}

export interface AgentRedisDeps {
  /** The agent's cluster, for a CA Secret; undefined without one. */
  kube: KubeClient | undefined;
  writer: EventWriter;
  metricsRegistry: Registry;
  /** Whether the agent is connected to the principal now. */
  connected: () => boolean;
}

export interface AgentRedis {
  requests: AgentRedisRequests;
  reporter?: ClusterCacheReporter;
  lanes: NonNullable<Lanes["live"]>;
  close(): void;
}

export async function startAgentRedis(cfg: AgentRedisSettings, deps: AgentRedisDeps): Promise<AgentRedis> {
  if (!(cfg.cacheRefreshInterval > 0)) throw new StartupError("--cache-refresh-interval must be greater than 0");
  const address = parseRedisAddress(cfg.redisAddr, "--redis-addr");
  const creds = await redisCredentials({ credsDir: cfg.redisCredsDirPath, username: cfg.redisUsername, password: cfg.redisPassword });
  const tls = await redisTls(
    {
      enabled: cfg.redisTlsEnabled,
      insecure: cfg.redisTlsInsecure,
      caPath: cfg.redisTlsCaPath,
      caSecretName: cfg.redisTlsCaSecretName,
      flags: { insecure: "--redis-tls-insecure", caPath: "--redis-tls-ca-path", caSecretName: "--redis-tls-ca-secret-name" },
    },
    () => {
      if (!deps.kube) throw new StartupError("--redis-tls-enabled without --redis-tls-ca-path needs a cluster to read --redis-tls-ca-secret-name from");
      return deps.kube;
    },
    cfg.namespace,
  );
  const client = newRedisClient({ ...address, ...creds, tls }, "Argo CD's redis");
  const requests = new AgentRedisRequests({ writer: deps.writer, client, destinationBased: cfg.destinationBasedMapping, metrics: agentRedisMetrics(deps.metricsRegistry) });
  const reporter =
    cfg.agentMode === "managed" ? new ClusterCacheReporter({ client, writer: deps.writer, intervalMs: cfg.cacheRefreshInterval, connected: deps.connected }) : undefined;
  reporter?.start();
  return {
    requests,
    reporter,
    lanes: { [EventTargets.redis]: requests.handler },
    close() {
      reporter?.close();
      requests.close();
    },
  };
}
