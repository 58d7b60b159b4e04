/**
 * Discovery replies as a real API server gives them. Upstream agents answer
 * `/api` and `/apis` alike with client-go's ServerGroups() (an APIGroupList
 * with the legacy core group first), because the request event cannot say
 * which of the two was asked. The principal knows, so it turns `/api` into
 * the APIVersions object kubectl and client-go expect there, and drops the
 * core group from `/apis`; with a Go agent or ours alike. `/version` is a
 * fixed reply with upstream's capitalised keys.
 *
 * @example
 *   reshapeDiscovery(matchResourcePath("/api")!, agentReplyText) // '{"kind":"APIVersions","versions":["v1"],…}'
 */
import type { ResourcePath } from "./paths.ts";

interface ApiGroup {
  name?: string;
  versions?: { groupVersion?: string; version?: string }[];
}

export function reshapeDiscovery(path: ResourcePath, body: string): string {
  if (path.resource !== "" || path.version !== "" || body === "") return body;
  let doc: { kind?: string; groups?: ApiGroup[] };
  try {
    doc = JSON.parse(body);
  } catch {
    return body;
  }
  // A Go agent's ServerGroups() reply goes through ToUnstructured and has no kind: a groups array is enough.
  if (!doc || (doc.kind !== undefined && doc.kind !== "APIGroupList") || !Array.isArray(doc.groups)) return body;
  const core = doc.groups.filter((g) => (g.name ?? "") === "");
  if (path.legacy) {
    const versions = core.flatMap((g) => (g.versions ?? []).map((v) => v.version ?? v.groupVersion ?? "")).filter(Boolean);
    return JSON.stringify({ kind: "APIVersions", versions: versions.length ? versions : ["v1"], serverAddressByClientCIDRs: [] });
  }
  return JSON.stringify({ kind: "APIGroupList", apiVersion: "v1", ...doc, groups: doc.groups.filter((g) => (g.name ?? "") !== "") });
}

/** `/version`, as upstream's proxy answers it (principal/server.go proxyVersion). */
export function versionBody(): string {
  return JSON.stringify(
    {
      Major: "1",
      Minor: "28",
      GitVersion: "1.28.5+argocd-agent",
      GitCommit: "841856557ef0f6a399096c42635d114d6f2cf7f4",
      GitTreeState: "clean",
      BuildDate: "n/a",
      GoVersion: `node${process.versions.node}`,
      Compiler: "v8",
      Platform: `${process.platform}/${process.arch === "x64" ? "amd64" : process.arch}`,
    },
    null,
    2,
  );
}
