/**
 * Secrets that carry TLS material, in the two shapes the agent system uses:
 * `kubernetes.io/tls` Secrets (`tls.crt`, `tls.key`, sometimes `ca.crt`) and
 * CA bundle Secrets (`Opaque`, `ca.crt`). Reading decodes the base64 fields
 * to PEM text once, here, instead of in every caller; writing builds the
 * Secret bodies and creates or (when asked) replaces them. A missing Secret
 * is `undefined`, not an error; other API failures are thrown as they come.
 *
 * @example
 *   const ca = await readTlsSecret(kube, "argocd", "argocd-agent-ca");
 *   if (ca?.cert && ca.key) … ca.cert, ca.key (PEM text) …
 *   await putSecret(kube, tlsSecretBody("argocd-agent-principal-tls", "argocd", { cert, key }), { replace: true });
 */
import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "./client.ts";
import { isAlreadyExists, isNotFound } from "./crud.ts";
import { secrets } from "./core-objects.ts";
import type { Secret } from "./resources.ts";

export const TLS_SECRET_TYPE = "kubernetes.io/tls";

/** The PEM fields of a Secret, decoded; absent or empty fields are undefined. */
export interface TlsSecretFields {
  /** `tls.crt` */
  cert?: string;
  /** `tls.key` */
  key?: string;
  /** `ca.crt` */
  ca?: string;
}

export interface TlsSecret extends TlsSecretFields {
  secret: V1Secret;
  /** The Secret's `type` ("" when unset). */
  type: string;
}

const decode = (b64: string | undefined): string | undefined => (b64 ? Buffer.from(b64, "base64").toString("utf8") || undefined : undefined);
const encode = (text: string): string => Buffer.from(text, "utf8").toString("base64");

/** Decodes `tls.crt`, `tls.key` and `ca.crt` of a Secret read from the API. */
export function tlsSecretFields(secret: V1Secret): TlsSecretFields {
  const d = secret.data ?? {};
  return { cert: decode(d["tls.crt"]), key: decode(d["tls.key"]), ca: decode(d["ca.crt"]) };
}

/** A Secret, or undefined when it does not exist. */
export async function getSecret(kube: KubeClient, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return (await secrets(kube).get(namespace, name)) as V1Secret | undefined;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** A Secret with its TLS fields decoded, or undefined when it does not exist. */
export async function readTlsSecret(kube: KubeClient, namespace: string, name: string): Promise<TlsSecret | undefined> {
  const secret = await getSecret(kube, namespace, name);
  return secret && { secret, type: secret.type ?? "", ...tlsSecretFields(secret) };
}

/** A `kubernetes.io/tls` Secret holding a certificate (chain) and its key. */
export function tlsSecretBody(name: string, namespace: string, pair: { cert: string; key: string }): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: TLS_SECRET_TYPE,
    metadata: { name, namespace },
    data: { "tls.crt": encode(pair.cert), "tls.key": encode(pair.key) },
  };
}

/** An `Opaque` Secret holding a CA bundle in `ca.crt` (what agents verify the principal with). */
export function caBundleSecretBody(name: string, namespace: string, caPem: string): V1Secret {
  return { apiVersion: "v1", kind: "Secret", type: "Opaque", metadata: { name, namespace }, data: { "ca.crt": encode(caPem) } };
}

/**
 * Creates the Secret, or replaces an existing one when `replace` (keeping
 * nothing of the old one). Without `replace` an existing Secret is left alone
 * and the answer is "exists".
 */
export async function putSecret(kube: KubeClient, secret: V1Secret, opts: { replace: boolean }): Promise<"created" | "updated" | "exists"> {
  const namespace = secret.metadata!.namespace!;
  const name = secret.metadata!.name!;
  for (let attempt = 0; ; attempt++) {
    const current = await getSecret(kube, namespace, name);
    if (current && !opts.replace) return "exists";
    if (current) {
      const body = { ...secret, metadata: { ...secret.metadata, resourceVersion: current.metadata?.resourceVersion } };
      await secrets(kube).update(body as Secret);
      return "updated";
    }
    try {
      await secrets(kube).create(secret as Secret);
      return "created";
    } catch (err) {
      // Created by someone else between the read and the create: decide again once.
      if (!isAlreadyExists(err) || attempt > 0) throw err;
    }
  }
}

/** Deletes a Secret; false when it did not exist. */
export async function deleteSecret(kube: KubeClient, namespace: string, name: string): Promise<boolean> {
  try {
    return await secrets(kube).delete(namespace, name);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}
