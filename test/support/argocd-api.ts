/**
 * A tiny client of argocd-server's REST API (what the `argocd` CLI and the UI use), so tests
 * and the demo can ask Argo CD itself what it sees and request syncs the way users do. Logs in
 * as a local user (POST /api/v1/session) and sends the token as a bearer header.
 *
 * @example
 *   const api = new ArgoCdApi("http://127.0.0.1:8080", "admin", "password");
 *   await api.login();
 *   const app = await api.getApp("guestbook", "agent-managed");    // Application JSON or undefined
 *   await api.sync("guestbook", "agent-managed");                   // sets .operation at the hub
 */
import type { Application } from "../../src/kube/resources.ts";

export class ArgoCdApi {
  readonly url: string;
  private readonly username: string;
  private readonly password: string;
  private token = "";

  constructor(url: string, username: string, password: string) {
    this.url = url;
    this.username = username;
    this.password = password;
  }

  async login(): Promise<void> {
    const res = await fetch(`${this.url}/api/v1/session`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: this.username, password: this.password }),
    });
    if (!res.ok) throw new Error(`argocd-server login: HTTP ${res.status} ${await res.text()}`);
    this.token = ((await res.json()) as { token: string }).token;
  }

  /** The server's version (GET /api/version), e.g. "v3.5.1+unknown". */
  async version(): Promise<string> {
    return ((await this.call("GET", "/api/version")) as { Version: string }).Version;
  }

  /** The Application as argocd-server serves it, or undefined if it does not know it. */
  async getApp(name: string, appNamespace: string): Promise<Application | undefined> {
    return (await this.call("GET", `/api/v1/applications/${name}?appNamespace=${encodeURIComponent(appNamespace)}`, undefined, true)) as
      | Application
      | undefined;
  }

  /** Names ("namespace/name") of the Applications argocd-server lists. */
  async listApps(): Promise<string[]> {
    const list = (await this.call("GET", "/api/v1/applications")) as { items?: Application[] | null };
    return (list.items ?? []).map((a) => `${a.metadata.namespace}/${a.metadata.name}`).sort();
  }

  /** Requests a sync, like `argocd app sync <ns>/<name>`: argocd-server writes the operation. */
  async sync(name: string, appNamespace: string, revision?: string): Promise<Application> {
    return (await this.call("POST", `/api/v1/applications/${name}/sync`, { name, appNamespace, ...(revision ? { revision } : {}) })) as Application;
  }

  /** The app's resource tree (argocd-server reads it from redis: with agents, the redis proxy). */
  async resourceTree(name: string, appNamespace: string): Promise<{ nodes?: ResourceNode[] }> {
    return (await this.call("GET", `/api/v1/applications/${name}/resource-tree?appNamespace=${encodeURIComponent(appNamespace)}`)) as { nodes?: ResourceNode[] };
  }

  /** The managed resources (live and target state per resource), also from redis. */
  async managedResources(name: string, appNamespace: string): Promise<{ items?: { kind: string; name: string; liveState?: string }[] }> {
    return (await this.call("GET", `/api/v1/applications/${name}/managed-resources?appNamespace=${encodeURIComponent(appNamespace)}`)) as {
      items?: { kind: string; name: string; liveState?: string }[];
    };
  }

  /** A resource's live manifest as the UI shows it (argocd-server reads it from the cluster: with agents, the resource proxy). */
  async liveManifest(app: string, appNamespace: string, r: ResourceRef): Promise<Record<string, unknown>> {
    const out = (await this.call("GET", `/api/v1/applications/${app}/resource?${resourceQuery(appNamespace, r)}`)) as { manifest: string };
    return JSON.parse(out.manifest) as Record<string, unknown>;
  }

  /** Names of the resource actions available for a resource. */
  async actions(app: string, appNamespace: string, r: ResourceRef): Promise<string[]> {
    const out = (await this.call("GET", `/api/v1/applications/${app}/resource/actions?${resourceQuery(appNamespace, r)}`)) as { actions?: { name: string }[] };
    return (out.actions ?? []).map((a) => a.name);
  }

  /** Runs a resource action (e.g. "restart" on a Deployment), as the UI's action menu does. */
  async runAction(app: string, appNamespace: string, r: ResourceRef, action: string): Promise<void> {
    await this.call("POST", `/api/v1/applications/${app}/resource/actions/v2`, {
      name: app, appNamespace, namespace: r.namespace, resourceName: r.name, version: r.version, kind: r.kind, group: r.group ?? "", action, resourceActionParameters: [],
    });
  }

  /**
   * Pod logs as the UI's log viewer reads them (`argocd app logs`): GET /api/v1/applications/{app}/logs,
   * streamed as newline-delimited JSON, one `{"result": LogEntry}` per line, `{"error": …}` on failure.
   * Yields entries as they arrive (the final `last: true` entry included); `signal` ends a followed stream.
   */
  async *podLogs(app: string, appNamespace: string, q: PodLogsQuery, signal?: AbortSignal): AsyncGenerator<LogEntry> {
    if (!this.token) await this.login();
    const params = new URLSearchParams({ appNamespace });
    for (const [k, v] of Object.entries(q)) if (v !== undefined) params.set(k, String(v));
    const res = await fetch(`${this.url}/api/v1/applications/${app}/logs?${params}`, { headers: { authorization: `Bearer ${this.token}` }, signal: signal ?? AbortSignal.timeout(30_000) });
    if (!res.ok || !res.body) throw new Error(`argocd-server GET logs: HTTP ${res.status} ${await res.text()}`);
    let buf = "";
    const decoder = new TextDecoder();
    for await (const chunk of res.body) {
      buf += decoder.decode(chunk as Uint8Array, { stream: true });
      for (let nl = buf.indexOf("\n"); nl >= 0; nl = buf.indexOf("\n")) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as { result?: LogEntry; error?: { message?: string } };
        if (msg.error) throw new Error(`argocd-server logs: ${msg.error.message ?? line}`);
        if (msg.result) yield msg.result;
      }
    }
  }

  /** The session token (a WebSocket such as /terminal sends it as the `argocd.token` cookie). */
  async sessionToken(): Promise<string> {
    if (!this.token) await this.login();
    return this.token;
  }

  /** Raw GET (for streaming endpoints such as pod logs). */
  async raw(path: string): Promise<Response> {
    if (!this.token) await this.login();
    return fetch(`${this.url}${path}`, { headers: { authorization: `Bearer ${this.token}` }, signal: AbortSignal.timeout(30_000) });
  }

  private async call(method: string, path: string, body?: unknown, allow404 = false): Promise<unknown> {
    if (!this.token) await this.login();
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body ? { "content-type": "application/json" } : {}) },
      body: body ? JSON.stringify(body) : undefined,
      signal: AbortSignal.timeout(20_000),
    });
    // argocd-server answers 403 (not 404) for apps it does not know, so as not to reveal them.
    if (allow404 && (res.status === 404 || res.status === 403)) return undefined;
    if (!res.ok) throw new Error(`argocd-server ${method} ${path}: HTTP ${res.status} ${await res.text()}`);
    return res.json();
  }
}

export interface ResourceRef {
  group?: string;
  version: string;
  kind: string;
  namespace: string;
  name: string;
}

/** Query of GET /api/v1/applications/{name}/logs (ApplicationPodLogsQuery). */
export interface PodLogsQuery {
  namespace?: string;
  podName?: string;
  container?: string;
  tailLines?: number;
  sinceSeconds?: number;
  follow?: boolean;
  previous?: boolean;
  filter?: string;
}

/** One streamed log line (LogEntry); the stream ends with `last: true` and empty content. */
export interface LogEntry {
  content?: string;
  podName?: string;
  timeStampStr?: string;
  last?: boolean;
}

export interface ResourceNode {
  group?: string;
  version: string;
  kind: string;
  namespace?: string;
  name: string;
  uid?: string;
}

function resourceQuery(appNamespace: string, r: ResourceRef): string {
  return new URLSearchParams({ appNamespace, namespace: r.namespace, resourceName: r.name, version: r.version, kind: r.kind, group: r.group ?? "" }).toString();
}
