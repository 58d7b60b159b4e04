/**
 * CRUD on core/v1 namespaced objects (Secrets, ConfigMaps) as plain JSON.
 * The generated CoreV1Api turns objects into model classes (timestamps become
 * Date, unknown fields are dropped), while informers hand us raw JSON; the
 * replication of repository Secrets and the GPG ConfigMap compares and
 * forwards objects, so both must have the same shape. Failures are thrown as
 * client-node `ApiException`s, so `isNotFound` / `isAlreadyExists` /
 * `isConflict` and the retry rules work as for custom resources.
 *
 * @example
 *   const s = secrets(kube);
 *   const repo = await s.get("argocd", "repo-1");
 *   if (repo) await s.update({ ...repo, data: { ...repo.data, url: btoa("https://x") } });
 *   await s.delete("argocd", "repo-1", { uid: repo?.metadata.uid, propagation: "Background" });
 */
import type { KubeClient } from "./client.ts";
import type { WriteCounts } from "./crud.ts";
import { isNotFound } from "./crud.ts";
import { kubeJson } from "./raw-request.ts";
import { collectionPath, CONFIGMAP_KIND, SECRET_KIND, type ConfigMap, type KubeObject, type ResourceKind, type Secret } from "./resources.ts";

export class CoreObjectClient<T extends KubeObject> {
  readonly kind: ResourceKind;
  private readonly kube: KubeClient;
  /** Successful creates, updates and deletes. */
  readonly writes: WriteCounts = { created: 0, updated: 0, deleted: 0 };

  constructor(kube: KubeClient, kind: ResourceKind) {
    if (kind.group !== "" || !kind.namespaced) throw new Error(`CoreObjectClient needs a namespaced core/v1 kind, got ${kind.kind}`);
    this.kube = kube;
    this.kind = kind;
  }

  private path(namespace: string, name?: string): string {
    const base = collectionPath(this.kind, namespace);
    return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
  }

  private call(method: "GET" | "POST" | "PUT" | "DELETE", path: string, body?: unknown): Promise<T> {
    return kubeJson<T>(this.kube.kubeConfig, method, path, { body });
  }

  private static where(obj: KubeObject): { namespace: string; name: string } {
    const { namespace, name } = obj.metadata;
    if (!namespace || !name) throw new Error("object needs metadata.namespace and metadata.name");
    return { namespace, name };
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

  async create(obj: T): Promise<T> {
    const { namespace } = CoreObjectClient.where(obj);
    const res = await this.call("POST", this.path(namespace), { apiVersion: "v1", kind: this.kind.kind, ...obj });
    this.writes.created++;
    return res;
  }

  /** Replaces the object; metadata.resourceVersion makes it conditional (409 if stale). */
  async update(obj: T): Promise<T> {
    const { namespace, name } = CoreObjectClient.where(obj);
    const res = await this.call("PUT", this.path(namespace, name), { apiVersion: "v1", kind: this.kind.kind, ...obj });
    this.writes.updated++;
    return res;
  }

  /**
   * Deletes the object; false if it was already gone. `uid` deletes only that
   * incarnation (precondition); `propagation` is the API's propagationPolicy.
   */
  async delete(namespace: string, name: string, opts: { uid?: string; propagation?: "Background" | "Foreground" | "Orphan" } = {}): Promise<boolean> {
    const body = { apiVersion: "v1", kind: "DeleteOptions", ...(opts.uid ? { preconditions: { uid: opts.uid } } : {}), ...(opts.propagation ? { propagationPolicy: opts.propagation } : {}) };
    try {
      await this.call("DELETE", this.path(namespace, name), body);
      this.writes.deleted++;
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }
}

export const secrets = (kube: KubeClient) => new CoreObjectClient<Secret>(kube, SECRET_KIND);
export const configMaps = (kube: KubeClient) => new CoreObjectClient<ConfigMap>(kube, CONFIGMAP_KIND);
