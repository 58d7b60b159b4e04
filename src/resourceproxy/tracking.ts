/**
 * Is a live object managed by Argo CD on this cluster? (live-resources.md §2.6,
 * upstream agent/resource.go isResourceManaged.) An object is managed when it
 * carries Argo CD's tracking label or annotation (method from `argocd-cm` in
 * the agent namespace), or when an owner up to 5 levels up does. Only managed
 * objects may be read, patched or deleted through the resource proxy: the
 * proxy shows Argo CD what belongs to its Applications, not the whole cluster.
 *
 * @example
 *   const tracking = new TrackingCheck(kubeConfig, "argocd");
 *   const verdict = await tracking.managed(object, signal); // { managed: true } | { managed: false } | { error, status }
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest } from "../kube/raw-request.ts";

export const TRACKING_ID_ANNOTATION = "argocd.argoproj.io/tracking-id";
export const DEFAULT_INSTANCE_LABEL = "app.kubernetes.io/instance";
const MAX_OWNER_DEPTH = 5;
const SETTINGS_TTL_MS = 10_000;
const DISCOVERY_TTL_MS = 5 * 60_000;

export interface LiveObject {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { apiVersion?: string; kind?: string; name?: string }[];
  };
}

export type TrackingVerdict = { managed: boolean } | { error: string; status: number };

interface TrackingSettings {
  method: "label" | "annotation";
  labelKey: string;
}

export class TrackingCheck {
  private settings: { value: TrackingSettings | Error; at: number } | undefined;
  private readonly resources = new Map<string, { at: number; byKind: Map<string, { name: string; namespaced: boolean }> }>();
  private readonly kc: KubeConfig;
  private readonly namespace: string;

  constructor(kc: KubeConfig, namespace: string) {
    this.kc = kc;
    this.namespace = namespace;
  }

  async managed(obj: LiveObject, signal?: AbortSignal, depth = 0): Promise<TrackingVerdict> {
    const settings = await this.trackingSettings(signal);
    if (settings instanceof Error) return { error: settings.message, status: 500 };
    if (this.tracked(obj, settings)) return { managed: true };
    const owners = [...(obj.metadata?.ownerReferences ?? [])];
    // OLM: a ClusterServiceVersion belongs to the OperatorGroup named in its annotation.
    const og = obj.metadata?.annotations?.["olm.operatorGroup"];
    if (og && obj.kind === "ClusterServiceVersion" && obj.apiVersion?.startsWith("operators.coreos.com/")) {
      owners.push({ apiVersion: "operators.coreos.com/v1", kind: "OperatorGroup", name: og });
    }
    if (owners.length === 0) return { managed: false };
    if (depth >= MAX_OWNER_DEPTH) return { error: `owner chain deeper than ${MAX_OWNER_DEPTH}`, status: 500 };
    for (const ref of owners) {
      if (!ref.apiVersion || !ref.kind || !ref.name) continue;
      const owner = await this.getOwner(ref as Required<typeof ref>, obj.metadata?.namespace, signal);
      if ("error" in owner) return owner;
      const verdict = await this.managed(owner.object, signal, depth + 1);
      if ("error" in verdict || verdict.managed) return verdict;
    }
    return { managed: false };
  }

  private tracked(obj: LiveObject, s: TrackingSettings): boolean {
    if (s.method === "label") return Object.hasOwn(obj.metadata?.labels ?? {}, s.labelKey);
    return Object.hasOwn(obj.metadata?.annotations ?? {}, TRACKING_ID_ANNOTATION);
  }

  private async getOwner(ref: { apiVersion: string; kind: string; name: string }, namespace: string | undefined, signal?: AbortSignal): Promise<{ object: LiveObject } | { error: string; status: number }> {
    const res = await this.resourceFor(ref.apiVersion, ref.kind, signal);
    if ("error" in res) return res;
    const base = ref.apiVersion.includes("/") ? `/apis/${ref.apiVersion}` : `/api/${ref.apiVersion}`;
    const paths = res.namespaced && namespace ? [`${base}/namespaces/${namespace}/${res.name}/${ref.name}`] : [`${base}/${res.name}/${ref.name}`];
    for (const path of paths) {
      const r = await kubeRequest(this.kc, { method: "GET", path, signal, maxResponseBytes: 16 << 20 });
      if (r.status === 200) return { object: JSON.parse(r.text) as LiveObject };
      return { error: `owner ${ref.kind}/${ref.name}: ${statusMessage(r.text) ?? `HTTP ${r.status}`}`, status: r.status };
    }
    return { error: "unreachable", status: 500 };
  }

  private async resourceFor(apiVersion: string, kind: string, signal?: AbortSignal): Promise<{ name: string; namespaced: boolean } | { error: string; status: number }> {
    let entry = this.resources.get(apiVersion);
    if (!entry || Date.now() - entry.at > DISCOVERY_TTL_MS || !entry.byKind.has(kind)) {
      const path = apiVersion.includes("/") ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
      const r = await kubeRequest(this.kc, { method: "GET", path, signal, maxResponseBytes: 16 << 20 });
      if (r.status !== 200) return { error: `discovery of ${apiVersion}: ${statusMessage(r.text) ?? `HTTP ${r.status}`}`, status: r.status };
      const list = JSON.parse(r.text) as { resources?: { name: string; kind: string; namespaced: boolean }[] };
      const byKind = new Map<string, { name: string; namespaced: boolean }>();
      for (const res of list.resources ?? []) if (!res.name.includes("/")) byKind.set(res.kind, { name: res.name, namespaced: res.namespaced });
      entry = { at: Date.now(), byKind };
      this.resources.set(apiVersion, entry);
    }
    return entry.byKind.get(kind) ?? { error: `no resource for kind ${kind} in ${apiVersion}`, status: 404 };
  }

  private async trackingSettings(signal?: AbortSignal): Promise<TrackingSettings | Error> {
    if (this.settings && Date.now() - this.settings.at < SETTINGS_TTL_MS) return this.settings.value;
    const r = await kubeRequest(this.kc, { method: "GET", path: `/api/v1/namespaces/${this.namespace}/configmaps/argocd-cm`, signal, maxResponseBytes: 4 << 20 });
    let value: TrackingSettings | Error;
    if (r.status === 404) value = { method: "annotation", labelKey: DEFAULT_INSTANCE_LABEL };
    else if (r.status !== 200) value = new Error(`reading argocd-cm: ${statusMessage(r.text) ?? `HTTP ${r.status}`}`);
    else {
      const data = (JSON.parse(r.text) as { data?: Record<string, string> }).data ?? {};
      const method = data["application.resourceTrackingMethod"] ?? "";
      const labelKey = data["application.instanceLabelKey"] || DEFAULT_INSTANCE_LABEL;
      if (method === "label") value = { method: "label", labelKey };
      else if (method === "" || method === "annotation" || method === "annotation+label") value = { method: "annotation", labelKey };
      else value = new Error(`argocd-cm: unknown application.resourceTrackingMethod "${method}"`);
    }
    this.settings = { value, at: Date.now() };
    return value;
  }
}

/** The `message` of a Kubernetes Status body, if it is one. */
export function statusMessage(text: string): string | undefined {
  try {
    const s = JSON.parse(text) as { kind?: string; message?: string };
    return s.kind === "Status" ? s.message : undefined;
  } catch {
    return undefined;
  }
}
