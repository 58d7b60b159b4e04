/**
 * Where TLS and signing material comes from: a file path when given, else a
 * Kubernetes Secret in the component's namespace (as upstream). Every failure
 * names the setting and the file or Secret, so a start-up error says what to fix.
 */
import { readFile } from "node:fs/promises";
import { X509Certificate, createPrivateKey } from "node:crypto";
import { StartupError } from "../cli/component-command.ts";
import type { KubeClient } from "../kube/client.ts";
import { secrets } from "../kube/core-objects.ts";

/** Reads a PEM file and checks it holds what the setting expects. */
export async function readPem(path: string, setting: string, kind: "certificate" | "key"): Promise<Buffer> {
  let pem: Buffer;
  try {
    pem = await readFile(path);
  } catch (err) {
    throw new StartupError(`${setting}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  checkPem(pem, `${setting} (${path})`, kind);
  return pem;
}

export function checkPem(pem: Buffer, where: string, kind: "certificate" | "key"): void {
  try {
    if (kind === "certificate") new X509Certificate(pem);
    else createPrivateKey(pem);
  } catch (err) {
    throw new StartupError(`${where}: not a valid PEM ${kind}: ${(err as Error).message}`);
  }
}

/** Reads a Secret's data (base64-decoded); a missing Secret is a StartupError naming the setting. */
export async function readSecret(kube: KubeClient, namespace: string, name: string, setting: string): Promise<Record<string, Buffer>> {
  try {
    const secret = await secrets(kube).get(namespace, name);
    if (!secret) throw Object.assign(new Error("not found"), { code: 404 });
    const out: Record<string, Buffer> = {};
    for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, "base64");
    return out;
  } catch (err) {
    const code = (err as { code?: number }).code;
    throw new StartupError(
      `${setting}: cannot read Secret ${namespace}/${name}${code ? ` (HTTP ${code})` : ""}: give a file path instead, or create the Secret`,
    );
  }
}

/** A field of a Secret, checked as PEM. */
export function secretField(data: Record<string, Buffer>, field: string, where: string, kind: "certificate" | "key"): Buffer {
  const v = data[field];
  if (!v?.length) throw new StartupError(`${where}: field ${field} is missing or empty`);
  checkPem(v, `${where} field ${field}`, kind);
  return v;
}
