/**
 * Connection reuse for every Kubernetes API call (createKubeClient applies it).
 *
 * @kubernetes/client-node 2.x builds a new undici Agent for every request
 * (KubeConfig.applySecurityAuthentication → createDispatcher), so every GET,
 * PUT and watch would open a fresh TCP connection and do a full TLS
 * handshake, on our side and on the API server's. Replication makes one API
 * call per event, which made the handshake the largest CPU cost per
 * replicated event (bench/replication.ts: agent ≈ 7.5 ms CPU per update
 * before, ≈ 3 ms after; the API servers' CPU drops too).
 *
 * `connectionReusingConfig` returns a KubeConfig that inherits everything from
 * the given one (prototype delegation: same clusters, users, contexts,
 * authenticators; the original is not modified) but hands out one dispatcher
 * per cluster, user and TLS material. Authentication headers are still
 * computed per request, so rotating tokens keep working; rotated client
 * certificate or CA files produce a new dispatcher because the material is
 * part of the key.
 *
 * @example
 *   const kc = connectionReusingConfig(loadKubeConfig({ kubeconfig }));
 */
import type { KubeConfig } from "@kubernetes/client-node";

type CreateDispatcher = (cluster: unknown, agentOptions: Record<string, unknown>) => unknown;

const MARK = Symbol("argocd-agent.connection-reuse");

const MATERIAL = ["ca", "cert", "key", "pfx", "passphrase", "rejectUnauthorized", "servername"] as const;

interface Entry {
  who: string;
  material: unknown[];
  dispatcher: unknown;
}

const sameValue = (a: unknown, b: unknown): boolean =>
  Buffer.isBuffer(a) && Buffer.isBuffer(b) ? a.equals(b) : a === b;

/** A KubeConfig delegating to `kc` whose requests share connections. */
export function connectionReusingConfig(kc: KubeConfig): KubeConfig {
  if ((kc as unknown as Record<symbol, boolean>)[MARK]) return kc;
  const original = (kc as unknown as { createDispatcher?: CreateDispatcher }).createDispatcher;
  if (typeof original !== "function") return kc; // another client-node version: leave it alone
  const wrapped = Object.create(kc) as KubeConfig;
  // Few entries (one per cluster/user/material); compared by content, which is
  // cheaper than hashing: client-node re-reads certificate files on every request.
  const entries: Entry[] = [];
  Object.defineProperty(wrapped, MARK, { value: true });
  Object.defineProperty(wrapped, "createDispatcher", {
    value: function (this: KubeConfig, cluster: unknown, agentOptions: Record<string, unknown>) {
      const c = cluster as { name?: string; server?: string } | null;
      const who = `${c?.name ?? ""}\u0000${c?.server ?? ""}\u0000${this.getCurrentUser()?.name ?? ""}`;
      const material = MATERIAL.map((k) => agentOptions[k]);
      const hit = entries.find((e) => e.who === who && e.material.every((v, i) => sameValue(v, material[i])));
      if (hit) return hit.dispatcher;
      const dispatcher = original.call(this, cluster, agentOptions);
      if (entries.length >= 8) entries.shift(); // material rotated many times: forget the oldest
      entries.push({ who, material, dispatcher });
      return dispatcher;
    },
  });
  return wrapped;
}
