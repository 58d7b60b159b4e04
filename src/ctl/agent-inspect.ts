/**
 * The read-only `ctl agent` commands (operations.md §1.2, §1.5): `list` (agents
 * = Secrets carrying the agent-name label), `inspect` (server, name, validity
 * and SHA-256 fingerprint of the client certificate in `cluster-<name>`) and
 * `print-tls` (one PEM asset of that Secret). They read any cluster Secret in
 * Argo CD's format, including those written by upstream's argocd-agentctl.
 *
 * @example
 *   await agentList(ctx, ["env=prod"]);            // prints one agent name per line
 *   await agentInspect(ctx, "prod-1", "yaml");
 *   await agentPrintTls(ctx, "prod-1", "ca");
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import { AGENT_NAME_LABEL, clusterTlsAsset, readClusterSecret, type AgentCluster, type TlsAsset } from "./cluster-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { readSecret } from "./pki.ts";
import { goTimeJson, goTimeText, renderRecord, type OutputFormat } from "./text-table.ts";

/** `cluster-<name>` and its parsed cluster, or undefined when the Secret does not exist. */
export async function loadAgentCluster(ctx: CtlContext, name: string): Promise<{ secret: V1Secret; cluster: AgentCluster } | undefined> {
  const secret = await readSecret(ctx, `cluster-${name}`);
  if (!secret) return undefined;
  try {
    return { secret, cluster: readClusterSecret(secret) };
  } catch (err) {
    throw new CtlError(`Unable to load agent configuration: ${(err as Error).message}`);
  }
}

export async function agentList(ctx: CtlContext, selectors: string[]): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const labelSelector = [...selectors, AGENT_NAME_LABEL].join(",");
  let secrets: V1Secret[];
  try {
    secrets = (await ctx.kube().core.listNamespacedSecret({ namespace: ns, labelSelector })).items;
  } catch (err) {
    throw new CtlError(`Could not list secrets in ${ns}: ${(err as Error).message}`);
  }
  if (!secrets.length) throw new CtlError("No agents found.");
  for (const s of secrets) ctx.out(s.metadata!.name!.replace(/^cluster-/, ""));
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

/** The single client certificate of the cluster, checked against its key as Go's X509KeyPair does. */
function clientCertificate(c: AgentCluster): X509Certificate {
  const certPem = clusterTlsAsset(c, "cert");
  const blocks = certPem.match(PEM_CERT) ?? [];
  if (!blocks.length) throw new CtlError("Not a valid certificate: no certificate in certData");
  if (blocks.length > 1) throw new CtlError(`Certificate chain contains ${blocks.length} entries, but only 1 is expected. Please ensure the secret contains a single certificate.`);
  try {
    const cert = new X509Certificate(blocks[0]!);
    if (!cert.checkPrivateKey(createPrivateKey(clusterTlsAsset(c, "key")))) throw new Error("private key does not match public key");
    return cert;
  } catch (err) {
    throw new CtlError(`Not a valid certificate: ${(err as Error).message}`);
  }
}

const INSPECT_LABELS = {
  server: "Server address",
  name: "Server name",
  notValidBefore: "Not valid before",
  notValidAfter: "Not valid after",
  fingerprint: "Fingerprint (SHA-256)",
};

export async function agentInspect(ctx: CtlContext, name: string, format: OutputFormat): Promise<void> {
  const found = await loadAgentCluster(ctx, name);
  if (!found) throw new CtlError(`No such agent configured: ${name}`);
  const cert = clientCertificate(found.cluster);
  const from = cert.validFromDate;
  const to = cert.validToDate;
  const record = {
    server: found.cluster.server,
    name: found.cluster.name,
    notValidBefore: goTimeJson(from),
    notValidAfter: goTimeJson(to),
    fingerprint: cert.fingerprint256.replaceAll(":", "").toUpperCase(),
  };
  ctx.out(renderRecord(record, INSPECT_LABELS, format, { notValidBefore: goTimeText(from), notValidAfter: goTimeText(to) }));
}

export async function agentPrintTls(ctx: CtlContext, name: string, asset: TlsAsset): Promise<void> {
  const found = await loadAgentCluster(ctx, name);
  if (!found) throw new CtlError(`Agent '${name}' is not configured.`);
  const pem = clusterTlsAsset(found.cluster, asset);
  if (!pem) throw new CtlError(`Agent '${name}' has no ${asset} in its cluster Secret`);
  ctx.out(pem.replace(/\n$/, ""));
}
