/**
 * The shared client certificate of self-registered clusters
 * (`--self-registration-client-cert-secret`): a Secret in the principal
 * namespace with `tls.crt`, `tls.key` and `ca.crt`, all required, read anew at
 * every registration so that a renewed certificate reaches the cluster
 * secrets on the agents' next connect. Argo CD presents this certificate to
 * the resource proxy for every self-registered cluster; the bearer token
 * names the agent. Unlike upstream, the content is checked (a certificate, a
 * private key of that certificate, a CA certificate): a broken Secret would
 * only give Argo CD a cluster it cannot reach.
 *
 * @example
 *   const { cert, key, ca } = await readSharedClientCert(kube, "argocd", "argocd-agent-self-registration-tls");
 */
import { X509Certificate, createPrivateKey } from "node:crypto";
import type { KubeClient } from "../kube/client.ts";
import { apiStatusCode } from "../kube/crud.ts";
import { secrets } from "../kube/core-objects.ts";

export interface SharedClientCert {
  cert: Buffer;
  key: Buffer;
  ca: Buffer;
}

/** A registration step that failed; the message says what to fix. */
export class RegistrationError extends Error {
  override name = "RegistrationError";
}

export async function readSharedClientCert(kube: KubeClient, namespace: string, name: string): Promise<SharedClientCert> {
  const where = `Secret ${namespace}/${name} (--self-registration-client-cert-secret)`;
  let data: Record<string, string> | undefined;
  try {
    const secret = await secrets(kube).get(namespace, name);
    if (!secret) throw new RegistrationError(`cannot read ${where}: it does not exist`);
    data = secret.data ?? undefined;
  } catch (err) {
    if (err instanceof RegistrationError) throw err;
    const code = apiStatusCode(err);
    throw new RegistrationError(`cannot read ${where}: ${code === 404 ? "it does not exist" : code ? `HTTP ${code}` : (err as Error).message}`, { cause: err });
  }
  const field = (key: string): Buffer => {
    const v = data?.[key];
    if (!v) throw new RegistrationError(`${where} has no ${key}`);
    return Buffer.from(v, "base64");
  };
  const shared = { cert: field("tls.crt"), key: field("tls.key"), ca: field("ca.crt") };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(shared.cert);
  } catch (err) {
    throw new RegistrationError(`${where}: tls.crt is not a PEM certificate`, { cause: err });
  }
  let key;
  try {
    key = createPrivateKey(shared.key);
  } catch (err) {
    throw new RegistrationError(`${where}: tls.key is not a PEM private key`, { cause: err });
  }
  if (!leaf.checkPrivateKey(key)) throw new RegistrationError(`${where}: tls.key does not belong to tls.crt`);
  try {
    new X509Certificate(shared.ca);
  } catch (err) {
    throw new RegistrationError(`${where}: ca.crt is not a PEM certificate`, { cause: err });
  }
  return shared;
}
