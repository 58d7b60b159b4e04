/**
 * `ctl pki issue principal|resource-proxy|agent` and `ctl pki propagate`
 * (operations.md §1.2): certificates signed by the CA in `argocd-agent-ca`
 * written to `kubernetes.io/tls` Secrets, and the CA certificate copied to
 * the agent's cluster as `argocd-agent-ca` (Opaque, `ca.crt`), which is what
 * our principal and agent load at start (`--tls-secret-name`,
 * `--tls-ca-secret-name`, `--root-ca-secret-name`).
 *
 * @example
 *   await pkiIssuePrincipal(ctx, { ips: ["127.0.0.1"], dns: ["localhost"], upsert: false, days: 180, key });
 *   await pkiIssueAgent(ctx, "agent-1", { upsert: false, sameContext: false, days: 180, key });
 */
import type { KubeClient } from "../kube/client.ts";
import { caBundleSecretBody, putSecret, tlsSecretBody } from "../kube/tls-secret.ts";
import { agentNameError } from "./cluster-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { checkIps, issueClientCertificate, issueServerCertificate, PRINCIPAL_CN, RESOURCE_PROXY_CN, type IssuedPem } from "./pki-certificates.ts";
import type { KeyGenOptions } from "./key-flags.ts";
import {
  AGENT_CA_SECRET, AGENT_CLIENT_TLS_SECRET, PRINCIPAL_TLS_SECRET, readCa, readSecret, RESOURCE_PROXY_TLS_SECRET, writeSecret,
} from "./pki.ts";

type CertificateAuthority = Awaited<ReturnType<typeof readCa>>;

export interface IssueOptions {
  upsert: boolean;
  days: number;
  key: KeyGenOptions;
}

export interface ServerIssueOptions extends IssueOptions {
  ips: string[];
  dns: string[];
}

interface Target {
  kube: KubeClient;
  namespace: string;
  name: string;
}

/** Reads the CA, issues with it and stores the result; refuses to replace without --upsert. */
async function issueIntoSecret(ctx: CtlContext, to: Target, upsert: boolean, issue: (ca: CertificateAuthority) => Promise<IssuedPem>): Promise<CertificateAuthority> {
  const exists = "Certificate exists, please use --upsert to reissue.";
  const ca = await readCa(ctx);
  // Refuse before generating a key (RSA-4096 takes a while).
  if (!upsert && (await readSecret(ctx, to.name, to.namespace, to.kube))) throw new CtlError(exists);
  const leaf = await issue(ca);
  const what = await writeSecret(ctx, tlsSecretBody(to.name, to.namespace, leaf), upsert, exists, to.kube);
  ctx.out(what === "created" ? `Secret ${to.namespace}/${to.name} created` : `Secret ${to.namespace}/${to.name} updated.`);
  return ca;
}

export async function pkiIssuePrincipal(ctx: CtlContext, o: ServerIssueOptions): Promise<void> {
  checkIps(o.ips);
  const to = { kube: ctx.kube(), namespace: ctx.globals.principalNamespace, name: PRINCIPAL_TLS_SECRET };
  await issueIntoSecret(ctx, to, o.upsert, (ca) => issueServerCertificate(ca, PRINCIPAL_CN, o));
}

export async function pkiIssueResourceProxy(ctx: CtlContext, o: ServerIssueOptions & { noSan: boolean }): Promise<void> {
  if (!o.ips.length && !o.dns.length && !o.noSan) {
    throw new CtlError("Please pass at least one of --ip or --dns options or use --no-san to create certificate without SAN", 2);
  }
  checkIps(o.ips);
  const to = { kube: ctx.kube(), namespace: ctx.globals.principalNamespace, name: RESOURCE_PROXY_TLS_SECRET };
  await issueIntoSecret(ctx, to, o.upsert, (ca) => issueServerCertificate(ca, RESOURCE_PROXY_CN, o));
}

/** Both clusters named, and different unless the command allows the same one (exit 2). */
function requireTwoContexts(ctx: CtlContext, sameContextAllowed: boolean): void {
  const { principalContext, agentContext } = ctx.globals;
  if (!principalContext || !agentContext) {
    throw new CtlError("both the principal's and the agent's kube context must be set (--principal-context/--principal and --agent-context/--agent)", 2);
  }
  if (principalContext === agentContext && !sameContextAllowed) {
    throw new CtlError(`--principal-context and --agent-context are the same context "${agentContext}"; the PKI and the agent usually live in different clusters (use --same-context if you really mean it)`, 2);
  }
}

/** Writes (creating or replacing) the agent's CA Secret; its `ca.crt` is the CA certificate. */
async function writeAgentCa(ctx: CtlContext, kube: KubeClient, namespace: string, caPem: string, replace: boolean): Promise<void> {
  let result: Awaited<ReturnType<typeof putSecret>>;
  try {
    result = await putSecret(kube, caBundleSecretBody(AGENT_CA_SECRET, namespace, caPem), { replace });
  } catch (err) {
    throw new CtlError(`writing agent CA Secret ${namespace}/${AGENT_CA_SECRET}: ${(err as Error).message}`);
  }
  if (result === "exists") throw new CtlError(`Agent CA secret ${namespace}/${AGENT_CA_SECRET} already exists; use --force to replace it`);
  ctx.out(`Agent CA secret ${namespace}/${AGENT_CA_SECRET} created`);
}

/**
 * The agent's client certificate (CN = agent name) into `argocd-agent-client-tls` in the
 * agent's cluster, then the CA certificate into `argocd-agent-ca` there (always replaced).
 * `agentNamespace` is the command's own --agent-namespace, when given.
 */
export async function pkiIssueAgent(ctx: CtlContext, name: string, o: IssueOptions & { sameContext: boolean; agentNamespace?: string }): Promise<void> {
  const bad = agentNameError(name);
  if (bad) throw new CtlError(bad, 2);
  requireTwoContexts(ctx, o.sameContext);
  const namespace = o.agentNamespace || ctx.globals.agentNamespace;
  const kube = ctx.agentKube();
  const ca = await issueIntoSecret(ctx, { kube, namespace, name: AGENT_CLIENT_TLS_SECRET }, o.upsert, (c) => issueClientCertificate(c, name, o));
  await writeAgentCa(ctx, kube, namespace, ca.cert, true);
}

/** Copies the CA certificate (not its key) to the agent's cluster. */
export async function pkiPropagate(ctx: CtlContext, o: { force: boolean }): Promise<void> {
  requireTwoContexts(ctx, false);
  const ca = await readCa(ctx);
  await writeAgentCa(ctx, ctx.agentKube(), ctx.globals.agentNamespace, ca.cert, o.force);
}
