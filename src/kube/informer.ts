/**
 * A watch-based informer: lists a resource, keeps a local cache up to date
 * from a watch, and calls add/update/delete handlers on every change.
 *
 * The loop lists once, then watches from the list's resourceVersion; a
 * closed or timed-out watch resumes from the last seen resourceVersion, and
 * "410 Gone" (history compacted) triggers a fresh list whose difference to
 * the cache is delivered as events. Errors back off exponentially.
 *
 * @example
 *   const apps = applicationInformer(kube, { namespace: "argocd" });
 *   apps.addHandlers({ onAdd: (a) => log.info("app added", { name: a.metadata.name }) });
 *   void apps.run(signal);
 *   await apps.waitForSync(signal);
 */
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node/dist/config.js";
import { getLogger } from "../observability/log.ts";
import type { KubeClient } from "./client.ts";
import { getJson, KubeHttpError } from "./raw-request.ts";
import { watchOnce } from "./watch.ts";
import { traceInformerChange, type InformerOperation } from "../tracing/tracing.ts";
import {
  APPLICATION_KIND,
  APPPROJECT_KIND,
  collectionPath,
  CONFIGMAP_KIND,
  NAMESPACE_KIND,
  objectKey,
  SECRET_KIND,
  type Application,
  type AppProject,
  type ConfigMap,
  type KubeObject,
  type Namespace,
  type ResourceKind,
  type Secret,
} from "./resources.ts";

const log = getLogger("kube");

export interface InformerHandlers<T> {
  onAdd?: (obj: T) => void;
  onUpdate?: (oldObj: T, newObj: T) => void;
  onDelete?: (obj: T) => void;
}

export interface InformerOptions<T> {
  /** Watch only this namespace (server side). Omit for all namespaces or cluster-scoped kinds. */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Client-side filter; objects it rejects are treated as absent (e.g. a namespace allow-list). */
  filter?: (obj: T) => boolean;
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

interface ListResponse<T> {
  items?: T[];
  metadata?: { resourceVersion?: string };
}

/** Longest pause between list/watch attempts while the API server gives no HTTP answer. */
const UNANSWERED_MAX_BACKOFF_MS = 2000;

/** Thrown inside the loop when the watch says our resourceVersion is too old. */
class ResourceExpired extends Error {}

export class Informer<T extends KubeObject> {
  readonly kind: ResourceKind;
  private readonly kubeConfig: KubeConfig;
  private readonly opts: InformerOptions<T>;
  private readonly cache = new Map<string, T>();
  private readonly handlers = new Set<InformerHandlers<T>>();
  private synced = false;
  private markSynced!: () => void;
  private readonly syncedPromise = new Promise<void>((resolve) => (this.markSynced = resolve));
  private resourceVersion = "";

  constructor(kube: KubeClient | KubeConfig, kind: ResourceKind, opts: InformerOptions<T> = {}) {
    this.kubeConfig = kube instanceof KubeConfig ? kube : kube.kubeConfig;
    this.kind = kind;
    this.opts = opts;
  }

  /** Registers handlers; objects already cached are replayed as adds. Returns an unregister function. */
  addHandlers(h: InformerHandlers<T>): () => void {
    this.handlers.add(h);
    for (const obj of this.cache.values()) this.call("create", obj, () => h.onAdd?.(obj));
    return () => this.handlers.delete(h);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves once the first list has been applied; rejects if `signal` aborts first. */
  async waitForSync(signal?: AbortSignal): Promise<void> {
    if (this.synced) return;
    signal?.throwIfAborted();
    let onAbort = () => {};
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal?.reason ?? new Error("aborted"));
      signal?.addEventListener("abort", onAbort, { once: true });
    });
    try {
      await Promise.race([this.syncedPromise, aborted]);
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /** Cached object by namespace and name (name only for cluster-scoped kinds). */
  get(namespace: string | undefined, name: string): T | undefined {
    return this.cache.get(namespace ? `${namespace}/${name}` : name);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  /** Runs list+watch until `signal` aborts; never rejects. */
  async run(signal: AbortSignal): Promise<void> {
    const minBackoff = this.opts.minBackoffMs ?? 200;
    const maxBackoff = this.opts.maxBackoffMs ?? 30_000;
    let backoff = minBackoff;
    let needList = true;
    const what = { kind: this.kind.kind, namespace: this.opts.namespace ?? "*" };
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.relist(signal);
          needList = false;
        }
        const progressed = await this.watchOnce(signal);
        if (progressed) backoff = minBackoff;
        continue; // clean close or idle timeout: resume from the last resourceVersion
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof ResourceExpired || (err instanceof KubeHttpError && err.statusCode === 410)) {
          log.debug("watch expired, relisting", what);
          needList = true;
          continue;
        }
        // No HTTP answer (API server down or restarting): retrying costs it nothing, and a
        // 30 s cap left caches stale up to 30 s after it came back.
        if (!(err instanceof KubeHttpError) && !(err as { statusCode?: number }).statusCode) backoff = Math.min(backoff, UNANSWERED_MAX_BACKOFF_MS);
        log.warn("list/watch failed, retrying", { ...what, error: String(err), backoffMs: backoff });
      }
      await sleep(backoff, undefined, { signal }).catch(() => {});
      backoff = Math.min(backoff * 2, maxBackoff);
    }
    log.debug("informer stopped", what);
  }

  private query(): Record<string, string | undefined> {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private accepts(obj: T): boolean {
    return this.opts.filter ? this.opts.filter(obj) : true;
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const path = collectionPath(this.kind, this.opts.namespace);
    const res = await getJson<ListResponse<T>>(this.kubeConfig, path, this.query(), signal);
    const seen = new Set<string>();
    for (const obj of res.items ?? []) {
      if (!this.accepts(obj)) continue;
      seen.add(objectKey(obj));
      this.upsert(obj);
    }
    for (const [key, obj] of this.cache) {
      if (!seen.has(key)) this.remove(obj);
    }
    this.resourceVersion = res.metadata?.resourceVersion ?? "";
    if (!this.synced) {
      this.synced = true;
      this.markSynced();
    }
  }

  /** One watch request. Resolves when the server or idle timer closes it; true if any event arrived. */
  private watchOnce(signal: AbortSignal): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      let progressed = false;
      let failure: unknown;
      let controller: AbortController | undefined;
      const stop = () => controller?.abort();
      signal.addEventListener("abort", stop, { once: true });
      const onEvent = (type: string, obj: T & { code?: number; message?: string }) => {
        progressed = true;
        if (type === "ERROR") {
          failure = obj.code === 410 ? new ResourceExpired(obj.message) : new Error(`watch error: ${obj.message}`);
          controller?.abort();
          return;
        }
        if (obj?.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
        if (type === "ADDED" || type === "MODIFIED") {
          if (this.accepts(obj)) this.upsert(obj);
          else this.remove(obj);
        } else if (type === "DELETED") {
          this.remove(obj);
        } // BOOKMARK: only the resourceVersion matters
      };
      const onDone = (err: unknown) => {
        signal.removeEventListener("abort", stop);
        if (failure) return reject(failure);
        if (signal.aborted) return resolve(progressed);
        // watch.ts closes a watch that stays silent for 30 s: that is an idle watch, not an error.
        if (err && (err as { name?: string }).name !== "TimeoutError") {
          const status = (err as { statusCode?: number }).statusCode;
          return reject(status ? new KubeHttpError(status, `watch: ${String(err)}`, "") : err);
        }
        resolve(progressed);
      };
      const query = { ...this.query(), resourceVersion: this.resourceVersion, allowWatchBookmarks: true };
      watchOnce(this.kubeConfig, collectionPath(this.kind, this.opts.namespace), query, (type, obj) => onEvent(type, obj as T & { code?: number; message?: string }), onDone)
        .then((c) => {
          controller = c;
          if (signal.aborted) c.abort();
        }, onDone);
    });
  }

  private upsert(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    this.cache.set(key, obj);
    if (!old) this.emit("create", obj, (h) => h.onAdd?.(obj));
    else if (old.metadata.resourceVersion !== obj.metadata.resourceVersion) this.emit("update", obj, (h) => h.onUpdate?.(old, obj));
  }

  private remove(obj: T): void {
    const key = objectKey(obj);
    const old = this.cache.get(key);
    if (!old) return;
    this.cache.delete(key);
    this.emit("delete", obj, (h) => h.onDelete?.(obj));
  }

  private emit(op: InformerOperation, obj: T, fn: (h: InformerHandlers<T>) => void): void {
    for (const h of this.handlers) this.call(op, obj, () => fn(h));
  }

  // A throwing handler must not kill the watch loop or starve other handlers.
  // With tracing on, each handler call is a span `<Kind>.<op>` (upstream's callback spans).
  private call(op: InformerOperation, obj: T, fn: () => void): void {
    try {
      traceInformerChange(this.kind.kind, op, obj, fn);
    } catch (err) {
      log.error("informer handler threw", { kind: this.kind.kind, error: String(err) });
    }
  }
}

export const applicationInformer = (kube: KubeClient | KubeConfig, opts?: InformerOptions<Application>) =>
  new Informer<Application>(kube, APPLICATION_KIND, opts);
export const appProjectInformer = (kube: KubeClient | KubeConfig, opts?: InformerOptions<AppProject>) =>
  new Informer<AppProject>(kube, APPPROJECT_KIND, opts);
export const secretInformer = (kube: KubeClient | KubeConfig, opts?: InformerOptions<Secret>) =>
  new Informer<Secret>(kube, SECRET_KIND, opts);
export const configMapInformer = (kube: KubeClient | KubeConfig, opts?: InformerOptions<ConfigMap>) =>
  new Informer<ConfigMap>(kube, CONFIGMAP_KIND, opts);
export const namespaceInformer = (kube: KubeClient | KubeConfig, opts?: InformerOptions<Namespace>) =>
  new Informer<Namespace>(kube, NAMESPACE_KIND, opts);
