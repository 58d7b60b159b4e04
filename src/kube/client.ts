/**
 * Kubernetes client construction: which kubeconfig, which context, and the
 * typed API objects the rest of src/kube uses.
 *
 * @example
 *   const kube = createKubeClient({ kubeconfig: "/tmp/kc.yaml", context: "agent" });
 *   const ns = await kubeJson(kube.kubeConfig, "GET", "/api/v1/namespaces");
 */
// Deep import: the package index also evaluates exec, attach, port-forward, cp and ws, which only the
// agent's web terminal needs (loaded there on first use), and every generated model and API class
// (≈800 modules), which only ctl uses (typed-apis.ts), issue #19.
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import { setTimeout as sleep } from "node:timers/promises";
import { getLogger } from "../observability/log.ts";
import { connectionReusingConfig } from "./connections.ts";
import { kubeJson } from "./raw-request.ts";

const log = getLogger("kube");

export interface KubeClientOptions {
  /** Path of a kubeconfig file. Empty: in-cluster config when running in a pod, else the default loading rules ($KUBECONFIG, ~/.kube/config). */
  kubeconfig?: string;
  /** Context to use (`--kubecontext`); default is the kubeconfig's current context. */
  context?: string;
  /** Force the in-cluster service-account config even if a kubeconfig exists. */
  inCluster?: boolean;
}

/** Requests go through raw-request.ts (plain JSON); ctl adds the generated typed APIs (typed-apis.ts). */
export interface KubeClient {
  kubeConfig: KubeConfig;
  /** API server URL of the selected cluster. */
  server: string;
  /** Selected context ("" for in-cluster). */
  context: string;
  /**
   * Requested client-side rate limits (ARGOCD_AGENT_KUBE_QPS / _BURST), kept
   * for parity with upstream's flags and for logging. @kubernetes/client-node
   * has no client-side rate limiter, so they are not enforced; the API
   * server's priority-and-fairness is the only throttle.
   */
  qps: number;
  burst: number;
}

export const DEFAULT_KUBE_QPS = 100;
export const DEFAULT_KUBE_BURST = 300;

function positiveNumberFromEnv(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
}

function runningInCluster(): boolean {
  return Boolean(process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT);
}

/** Loads a KubeConfig following the option rules above. */
export function loadKubeConfig(opts: KubeClientOptions = {}): KubeConfig {
  const kc = new KubeConfig();
  if (opts.inCluster) {
    kc.loadFromCluster();
  } else if (opts.kubeconfig) {
    kc.loadFromFile(opts.kubeconfig);
  } else if (runningInCluster()) {
    kc.loadFromCluster();
  } else {
    kc.loadFromDefault();
  }
  if (opts.context) {
    if (!kc.getContextObject(opts.context)) {
      throw new Error(`kube context "${opts.context}" not found in kubeconfig`);
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.getCurrentCluster()) throw new Error("kubeconfig has no current cluster");
  return kc;
}

/**
 * Builds the typed API clients from options or from an already loaded
 * KubeConfig. Requests share connections (see connections.ts); the given
 * KubeConfig itself is not modified.
 */
export function createKubeClient(source: KubeClientOptions | KubeConfig = {}): KubeClient {
  const kubeConfig = connectionReusingConfig(source instanceof KubeConfig ? source : loadKubeConfig(source));
  const client: KubeClient = {
    kubeConfig,
    server: kubeConfig.getCurrentCluster()?.server ?? "",
    context: kubeConfig.getCurrentContext() ?? "",
    qps: positiveNumberFromEnv("ARGOCD_AGENT_KUBE_QPS", DEFAULT_KUBE_QPS),
    burst: positiveNumberFromEnv("ARGOCD_AGENT_KUBE_BURST", DEFAULT_KUBE_BURST),
  };
  log.debug("kube client ready", { server: client.server, context: client.context, qps: client.qps, burst: client.burst });
  return client;
}

/** How long one reachability probe may take. */
const PROBE_TIMEOUT_MS = 5000;
/** Longest pause between probes: one cheap GET, and the wait after the API server is up stays short. */
const MAX_PROBE_INTERVAL_MS = 4000;

/**
 * Waits until the API server answers, retrying with backoff: a component that
 * starts before its API server (common when a cluster boots) stays alive and
 * unready instead of crash-looping. Resolves false if the signal aborts first.
 */
export async function waitForApiServer(kube: KubeClient, signal?: AbortSignal): Promise<boolean> {
  let delay = 250;
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) return false;
    try {
      // An API server that accepts connections and never answers must not hang us: probe with a deadline.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        kubeJson(kube.kubeConfig, "GET", "/api/v1"),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)), PROBE_TIMEOUT_MS))),
      ]).finally(() => clearTimeout(timer));
      if (attempt > 1) log.info("API server reachable", { server: kube.server });
      return true;
    } catch (err) {
      if (attempt === 1 || attempt % 10 === 0) {
        log.warn("API server not reachable yet; retrying", { server: kube.server, attempt, error: (err as Error).message });
      }
    }
    await sleep(delay, undefined, { signal }).catch(() => {}); // aborted: checked above
    delay = Math.min(delay * 2, MAX_PROBE_INTERVAL_MS);
  }
}
