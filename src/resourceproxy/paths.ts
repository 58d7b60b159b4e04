/**
 * The resource proxy's URL grammar (live-resources.md §2.4): which Kubernetes
 * API path a request names, as group/version/namespace/resource/name/sub.
 * Matching is on the path only; `/version` is served by the principal itself.
 *
 * @example
 *   matchResourcePath("/apis/apps/v1/namespaces/ns/deployments/d/status")
 *   // → { kind: "resource", group: "apps", version: "v1", namespace: "ns", resource: "deployments", name: "d", subresource: "status" }
 *   matchResourcePath("/openapi/v2") // → undefined (400)
 */

export interface ResourcePath {
  kind: "resource";
  /** "" for the core group (`/api/...`). */
  group: string;
  /** "" for `/api` and `/apis` (discovery of groups). */
  version: string;
  namespace: string;
  resource: string;
  name: string;
  subresource: string;
  /** True for `/api` and `/api/{version}` (legacy prefix): the principal shapes their discovery replies. */
  legacy: boolean;
}

export type ProxyPath = ResourcePath | { kind: "version" };

const SEG = "[^/]+";
const TAIL = `(?:/(?:namespaces/(?<namespace>${SEG})/(?=${SEG}))?(?:(?<resource>${SEG})(?:/(?<name>${SEG})(?:/(?<subresource>${SEG}))?)?)?)?`;
const CORE = new RegExp(`^/api(?:/(?<version>v${"[^/]*"})${TAIL})?$`);
const GROUPS = new RegExp(`^/apis(?:/(?<group>${SEG})/(?<version>v${"[^/]*"})${TAIL})?$`);

/** Parses a request path; undefined when it matches nothing (the proxy answers 400). */
export function matchResourcePath(path: string): ProxyPath | undefined {
  if (path === "/version") return { kind: "version" };
  const core = CORE.exec(path);
  const m = core ?? GROUPS.exec(path);
  if (!m) return undefined;
  const g = m.groups ?? {};
  return {
    kind: "resource",
    group: g.group ?? "",
    version: g.version ?? "",
    namespace: g.namespace ?? "",
    resource: g.resource ?? "",
    name: g.name ?? "",
    subresource: g.subresource ?? "",
    legacy: core !== null,
  };
}

/** Methods the resource pattern accepts (compared case-insensitively); others get 403. */
export const RESOURCE_METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PATCH", "DELETE"]);

/** The API path of an object or collection, for the agent's own API server. */
export function apiPath(p: { group: string; version: string; namespace?: string; resource: string; name?: string; subresource?: string }): string {
  const base = p.group ? `/apis/${p.group}/${p.version}` : `/api/${p.version}`;
  const ns = p.namespace ? `/namespaces/${encodeURIComponent(p.namespace)}` : "";
  const name = p.name ? `/${encodeURIComponent(p.name)}` : "";
  const sub = p.name && p.subresource ? `/${encodeURIComponent(p.subresource)}` : "";
  return `${base}${ns}/${p.resource}${name}${sub}`;
}
