/**
 * `ctl pki init` and `ctl pki issue resource-proxy`: the CA Secret
 * `argocd-agent-ca` (kubernetes.io/tls) and the resource proxy's server
 * certificate Secret `argocd-agent-resource-proxy-tls`, in the principal
 * namespace, as upstream's argocd-agentctl writes them (operations.md §1.2,
 * §1.5). Our keys are ECDSA P-256; CAs made by upstream (RSA) load too.
 *
 * @example
 *   await pkiInit(ctx, { force: false, days: 3650 });
 *   const ca = await readCa(ctx);   // for issuing client certificates
 */
import type { V1Secret } from "@kubernetes/client-node";
import { apiStatusCode } from "../kube/crud.ts";
import { createCa, issueCertificate, loadCa, type CertificateAuthority } from "../transport/certificates.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";

export const CA_SECRET = "argocd-agent-ca";
export const RESOURCE_PROXY_TLS_SECRET = "argocd-agent-resource-proxy-tls";

const b64 = (s: string) => Buffer.from(s).toString("base64");
const unb64 = (s: string | undefined) => (s ? Buffer.from(s, "base64").toString("utf8") : "");

export async function readSecret(ctx: CtlContext, name: string, namespace = ctx.globals.principalNamespace): Promise<V1Secret | undefined> {
  try {
    return await ctx.kube().core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (apiStatusCode(err) === 404) return undefined;
    throw new CtlError(`reading Secret ${namespace}/${name}: ${(err as Error).message}`);
  }
}

/** Creates the Secret, or replaces it when `replace`; refuses an existing one otherwise. */
export async function writeSecret(ctx: CtlContext, secret: V1Secret, replace: boolean, exists: string): Promise<"created" | "updated"> {
  const namespace = secret.metadata!.namespace!;
  const name = secret.metadata!.name!;
  const current = await readSecret(ctx, name, namespace);
  if (current && !replace) throw new CtlError(exists);
  try {
    if (current) {
      await ctx.kube().core.replaceNamespacedSecret({ name, namespace, body: { ...secret, metadata: { ...secret.metadata, resourceVersion: current.metadata?.resourceVersion } } });
      return "updated";
    }
    await ctx.kube().core.createNamespacedSecret({ namespace, body: secret });
    return "created";
  } catch (err) {
    throw new CtlError(`writing Secret ${namespace}/${name}: ${(err as Error).message}`);
  }
}

export function tlsSecret(name: string, namespace: string, cert: string, key: string): V1Secret {
  return { apiVersion: "v1", kind: "Secret", type: "kubernetes.io/tls", metadata: { name, namespace }, data: { "tls.crt": b64(cert), "tls.key": b64(key) } };
}

/** The CA from `argocd-agent-ca`, able to sign. */
export async function readCa(ctx: CtlContext): Promise<CertificateAuthority> {
  const ns = ctx.globals.principalNamespace;
  const s = await readSecret(ctx, CA_SECRET);
  if (!s) throw new CtlError(`CA not configured: Secret ${ns}/${CA_SECRET} does not exist (run: argocd-agent ctl pki init)`);
  const cert = unb64(s.data?.["tls.crt"]);
  const key = unb64(s.data?.["tls.key"]);
  if (!cert || !key) throw new CtlError(`Secret ${ns}/${CA_SECRET} needs tls.crt and tls.key`);
  try {
    return await loadCa(cert, key);
  } catch (err) {
    throw new CtlError(`Secret ${ns}/${CA_SECRET}: ${(err as Error).message}`);
  }
}

export async function pkiInit(ctx: CtlContext, o: { force: boolean; days: number }): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  ctx.out("Generating CA and storing it in secret");
  const ca = await createCa(CA_SECRET, o.days);
  await writeSecret(ctx, tlsSecret(CA_SECRET, ns, ca.cert, ca.key), o.force, `CA secret ${ns}/${CA_SECRET} exists; use --force to replace it`);
  ctx.out(`Success. CA data stored in secret ${ns}/${CA_SECRET}`);
}

export async function pkiIssueResourceProxy(ctx: CtlContext, o: { ips: string[]; dns: string[]; noSan: boolean; upsert: boolean; days: number }): Promise<void> {
  if (!o.ips.length && !o.dns.length && !o.noSan) throw new CtlError("give at least one --ip or --dns for the certificate (or --no-san)", 2);
  const ns = ctx.globals.principalNamespace;
  const ca = await readCa(ctx);
  const leaf = await issueCertificate(ca, { commonName: "argocd-agent-resource-proxy", dnsNames: o.dns, ipAddresses: o.ips, client: false, validDays: o.days });
  const what = await writeSecret(ctx, tlsSecret(RESOURCE_PROXY_TLS_SECRET, ns, leaf.cert, leaf.key), o.upsert, "Certificate exists, please use --upsert to reissue.");
  ctx.out(what === "created" ? `Secret ${ns}/${RESOURCE_PROXY_TLS_SECRET} created` : `Secret ${ns}/${RESOURCE_PROXY_TLS_SECRET} updated.`);
}
