/**
 * `ctl agent create <name>`: writes the Argo CD cluster Secret for one agent
 * (cluster-secret.ts) with a client certificate CN=<name> issued by the CA in
 * `argocd-agent-ca`, or taken from existing Secrets (`--tls-from-secret`,
 * `--ca-from-secret`), as upstream (operations.md §1.2, §1.4). Argo CD's
 * server then reaches the agent's cluster through the resource proxy.
 *
 * @example
 *   await agentCreate(ctx, "prod-1", { resourceProxyServer: "argocd-agent-resource-proxy:9090", labels: [], days: 180 });
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import { agentNameError, clusterSecret, resourceProxyAddressError } from "./cluster-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { issueAgentClientCert } from "./agent-client-cert.ts";
import { DEFAULT_KEY_ALGORITHM, DEFAULT_RSA_BITS, type KeyGenOptions } from "./key-flags.ts";
import { readSecret, writeSecret } from "./pki.ts";
import { tlsSecretFields } from "../kube/tls-secret.ts";

export interface AgentCreateOptions {
  resourceProxyServer: string;
  labels: string[];
  tlsFromSecret?: string;
  caFromSecret?: string;
  days: number;
  /** Key of the issued client certificate (pki-keys.ts); unused with --tls-from-secret. */
  key?: KeyGenOptions;
}

function parseLabels(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const i = item.indexOf("=");
    if (i <= 0) throw new CtlError(`--label "${item}" is not key=value`, 2);
    const k = item.slice(0, i);
    if (k in out) throw new CtlError(`--label ${k} given twice`, 2);
    out[k] = item.slice(i + 1);
  }
  return out;
}

function secretRef(ref: string, defaultNs: string): { namespace: string; name: string } {
  const [a, b] = ref.split("/", 2);
  return b === undefined ? { namespace: defaultNs, name: a! } : { namespace: a!, name: b };
}

async function existingTls(ctx: CtlContext, tlsRef: string, caRef: string): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const ns = ctx.globals.principalNamespace;
  const read = async (ref: string) => {
    const r = secretRef(ref, ns);
    const s = await readSecret(ctx, r.name, r.namespace);
    if (!s) throw new CtlError(`Secret ${r.namespace}/${r.name} does not exist`);
    return { s, where: `${r.namespace}/${r.name}` };
  };
  const tls = await read(tlsRef);
  const ca = await read(caRef);
  const { cert: certPem = "", key: keyPem = "" } = tlsSecretFields(tls.s);
  const caPem = tlsSecretFields(ca.s).ca ?? "";
  try {
    if (!new X509Certificate(certPem).checkPrivateKey(createPrivateKey(keyPem))) throw new Error("tls.key does not belong to tls.crt");
  } catch (err) {
    throw new CtlError(`Secret ${tls.where}: ${(err as Error).message}`);
  }
  if (!caPem) throw new CtlError(`Secret ${ca.where} has no ca.crt`);
  return { certPem, keyPem, caPem };
}

export async function agentCreate(ctx: CtlContext, name: string, o: AgentCreateOptions): Promise<void> {
  const bad = agentNameError(name) ?? resourceProxyAddressError(o.resourceProxyServer);
  if (bad) throw new CtlError(bad, 2);
  if (Boolean(o.tlsFromSecret) !== Boolean(o.caFromSecret)) throw new CtlError("--tls-from-secret and --ca-from-secret go together", 2);
  const labels = parseLabels(o.labels);
  const ns = ctx.globals.principalNamespace;
  if (await readSecret(ctx, `cluster-${name}`)) throw new CtlError(`Agent ${name} exists.`);
  let material: { certPem: string; keyPem: string; caPem: string };
  if (o.tlsFromSecret && o.caFromSecret) {
    material = await existingTls(ctx, o.tlsFromSecret, o.caFromSecret);
  } else {
    material = await issueAgentClientCert(ctx, name, o.days, o.key ?? { algorithm: DEFAULT_KEY_ALGORITHM, rsaBits: DEFAULT_RSA_BITS });
  }
  const secret = clusterSecret({ agent: name, namespace: ns, resourceProxy: o.resourceProxyServer, labels, ...material });
  await writeSecret(ctx, secret, false, `Agent ${name} exists.`);
  ctx.out(`Agent ${name} created`);
}
