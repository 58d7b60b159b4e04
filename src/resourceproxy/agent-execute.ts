/**
 * What the agent does with one proxied request (live-resources.md §2.6): the
 * method table of upstream agent/resource.go, run against the agent's own API
 * server with its own credentials, so the agent's RBAC decides. Reads, patches
 * and deletes of single objects need the object to be managed by Argo CD
 * (tracking.ts); lists are limited to events and discovery; creates are free.
 * Returns the ResourceResponse; errors carry the API server's Status (or one
 * we build) so the caller sees why.
 *
 * @example
 *   const res = await executeResourceRequest({ kc, tracking, signal }, request); // { uuid, status: 200, resource: "{…}" }
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { ResourceRequest, ResourceResponse } from "../events/payloads.ts";
import { kubeRequest, type KubeReply, type KubeRequest } from "../kube/raw-request.ts";
import { apiPath } from "./paths.ts";
import type { LiveObject, TrackingCheck } from "./tracking.ts";

export interface ExecuteContext {
  kc: KubeConfig;
  tracking: TrackingCheck;
  signal?: AbortSignal;
  /** Largest answer sent back (bytes of JSON). */
  maxResponseBytes: number;
}

const LISTABLE = new Set(["events", "apiresources", "apigroups"]);
const LIST_PARAMS = ["fieldSelector", "labelSelector", "resourceVersion", "continue", "limit"];

/** A Kubernetes Status body for errors we produce ourselves. */
export function statusBody(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: "Status", apiVersion: "v1", metadata: {}, status: "Failure", message, reason, code });
}

function fail(req: ResourceRequest, code: number, reason: string, message: string): ResourceResponse {
  return { uuid: req.uuid, status: code, resource: statusBody(code, reason, message) };
}

function fromReply(req: ResourceRequest, r: KubeReply): ResourceResponse {
  if (r.status >= 200 && r.status < 300) return { uuid: req.uuid, status: 200, ...(r.text ? { resource: r.text } : {}) };
  return { uuid: req.uuid, status: r.status, ...(r.text ? { resource: r.text } : {}) };
}

function pick(params: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (params?.[k] !== undefined) out[k] = params[k];
  return out;
}

function bodyOf(req: ResourceRequest): Buffer {
  return req.body ? Buffer.from(req.body, "base64") : Buffer.alloc(0);
}

const BAD_SEGMENT = /\.\.|\//;

export async function executeResourceRequest(ctx: ExecuteContext, req: ResourceRequest): Promise<ResourceResponse> {
  const call = (r: Omit<KubeRequest, "signal" | "maxResponseBytes">) => kubeRequest(ctx.kc, { ...r, signal: ctx.signal, maxResponseBytes: ctx.maxResponseBytes });
  const method = req.method ?? "GET";
  const gvr = { group: req.group ?? "", version: req.version ?? "", resource: req.resource ?? "" };
  const ns = req.namespace ?? "";
  const name = req.name ?? "";
  const sub = req.subresource ?? "";
  if (sub && (!name || BAD_SEGMENT.test(name) || BAD_SEGMENT.test(sub) || BAD_SEGMENT.test(ns))) {
    return fail(req, 500, "InternalError", "invalid sub-resource request: name and sub-resource must be set and contain no '..' or '/'");
  }
  if (!gvr.version && (gvr.group || gvr.resource)) return fail(req, 500, "InternalError", "a version is required");
  const objectPath = apiPath({ ...gvr, namespace: ns, name });
  const subPath = apiPath({ ...gvr, namespace: ns, name, subresource: sub });

  /** GETs the object (or the parent of a sub-resource) and checks it is managed. */
  const requireManaged = async (): Promise<ResourceResponse | undefined> => {
    const r = await call({ method: "GET", path: objectPath });
    if (r.status !== 200) return fromReply(req, r);
    const verdict = await ctx.tracking.managed(JSON.parse(r.text) as LiveObject, ctx.signal);
    if ("error" in verdict) return fail(req, verdict.status, verdict.status === 404 ? "NotFound" : "InternalError", verdict.error);
    if (!verdict.managed) {
      const gr = gvr.group ? `${gvr.resource}.${gvr.group}` : gvr.resource;
      return fail(req, 403, "Forbidden", `${gr} "${name}" is forbidden: the resource is not managed by an Argo CD Application on this cluster`);
    }
    return undefined;
  };

  switch (method) {
    case "GET": {
      if (!gvr.resource) return discovery(req, gvr, call);
      if (!name) {
        if (!LISTABLE.has(gvr.resource)) return fail(req, 500, "InternalError", `not authorized to list resources: only ${[...LISTABLE].join(", ")} may be listed through the resource proxy`);
        return fromReply(req, await call({ method: "GET", path: objectPath, query: pick(req.params, LIST_PARAMS) }));
      }
      if (!sub) {
        const r = await call({ method: "GET", path: objectPath });
        if (r.status !== 200) return fromReply(req, r);
        const verdict = await ctx.tracking.managed(JSON.parse(r.text) as LiveObject, ctx.signal);
        if ("error" in verdict) return fail(req, verdict.status, "InternalError", verdict.error);
        if (!verdict.managed) return fail(req, 403, "Forbidden", `${gvr.group ? `${gvr.resource}.${gvr.group}` : gvr.resource} "${name}" is forbidden: the resource is not managed by an Argo CD Application on this cluster`);
        return fromReply(req, r);
      }
      const denied = await requireManaged();
      if (denied) return denied;
      const r = await call({ method: "GET", path: subPath });
      if (r.status === 200 && !isJsonObject(r.text)) return fail(req, 500, "InternalError", "the sub-resource did not answer with one JSON object");
      return fromReply(req, r);
    }
    case "POST": {
      if (!gvr.resource) return fail(req, 500, "InternalError", "POST needs a resource");
      if (name && sub) {
        const denied = await requireManaged();
        if (denied) return denied;
        return fromReply(req, await call({ method: "POST", path: subPath, body: bodyOf(req), contentType: "application/json" }));
      }
      const query = pick(req.params, ["dryRun", "fieldValidation", "fieldManager"]);
      return fromReply(req, await call({ method: "POST", path: apiPath({ ...gvr, namespace: ns }), query, body: bodyOf(req), contentType: "application/json" }));
    }
    case "PATCH": {
      if (!name || !gvr.resource) return fail(req, 500, "InternalError", "PATCH needs a resource and a name");
      if (req.params?.force !== undefined && !/^(1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$/.test(req.params.force)) {
        return fail(req, 500, "InternalError", `invalid force parameter "${req.params.force}"`);
      }
      const denied = await requireManaged();
      if (denied) return denied;
      if (sub) {
        const t = req.params?.["content-type"];
        const contentType = t === "application/json-patch+json" || t === "application/strategic-merge-patch+json" ? t : "application/merge-patch+json";
        return fromReply(req, await call({ method: "PATCH", path: subPath, body: bodyOf(req), contentType }));
      }
      const query = pick(req.params, ["dryRun", "force", "fieldValidation", "fieldManager"]);
      return fromReply(req, await call({ method: "PATCH", path: objectPath, query, body: bodyOf(req), contentType: "application/merge-patch+json" }));
    }
    case "DELETE": {
      if (!name || !gvr.resource) return fail(req, 500, "InternalError", "DELETE needs a resource and a name");
      const body = bodyOf(req);
      if (!isJsonObject(body.toString("utf8"))) return fail(req, 500, "InternalError", "DELETE needs a JSON DeleteOptions body");
      const denied = await requireManaged();
      if (denied) return denied;
      // Upstream sends no body for DELETE, which kubectl delete cannot decode ("unexpected end of JSON
      // input"); we pass the API server's answer (the object or a Status) through, as a direct call would.
      return fromReply(req, await call({ method: "DELETE", path: objectPath, body, contentType: "application/json" }));
    }
    default:
      return fail(req, 500, "InternalError", `method ${String(method)} is not supported`);
  }
}

function isJsonObject(text: string): boolean {
  try {
    const v = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v);
  } catch {
    return false;
  }
}

type Call = (r: Omit<KubeRequest, "signal" | "maxResponseBytes">) => Promise<KubeReply>;

/** Discovery as client-go's ServerGroups / ServerResourcesForGroupVersion give it. */
async function discovery(req: ResourceRequest, gvr: { group: string; version: string }, call: Call): Promise<ResourceResponse> {
  if (gvr.version) return fromReply(req, await call({ method: "GET", path: gvr.group ? `/apis/${gvr.group}/${gvr.version}` : `/api/${gvr.version}` }));
  const legacy = await call({ method: "GET", path: "/api" });
  if (legacy.status !== 200) return fromReply(req, legacy);
  const groups = await call({ method: "GET", path: "/apis" });
  if (groups.status !== 200) return fromReply(req, groups);
  const versions = (JSON.parse(legacy.text) as { versions?: string[] }).versions ?? [];
  const list = JSON.parse(groups.text) as { groups?: unknown[] };
  const core = versions.length
    ? [{ name: "", versions: versions.map((v) => ({ groupVersion: v, version: v })), preferredVersion: { groupVersion: versions[0], version: versions[0] } }]
    : [];
  return { uuid: req.uuid, status: 200, resource: JSON.stringify({ kind: "APIGroupList", apiVersion: "v1", groups: [...core, ...(list.groups ?? [])] }) };
}
