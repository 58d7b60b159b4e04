/**
 * `ctl agent reconfigure <name>` and `ctl agent delete <name>` (operations.md
 * §1.2): change an agent's cluster Secret in place — resource proxy address,
 * basic-auth credentials, a freshly issued client certificate — or remove it.
 * Reconfigure writes only when something changed and keeps whatever else the
 * Secret holds (labels, annotations, extra config fields). Unlike upstream,
 * `--resource-proxy-server host:port` is stored as `create` stores it,
 * `https://<host:port>?agentName=<name>`; a value that already starts with
 * `https://` is taken as the full server URL. Upstream has no `agent delete`.
 *
 * @example
 *   await agentReconfigure(ctx, "prod-1", { resourceProxyServer: "rp.example:9090", reissueClientCert: true, days: 90 });
 *   await agentDelete(ctx, "prod-1", { force: true });
 */
import { SECRET_TYPE_LABEL, agentServerUrl, resourceProxyAddressError, setClusterTls, withCluster } from "./cluster-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { issueAgentClientCert } from "./agent-client-cert.ts";
import { loadAgentCluster } from "./agent-inspect.ts";
import { DEFAULT_KEY_ALGORITHM, DEFAULT_RSA_BITS, type KeyGenOptions } from "./key-flags.ts";
import { readSecret } from "./pki.ts";
import { stdinAnswers } from "./stdin-answers.ts";

export interface AgentReconfigureOptions {
  resourceProxyServer?: string;
  resourceProxyUsername?: string;
  resourceProxyPassword?: string;
  reissueClientCert?: boolean;
  /** Validity of a reissued certificate; only with reissueClientCert. */
  days?: number;
  /** Key of a reissued certificate (pki-keys.ts). */
  key?: KeyGenOptions;
}

/** The server URL for `--resource-proxy-server`: a full https URL as given, else host:port made into create's form. */
function serverFor(value: string, agent: string): string {
  if (value.startsWith("https://")) {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      throw new CtlError(`--resource-proxy-server: "${value}" is not a URL`, 2);
    }
    if (!url.searchParams.get("agentName")) throw new CtlError(`--resource-proxy-server: "${value}" has no agentName query parameter`, 2);
    return value.replace(/\/+$/, "");
  }
  const bad = resourceProxyAddressError(value);
  if (bad) throw new CtlError(`--resource-proxy-server: ${bad} (give host:port or a full https:// URL)`, 2);
  return agentServerUrl(value, agent);
}

export async function agentReconfigure(ctx: CtlContext, name: string, o: AgentReconfigureOptions): Promise<void> {
  if (o.days !== undefined && !o.reissueClientCert) throw new CtlError("--days is only used with --reissue-client-cert", 2);
  const server = o.resourceProxyServer ? serverFor(o.resourceProxyServer, name) : undefined;
  const found = await loadAgentCluster(ctx, name);
  if (!found) throw new CtlError(`No configuration found for agent ${name}`);
  const { secret, cluster } = found;
  let changed = false;
  if (server && server !== cluster.server) {
    ctx.out("Setting new server address");
    cluster.server = server;
    changed = true;
  }
  if (o.resourceProxyUsername && o.resourceProxyUsername !== cluster.config.username) {
    ctx.out("Setting new username");
    cluster.config.username = o.resourceProxyUsername;
    changed = true;
  }
  if (o.resourceProxyPassword && o.resourceProxyPassword !== cluster.config.password) {
    ctx.out("Setting new password");
    cluster.config.password = o.resourceProxyPassword;
    changed = true;
  }
  if (o.reissueClientCert) {
    ctx.out("Reissuing client certificate");
    const m = await issueAgentClientCert(ctx, name, o.days ?? 180, o.key ?? { algorithm: DEFAULT_KEY_ALGORITHM, rsaBits: DEFAULT_RSA_BITS });
    setClusterTls(cluster, { cert: m.certPem, key: m.keyPem, ca: m.caPem });
    changed = true;
  }
  if (!changed) {
    ctx.out("Nothing to change");
    return;
  }
  const namespace = ctx.globals.principalNamespace;
  try {
    // The read's resourceVersion rides along: a concurrent change makes this fail instead of being overwritten.
    await ctx.kube().core.replaceNamespacedSecret({ name: `cluster-${name}`, namespace, body: withCluster(secret, cluster) });
  } catch (err) {
    throw new CtlError(`Unable to save cluster secret ${namespace}/cluster-${name}: ${(err as Error).message}`);
  }
  ctx.out("Cluster configuration saved");
}

export async function agentDelete(ctx: CtlContext, name: string, o: { force: boolean }): Promise<void> {
  const namespace = ctx.globals.principalNamespace;
  const secret = await readSecret(ctx, `cluster-${name}`);
  if (!secret) throw new CtlError(`No such agent configured: ${name}`);
  if (secret.metadata?.labels?.[SECRET_TYPE_LABEL] !== "cluster") {
    throw new CtlError(`Secret ${namespace}/cluster-${name} is not an Argo CD cluster Secret; not deleting it`);
  }
  if (!o.force) {
    const answers = stdinAnswers();
    const answer = await answers.ask(`Really delete agent ${name} (Secret ${namespace}/cluster-${name})? [y/N]: `);
    answers.close();
    if (answer?.trim().toLowerCase() !== "y") {
      ctx.out("Aborted.");
      return;
    }
  }
  try {
    await ctx.kube().core.deleteNamespacedSecret({ name: `cluster-${name}`, namespace, body: { preconditions: { uid: secret.metadata?.uid } } });
  } catch (err) {
    throw new CtlError(`Unable to delete Secret ${namespace}/cluster-${name}: ${(err as Error).message}`);
  }
  ctx.out(`Agent ${name} deleted`);
}
