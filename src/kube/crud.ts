/**
 * CRUD for Applications and AppProjects (plus namespace creation), and the
 * optimistic-concurrency helpers every writer needs.
 *
 * @example
 *   const apps = applications(kube);
 *   await retryOnConflict(async () => {
 *     const app = await apps.get("argocd", "guestbook");
 *     app!.status = { sync: { status: "Synced" } };
 *     return apps.updateStatus(app!);
 *   });
 */
import { ApiException } from "@kubernetes/client-node/dist/gen/apis/exception.js";
import type { KubeClient } from "./client.ts";
import { kubeJson, type JsonCall, type KubeRequest } from "./raw-request.ts";
import { traceKubeWrite } from "../tracing/tracing.ts";
import {
  APPLICATION_KIND,
  APPPROJECT_KIND,
  ARGOPROJ_API_VERSION,
  collectionPath,
  type Application,
  type AppProject,
  type KubeObject,
  type Namespace,
  type ResourceKind,
} from "./resources.ts";

/** HTTP status of a failed API call, or undefined if the error did not come from the API server. */
export function apiStatusCode(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  const code = (err as { code?: unknown; statusCode?: unknown } | null)?.statusCode;
  return typeof code === "number" ? code : undefined;
}

export const isNotFound = (err: unknown): boolean => apiStatusCode(err) === 404;
export const isConflict = (err: unknown): boolean => apiStatusCode(err) === 409 && !isAlreadyExistsBody(err);
export const isAlreadyExists = (err: unknown): boolean => apiStatusCode(err) === 409 && isAlreadyExistsBody(err);

// Both "conflict" and "already exists" are HTTP 409; only the Status reason tells them apart.
function isAlreadyExistsBody(err: unknown): boolean {
  if (!(err instanceof ApiException)) return false;
  const body: unknown = typeof err.body === "string" ? safeJson(err.body) : err.body;
  return (body as { reason?: string } | undefined)?.reason === "AlreadyExists";
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export interface RetryOnConflictOptions {
  /** Total attempts, including the first (default 5, as client-go's DefaultRetry). */
  attempts?: number;
  /** First delay in ms, doubled each retry with jitter (default 10). */
  initialDelayMs?: number;
}

/**
 * Runs `fn` again while it fails with a 409 Conflict (stale resourceVersion).
 * `fn` must re-read the object each time, otherwise every retry conflicts too.
 */
export async function retryOnConflict<T>(fn: () => Promise<T>, opts: RetryOnConflictOptions = {}): Promise<T> {
  const attempts = opts.attempts ?? 5;
  let delay = opts.initialDelayMs ?? 10;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isConflict(err) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, delay * (1 + Math.random() * 0.1)));
      delay *= 2;
    }
  }
}

export interface ListOptions {
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ObjectList<T> {
  items: T[];
  resourceVersion: string;
}

const MERGE_PATCH = "application/merge-patch+json";

/** Successful writes made through one client (metrics read them). */
export interface WriteCounts {
  created: number;
  updated: number;
  deleted: number;
}

/** CRUD on one namespaced argoproj.io custom resource kind. */
export class CustomResourceClient<T extends KubeObject> {
  readonly kind: ResourceKind;
  private readonly kube: KubeClient;
  /** Successful creates, updates (status and patches included) and deletes. */
  readonly writes: WriteCounts = { created: 0, updated: 0, deleted: 0 };

  constructor(kube: KubeClient, kind: ResourceKind) {
    this.kube = kube;
    this.kind = kind;
  }

  /** The collection (no name), an object, or an object's subresource; all namespaces when `namespace` is undefined. */
  private path(namespace: string | undefined, name?: string, subresource?: string): string {
    const base = collectionPath(this.kind, namespace);
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ""}`;
  }

  /** Plain JSON (no generated model classes), as the informers see objects. */
  private call<R = T>(method: KubeRequest["method"], path: string, call?: JsonCall): Promise<R> {
    return kubeJson<R>(this.kube.kubeConfig, method, path, call);
  }

  private static nameOf(obj: KubeObject): { namespace: string; name: string } {
    const { namespace, name } = obj.metadata;
    if (!namespace || !name) throw new Error("object needs metadata.namespace and metadata.name");
    return { namespace, name };
  }

  /** One write to the API server; a client span `k8s.<verb> <Kind>` while tracing is on. */
  private traced<R>(verb: string, namespace: string, name: string, call: () => Promise<R>): Promise<R> {
    return traceKubeWrite(verb, this.kind.kind, namespace, name, call);
  }

  /** The object, or undefined if it does not exist. */
  async get(namespace: string, name: string): Promise<T | undefined> {
    try {
      return await this.call("GET", this.path(namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Lists one namespace, or all namespaces when `namespace` is undefined. */
  async list(namespace?: string, opts: ListOptions = {}): Promise<ObjectList<T>> {
    const res = await this.call<{ items?: T[] | null; metadata?: { resourceVersion?: string } }>("GET", this.path(namespace), {
      query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
    });
    return { items: res.items ?? [], resourceVersion: res.metadata?.resourceVersion ?? "" };
  }

  async create(obj: T): Promise<T> {
    const { namespace, name } = CustomResourceClient.nameOf(obj);
    const body = { apiVersion: ARGOPROJ_API_VERSION, kind: this.kind.kind, ...obj };
    const res = (await this.traced("create", namespace, name, () => this.call("POST", this.path(namespace), { body })));
    this.writes.created++;
    return res;
  }

  /** Replaces the object; metadata.resourceVersion makes it conditional (409 if stale). */
  async update(obj: T): Promise<T> {
    const { namespace, name } = CustomResourceClient.nameOf(obj);
    const body = { apiVersion: ARGOPROJ_API_VERSION, kind: this.kind.kind, ...obj };
    const res = (await this.traced("update", namespace, name, () => this.call("PUT", this.path(namespace, name), { body })));
    this.writes.updated++;
    return res;
  }

  /**
   * Replaces .status. Uses the status subresource when the CRD has one; Argo
   * CD's own Application CRD has none (its controller writes status with a
   * plain update), so on a 404 from /status for an object that exists we fall
   * back to updating the whole object, and remember that for this client.
   */
  async updateStatus(obj: T): Promise<T> {
    const { namespace, name } = CustomResourceClient.nameOf(obj);
    const body = { apiVersion: ARGOPROJ_API_VERSION, kind: this.kind.kind, ...obj };
    if (this.statusSubresource !== false) {
      try {
        const res = (await this.traced("update-status", namespace, name, () => this.call("PUT", this.path(namespace, name, "status"), { body })));
        this.statusSubresource = true;
        this.writes.updated++;
        return res;
      } catch (err) {
        if (!(await this.lacksStatusSubresource(err, namespace, name))) throw err;
      }
    }
    return this.update(obj);
  }

  /** Set once known: does this kind's CRD serve the /status subresource? */
  private statusSubresource: boolean | undefined;

  private async lacksStatusSubresource(err: unknown, namespace: string, name: string): Promise<boolean> {
    if (!isNotFound(err) || this.statusSubresource === true) return false;
    if (!(await this.get(namespace, name))) return false; // the object itself is gone
    this.statusSubresource = false;
    return true;
  }

  /** JSON merge patch (RFC 7386): objects merge, `null` deletes a field, arrays are replaced. */
  async patch(namespace: string, name: string, patch: Record<string, unknown>): Promise<T> {
    const res = await this.traced("patch", namespace, name, () => this.call("PATCH", this.path(namespace, name), { body: patch, contentType: MERGE_PATCH }));
    this.writes.updated++;
    return res;
  }

  /** JSON merge patch of .status (status subresource, or the object itself; see updateStatus). */
  async patchStatus(namespace: string, name: string, patch: Record<string, unknown>): Promise<T> {
    if (this.statusSubresource !== false) {
      try {
        const res = await this.traced("patch-status", namespace, name, () =>
          this.call("PATCH", this.path(namespace, name, "status"), { body: patch, contentType: MERGE_PATCH }),
        );
        this.statusSubresource = true;
        this.writes.updated++;
        return res;
      } catch (err) {
        if (!(await this.lacksStatusSubresource(err, namespace, name))) throw err;
      }
    }
    return this.patch(namespace, name, patch);
  }

  /**
   * Deletes the object. Returns false if it was already gone. With `uid`,
   * deletes only that incarnation (a precondition), so a re-created object of
   * the same name survives.
   */
  async delete(namespace: string, name: string, opts: { uid?: string } = {}): Promise<boolean> {
    try {
      const body = opts.uid ? { apiVersion: "v1", kind: "DeleteOptions", preconditions: { uid: opts.uid } } : undefined;
      await this.traced("delete", namespace, name, () => this.call("DELETE", this.path(namespace, name), { body }));
      this.writes.deleted++;
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

export function applications(kube: KubeClient): CustomResourceClient<Application> {
  return new CustomResourceClient<Application>(kube, APPLICATION_KIND);
}

export function appProjects(kube: KubeClient): CustomResourceClient<AppProject> {
  return new CustomResourceClient<AppProject>(kube, APPPROJECT_KIND);
}

/** Creates a namespace; an existing one is returned as is (idempotent). */
export async function ensureNamespace(kube: KubeClient, name: string, labels?: Record<string, string>): Promise<Namespace> {
  try {
    return await kubeJson<Namespace>(kube.kubeConfig, "POST", "/api/v1/namespaces", { body: { apiVersion: "v1", kind: "Namespace", metadata: { name, labels } } });
  } catch (err) {
    if (!isAlreadyExists(err)) throw err;
    return await kubeJson<Namespace>(kube.kubeConfig, "GET", `/api/v1/namespaces/${encodeURIComponent(name)}`);
  }
}
