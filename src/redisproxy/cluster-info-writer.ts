/**
 * The principal's writes of agent cluster info into the hub's redis, where the
 * hub's Argo CD shows them on its cluster page (live-resources.md §3.6):
 * connection state when an agent connects (`Successful`) or goes away
 * (`Failed`), the counts of each `clusterCacheInfoUpdate` (keeping the
 * connection state), and a re-save every 3 minutes so the 10-minute expiry
 * never hits a live agent. The key names the server URL of the agent's
 * cluster secret (label `argocd-agent.argoproj-labs.io/agent-name`); an agent
 * without one is skipped, as upstream.
 *
 * @example
 *   const w = new ClusterInfoWriter({ client, gzip: true, servers: clusterServersFromSecrets(kube, "argocd", signal) });
 *   registry.on((what, rec) => w.connectionState(rec.agent, what === "connected"));
 *   laneRouter({ live: { clusterCacheInfoUpdate: w.handler(agent) } });
 */
import type { RedisClient } from "./lazy-redis.ts";
import type { ClusterCacheInfo } from "../events/payloads.ts";
import type { KubeClient } from "../kube/client.ts";
import { secretInformer } from "../kube/informer.ts";
import type { Secret } from "../kube/resources.ts";
import { AGENT_NAME_LABEL, CLUSTER_SECRET_TYPE_LABEL, clusterSecretsByAgent, clusterSecretsOf } from "../replication/principal/cluster-secrets.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { goTime, hasConnectionState, readClusterInfo, writeClusterInfo, type ClusterInfo } from "./cluster-info.ts";

const log = getLogger("principal");

/** Agent → the `server` of its Argo CD cluster secret. */
export interface ClusterServers {
  server(agent: string): Promise<string | undefined>;
  /** Agents that have a cluster secret. */
  agents(): Promise<string[]>;
}

function serverOfSecret(s: Secret): string | undefined {
  const plain = s.stringData?.["server"];
  if (plain) return plain;
  const b64 = s.data?.["server"];
  return b64 ? Buffer.from(b64, "base64").toString("utf8") || undefined : undefined;
}

/** Cluster servers from a watch of the agents' cluster secrets in `namespace`. */
export function clusterServersFromSecrets(kube: KubeClient, namespace: string, signal: AbortSignal): ClusterServers {
  const informer = secretInformer(kube, { namespace, labelSelector: `${CLUSTER_SECRET_TYPE_LABEL}=cluster,${AGENT_NAME_LABEL}` });
  void informer.run(signal);
  const synced = async () => {
    await Promise.race([informer.waitForSync(signal), new Promise((r) => setTimeout(r, 30_000).unref())]);
  };
  return {
    async server(agent) {
      await synced();
      const first = clusterSecretsOf(informer.list(), agent)[0];
      return first ? serverOfSecret(first) : undefined;
    },
    async agents() {
      await synced();
      return [...clusterSecretsByAgent(informer.list()).keys()];
    },
  };
}

export interface ClusterInfoWriterOptions {
  client: RedisClient;
  /** --redis-compression-type gzip (`.gz` keys, gzip values) or none. */
  gzip: boolean;
  servers: ClusterServers;
  refreshIntervalMs?: number;
}

export class ClusterInfoWriter {
  private readonly refresher: NodeJS.Timeout;
  private readonly unmapped = new Set<string>();
  /** Writes per agent run one after another, so a disconnect never lands before its connect. */
  private readonly chains = new Map<string, Promise<void>>();

  private readonly opts: ClusterInfoWriterOptions;

  constructor(opts: ClusterInfoWriterOptions) {
    this.opts = opts;
    this.refresher = setInterval(() => void this.refresh(), opts.refreshIntervalMs ?? 3 * 60_000);
    this.refresher.unref();
  }

  /** Writes the agent's connection state (replacing the whole ClusterInfo, as upstream); never rejects. */
  connectionState(agent: string, connected: boolean, at = new Date()): Promise<void> {
    const state = connected ? "connected" : "disconnected";
    return this.serial(agent, async (server) => {
      const info: ClusterInfo = { connectionState: { status: connected ? "Successful" : "Failed", message: `Agent: '${agent}' is ${state} with principal`, attemptedAt: goTime(at) } };
      await writeClusterInfo(this.opts.client, server, info, this.opts.gzip);
      log.info("updated the agent's connection state in its cluster info", { agent, status: info.connectionState!.status });
    }).catch(() => undefined);
  }

  /** The live-lane handler for `clusterCacheInfoUpdate` events from one agent. */
  handler(agent: string): EventHandler {
    return async (_ev, payload) => {
      const counts = payload as unknown as Partial<ClusterCacheInfo> | undefined;
      if (!counts || typeof counts !== "object") return { rejected: true };
      let ok = true;
      await this.serial(agent, async (server) => {
        const existing = await readClusterInfo(this.opts.client, server, this.opts.gzip).catch(() => undefined);
        const info: ClusterInfo = {
          applicationsCount: num(counts.applicationsCount),
          cacheInfo: { apisCount: num(counts.apisCount), resourcesCount: num(counts.resourcesCount) },
        };
        if (hasConnectionState(existing?.connectionState)) {
          info.connectionState = existing.connectionState;
          if (existing.cacheInfo?.lastCacheSyncTime) info.cacheInfo!.lastCacheSyncTime = existing.cacheInfo.lastCacheSyncTime;
        }
        await writeClusterInfo(this.opts.client, server, info, this.opts.gzip);
        log.debug("updated cluster cache stats", { agent, ...counts });
      }).catch(() => (ok = false));
      return ok ? undefined : { failed: true };
    };
  }

  /** Stops; waits up to `graceMs` for writes under way (the Failed states of a shutdown). */
  async close(graceMs = 2000): Promise<void> {
    clearInterval(this.refresher);
    await Promise.race([Promise.all(this.chains.values()), new Promise((r) => setTimeout(r, graceMs).unref())]);
    this.opts.client.disconnect();
  }

  /** Re-saves every mapped agent's info so Argo CD's 10-minute expiry does not drop it. */
  async refresh(): Promise<void> {
    for (const agent of await this.opts.servers.agents()) {
      await this.serial(agent, async (server) => {
        const info = await readClusterInfo(this.opts.client, server, this.opts.gzip);
        if (info) await writeClusterInfo(this.opts.client, server, info, this.opts.gzip);
      }).catch(() => undefined);
    }
  }

  /** Runs `write` for the agent's cluster after the agent's earlier writes; rejects when it failed. */
  private serial(agent: string, write: (server: string) => Promise<void>): Promise<void> {
    const run = async () => {
      const server = await this.opts.servers.server(agent);
      if (!server) {
        if (!this.unmapped.has(agent)) log.info("agent has no cluster secret; its cluster info is not written", { agent });
        this.unmapped.add(agent);
        throw new Error(`agent ${agent} is not mapped to any cluster`);
      }
      this.unmapped.delete(agent);
      try {
        await write(server);
      } catch (err) {
        log.warn("cannot write cluster info to the hub's redis", { agent, error: (err as Error).message });
        throw err;
      }
    };
    const next = (this.chains.get(agent) ?? Promise.resolve()).then(run, run);
    const settled = next.catch(() => undefined);
    this.chains.set(agent, settled);
    void settled.then(() => this.chains.get(agent) === settled && this.chains.delete(agent));
    return next;
  }
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? Math.trunc(v) : 0;
}
