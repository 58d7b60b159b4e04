/**
 * A managed agent's cluster cache report (live-resources.md §3.6): every
 * `--cache-refresh-interval` it reads what its Argo CD's controller wrote about
 * its own cluster (`cluster|info|https://kubernetes.default.svc|1.8.3.gz`,
 * always gzip) and sends the application, API and resource counts to the
 * principal as a `clusterCacheInfoUpdate` event. A miss sends nothing, as
 * upstream; while the agent is not connected nothing is queued either, so a
 * long outage does not pile up stale reports.
 *
 * @example
 *   const r = new ClusterCacheReporter({ client, writer, intervalMs: 10_000, connected: () => conn.status().state === "connected" });
 *   r.start(); ... r.close();
 */
import type { RedisClient } from "./lazy-redis.ts";
import { requestEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { ClusterCacheInfo } from "../events/payloads.ts";
import { getLogger } from "../observability/log.ts";
import { IN_CLUSTER_SERVER, readClusterInfo } from "./cluster-info.ts";
import { redisOutage } from "./redis-settings.ts";

const log = getLogger("agent");

export interface ClusterCacheReporterOptions {
  client: RedisClient;
  writer: EventWriter;
  intervalMs: number;
  connected: () => boolean;
}

export class ClusterCacheReporter {
  private timer: NodeJS.Timeout | undefined;
  private failing = false;

  private readonly opts: ClusterCacheReporterOptions;

  constructor(opts: ClusterCacheReporterOptions) {
    this.opts = opts;
    if (!(opts.intervalMs > 0)) throw new RangeError("the cache refresh interval must be greater than 0");
  }

  start(): void {
    this.timer ??= setInterval(() => void this.reportOnce(), this.opts.intervalMs);
    this.timer.unref();
  }

  /** Reads and sends the counts once; returns what was sent (tests). */
  async reportOnce(): Promise<ClusterCacheInfo | undefined> {
    if (!this.opts.connected()) return undefined;
    let info;
    try {
      info = await readClusterInfo(this.opts.client, IN_CLUSTER_SERVER, true);
      if (this.failing) log.info("reading the cluster cache info works again");
      this.failing = false;
    } catch (err) {
      if (!this.failing) log.warn("cannot read the cluster cache info from Argo CD's redis", { error: redisOutage(this.opts.client) ?? (err as Error).message });
      this.failing = true;
      return undefined;
    }
    if (!info) return undefined;
    const counts: ClusterCacheInfo = {
      applicationsCount: info.applicationsCount ?? 0,
      apisCount: info.cacheInfo?.apisCount ?? 0,
      resourcesCount: info.cacheInfo?.resourcesCount ?? 0,
    };
    this.opts.writer.add(requestEvent(EventTypes.clusterCacheInfoUpdate, EventTargets.clusterCacheInfoUpdate, counts, EventSources.agent));
    log.debug("sent cluster cache info", { ...counts });
    return counts;
  }

  close(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}
