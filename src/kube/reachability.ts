/**
 * Is the API server answering at all? After a request failed without an HTTP
 * answer (connection refused or reset, DNS, timeout), callers wait here and
 * all resume as soon as one cheap probe gets any HTTP answer, instead of each
 * waiting out its own or its peer's retry backoff (which grows to minutes: an
 * API outage of 34 s left mirrors stale for ~150 s). One probe loop per
 * client, running only while someone waits.
 *
 * @example
 *   const reach = new ApiReachability(kube.kubeConfig);
 *   if (isUnanswered(err) && (await reach.waitUntilReachable(AbortSignal.timeout(60_000)))) retry();
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import { getLogger } from "../observability/log.ts";
import { apiStatusCode } from "./crud.ts";
import { getJson } from "./raw-request.ts";

const log = getLogger("kube");

/** True when a request failed without any HTTP answer from the API server. */
export function isUnanswered(err: unknown): boolean {
  return apiStatusCode(err) === undefined;
}

export interface ReachabilityOptions {
  /** Pause between probes (default 500 ms). */
  intervalMs?: number;
  /** Time limit of one probe (default 2 s). */
  probeTimeoutMs?: number;
}

export class ApiReachability {
  private readonly kubeConfig: KubeConfig;
  private readonly intervalMs: number;
  private readonly probeTimeoutMs: number;
  private probing: Promise<void> | undefined;
  private waiters = 0;

  constructor(kubeConfig: KubeConfig, opts: ReachabilityOptions = {}) {
    this.kubeConfig = kubeConfig;
    this.intervalMs = opts.intervalMs ?? 500;
    this.probeTimeoutMs = opts.probeTimeoutMs ?? 2000;
  }

  /** Resolves true once the API server answers, false if `signal` aborts first. */
  async waitUntilReachable(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return false;
    this.waiters++;
    this.probing ??= this.probeLoop().finally(() => (this.probing = undefined));
    let onAbort = () => {};
    const aborted = new Promise<false>((resolve) => {
      onAbort = () => resolve(false);
      signal.addEventListener("abort", onAbort, { once: true });
    });
    try {
      return await Promise.race([this.probing.then(() => true), aborted]);
    } finally {
      this.waiters--;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Probes until an HTTP answer arrives or nobody waits any more. */
  private async probeLoop(): Promise<void> {
    const started = Date.now();
    for (let attempt = 1; this.waiters > 0; attempt++) {
      if (await this.answers()) {
        if (attempt > 1) log.info("API server reachable again", { server: this.kubeConfig.getCurrentCluster()?.server, after_ms: Date.now() - started });
        return;
      }
      await sleep(this.intervalMs);
    }
  }

  private async answers(): Promise<boolean> {
    try {
      await getJson(this.kubeConfig, "/version", {}, AbortSignal.timeout(this.probeTimeoutMs));
      return true;
    } catch (err) {
      return !isUnanswered(err);
    }
  }
}
