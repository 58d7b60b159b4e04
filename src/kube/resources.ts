/**
 * Minimal typed views of the Kubernetes objects the agent moves around.
 *
 * Argo CD owns the full Application/AppProject schemas; the agent only needs
 * metadata to route and reconcile, and must round-trip everything else
 * untouched, so spec/status/operation stay loosely typed records.
 */

/** The part of ObjectMeta the agent reads or writes. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: Record<string, unknown>[];
  [key: string]: unknown;
}

/** Any Kubernetes object: what the informer and CRUD helpers work on. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

export type LooseRecord = Record<string, unknown>;

export interface Application extends KubeObject {
  spec: LooseRecord;
  status?: LooseRecord;
  operation?: LooseRecord;
}

export interface AppProject extends KubeObject {
  spec: LooseRecord;
  status?: LooseRecord;
}

export interface Secret extends KubeObject {
  type?: string;
  /** Base64-encoded values, as the API returns them. */
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
  binaryData?: Record<string, string>;
}

export interface Namespace extends KubeObject {
  spec?: LooseRecord;
  status?: LooseRecord;
}

export const ARGOPROJ_GROUP = "argoproj.io";
export const ARGOPROJ_VERSION = "v1alpha1";
export const ARGOPROJ_API_VERSION = `${ARGOPROJ_GROUP}/${ARGOPROJ_VERSION}`;

/** Where a resource lives in the API: enough to build list/watch/CRUD paths. */
export interface ResourceKind {
  /** "" for the core group. */
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const APPLICATION_KIND: ResourceKind = {
  group: ARGOPROJ_GROUP,
  version: ARGOPROJ_VERSION,
  plural: "applications",
  kind: "Application",
  namespaced: true,
};

export const APPPROJECT_KIND: ResourceKind = {
  group: ARGOPROJ_GROUP,
  version: ARGOPROJ_VERSION,
  plural: "appprojects",
  kind: "AppProject",
  namespaced: true,
};

export const SECRET_KIND: ResourceKind = { group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true };
export const CONFIGMAP_KIND: ResourceKind = { group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true };

export const NAMESPACE_KIND: ResourceKind = {
  group: "",
  version: "v1",
  plural: "namespaces",
  kind: "Namespace",
  namespaced: false,
};

/** API path of a collection: all namespaces when `namespace` is omitted for a namespaced kind. */
export function collectionPath(kind: ResourceKind, namespace?: string): string {
  const base = kind.group === "" ? `/api/${kind.version}` : `/apis/${kind.group}/${kind.version}`;
  const ns = kind.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : "";
  return `${base}${ns}/${kind.plural}`;
}

/** Cache key of an object: "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(obj: KubeObject): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name}` : `${name}`;
}
