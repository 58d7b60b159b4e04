/**
 * The ctl PKI's storage in the principal namespace (operations.md §1.2,
 * §1.3): reading and writing Secrets for the `pki`, `jwt` and `agent`
 * commands, the CA Secret `argocd-agent-ca` (kubernetes.io/tls) as a signing
 * pair, and `pki init`, which creates it. The certificate profiles are in
 * pki-certificates.ts, the key flags in pki-keys.ts, the other `pki`
 * commands in pki-issue.ts and pki-inspect.ts. CAs made by upstream (RSA) or
 * by us (any `--key-algorithm`) load alike.
 *
 * @example
 *   await pkiInit(ctx, { force: false, days: 3650, key: { algorithm: "rsa", rsaBits: 4096 } });
 *   const ca = await readCa(ctx);   // for issuing certificates
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import { getSecret, putSecret, readTlsSecret, tlsSecretBody, TLS_SECRET_TYPE } from "../kube/tls-secret.ts";
import type { CertificateAuthority } from "../transport/certificates.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { createCaCertificate } from "./pki-certificates.ts";
import type { KeyGenOptions } from "./key-flags.ts";
import { loadSigningPair, type SigningPair } from "./pki-keys.ts";

export const CA_SECRET = "argocd-agent-ca";
export const PRINCIPAL_TLS_SECRET = "argocd-agent-principal-tls";
export const RESOURCE_PROXY_TLS_SECRET = "argocd-agent-resource-proxy-tls";
/** In the agent's cluster: its client certificate, and the CA it verifies the principal with. */
export const AGENT_CLIENT_TLS_SECRET = "argocd-agent-client-tls";
export const AGENT_CA_SECRET = "argocd-agent-ca";

const failed = (what: string, err: unknown) => new CtlError(`${what}: ${(err as Error).message}`);

/** A Secret (principal cluster unless `kube` says otherwise), or undefined when missing. */
export async function readSecret(ctx: CtlContext, name: string, namespace = ctx.globals.principalNamespace, kube: KubeClient = ctx.kube()): Promise<V1Secret | undefined> {
  try {
    return await getSecret(kube, namespace, name);
  } catch (err) {
    throw failed(`reading Secret ${namespace}/${name}`, err);
  }
}

/** Creates the Secret, or replaces it when `replace`; refuses an existing one otherwise (message `exists`). */
export async function writeSecret(ctx: CtlContext, secret: V1Secret, replace: boolean, exists: string, kube: KubeClient = ctx.kube()): Promise<"created" | "updated"> {
  const where = `${secret.metadata!.namespace}/${secret.metadata!.name}`;
  let result: Awaited<ReturnType<typeof putSecret>>;
  try {
    result = await putSecret(kube, secret, { replace });
  } catch (err) {
    throw failed(`writing Secret ${where}`, err);
  }
  if (result === "exists") throw new CtlError(exists);
  return result;
}

/** The CA from `argocd-agent-ca`, able to sign (any key type pki init makes, or upstream's RSA). */
export async function readCa(ctx: CtlContext): Promise<CertificateAuthority & SigningPair> {
  const ns = ctx.globals.principalNamespace;
  const where = `Secret ${ns}/${CA_SECRET}`;
  let s;
  try {
    s = await readTlsSecret(ctx.kube(), ns, CA_SECRET);
  } catch (err) {
    throw failed(`reading ${where}`, err);
  }
  if (!s) throw new CtlError(`CA not configured: ${where} does not exist (run: argocd-agent ctl pki init)`);
  if (s.type !== TLS_SECRET_TYPE) throw new CtlError(`${where} is not a TLS secret (type "${s.type}", want ${TLS_SECRET_TYPE})`);
  if (!s.cert || !s.key) throw new CtlError(`${where} needs tls.crt and tls.key`);
  try {
    const pair = await loadSigningPair(s.cert, s.key);
    return { name: pair.certificate.subject, cert: s.cert, key: s.key, ...pair };
  } catch (err) {
    throw failed(where, err);
  }
}

export async function pkiInit(ctx: CtlContext, o: { force: boolean; days: number; key: KeyGenOptions }): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const exists = `CA secret ${ns}/${CA_SECRET} exists; use --force to replace it`;
  if (!o.force && (await readSecret(ctx, CA_SECRET))) throw new CtlError(exists);
  ctx.out("Generating CA and storing it in secret");
  const ca = await createCaCertificate(CA_SECRET, o.days, o.key);
  await writeSecret(ctx, tlsSecretBody(CA_SECRET, ns, ca), o.force, exists);
  ctx.out(`Success. CA data stored in secret ${ns}/${CA_SECRET}`);
}
