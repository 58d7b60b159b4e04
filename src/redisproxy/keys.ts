/**
 * Which redis keys belong to an agent, and how the agent finds them in its own
 * redis (live-resources.md §3.4, §3.5). Only `app|managed-resources|…` and
 * `app|resources-tree|…` keys can go to an agent; their third field is
 * `<namespace>_<app>` (namespace mapping: the namespace is the agent) or
 * `<app>` (an app of the principal's namespace). Argo CD also writes sharded
 * resource trees, `app|resources-tree|<app>|<shard>|<version>`; upstream refuses
 * those (its split wants exactly 4 fields), we route them like shard 0.
 *
 * @example
 *   routeKey("app|resources-tree|agent-a_guestbook|1.8.3.gz", { principalNamespace: "argocd" });
 *   // { agent: "agent-a" }
 *   agentLocalKey("app|resources-tree|agent-a_guestbook|2|1.8.3.gz"); // "app|resources-tree|guestbook|2|1.8.3.gz"
 */

const AGENT_PREFIXES = ["app|managed-resources", "app|resources-tree"] as const;
const SHARD = /^\d+$/;

/** An app key split into its fields, or why it cannot be. */
function appKeyFields(key: string): string[] | { error: string } {
  const fields = key.split("|");
  if (fields.length === 4) return fields;
  if (fields.length === 5 && fields[1] === "resources-tree" && SHARD.test(fields[3]!)) return fields;
  return { error: `unexpected number of fields in key '${key}'` };
}

export interface RouteOptions {
  /** The principal's namespace: apps there have keys without `<ns>_`. */
  principalNamespace: string;
  /** Destination-based mapping: the agent of the app `<ns>/<name>` (undefined: a local app). */
  agentForApp?: (namespace: string, name: string) => string | undefined;
}

/** `{ agent }` for a key an agent answers, `{}` for one the hub's redis answers, `{ error }` for a malformed app key. */
export function routeKey(key: string, opts: RouteOptions): { agent?: string; error?: string } {
  if (!AGENT_PREFIXES.some((p) => key.startsWith(p))) return {};
  const fields = appKeyFields(key);
  if ("error" in fields) return fields;
  const nsAndName = fields[2]!;
  const cut = nsAndName.indexOf("_");
  if (opts.agentForApp) {
    const [namespace, name] = cut >= 0 ? [nsAndName.slice(0, cut), nsAndName.slice(cut + 1)] : [opts.principalNamespace, nsAndName];
    const agent = opts.agentForApp(namespace, name);
    return agent ? { agent } : {};
  }
  // Namespace mapping: no namespace in the key means an app of the principal's own namespace.
  if (cut < 0) return {};
  const agent = nsAndName.slice(0, cut);
  return agent ? { agent } : {};
}

/**
 * The key as the agent's Argo CD stores it (namespace mapping): `<ns>_` dropped
 * from the app field, because the agent's apps live in its own namespace.
 * git-refs/gitdirs/gitfiles keys pass unchanged; anything else is an error.
 */
export function agentLocalKey(key: string): string | { error: string } {
  if (key.startsWith("git-refs|") || key.startsWith("gitdirs|") || key.startsWith("gitfiles|")) return key;
  if (!AGENT_PREFIXES.some((p) => key.startsWith(p + "|"))) return { error: `unexpected redis key request: '${key}'` };
  const fields = appKeyFields(key);
  if ("error" in fields) return fields;
  const cut = fields[2]!.indexOf("_");
  if (cut < 0) return { error: `unexpected key format, missing '_': '${key}'` };
  fields[2] = fields[2]!.slice(cut + 1);
  return fields.join("|");
}
