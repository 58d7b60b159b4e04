/**
 * `ctl jwt create-key`, `inspect-key` and `delete-key` (operations.md §1.2,
 * §6.3): the principal's JWT signing key in Secret `argocd-agent-jwt`
 * (Opaque, `jwt.key` = RSA-4096 PKCS#8 PEM) in the principal namespace,
 * which the principal loads once at start (`--jwt-secret-name`). Rotating
 * it is `create-key --upsert` plus a principal restart; agents then
 * re-authenticate.
 *
 * @example
 *   await jwtCreateKey(ctx, { upsert: false });
 *   await jwtInspectKey(ctx, "json");   // {keyType, keyLength, created, sha256}
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPair, type KeyObject } from "node:crypto";
import { promisify } from "node:util";
import type { V1Secret } from "@kubernetes/client-node";
import { deleteSecret } from "../kube/tls-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { renderGoRecord, rfc1123z, type GoField, type SummaryFormat } from "./pki-output.ts";
import { readSecret, writeSecret } from "./pki.ts";
import type { Answers } from "./stdin-answers.ts";

export const JWT_SECRET = "argocd-agent-jwt";
export const JWT_KEY_FIELD = "jwt.key";
const JWT_KEY_BITS = 4096;

const SUMMARY_FIELDS: GoField[] = [
  { key: "keyType", label: "Key type" },
  { key: "keyLength", label: "Key length" },
  { key: "created", label: "Created" },
  { key: "sha256", label: "Key fingerprint" },
];

/** A fresh RSA-4096 key as PKCS#8 PEM. */
export async function generateJwtKeyPem(): Promise<string> {
  const { privateKey } = await promisify(generateKeyPair)("rsa", { modulusLength: JWT_KEY_BITS });
  return privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

export function jwtSecretBody(namespace: string, keyPem: string): V1Secret {
  return {
    apiVersion: "v1",
    kind: "Secret",
    type: "Opaque",
    metadata: { name: JWT_SECRET, namespace },
    data: { [JWT_KEY_FIELD]: Buffer.from(keyPem).toString("base64") },
  };
}

export async function jwtCreateKey(ctx: CtlContext, o: { upsert: boolean }): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const exists = "JWT secret already exists. Use --upsert to recreate it.";
  if (!o.upsert && (await readSecret(ctx, JWT_SECRET))) throw new CtlError(exists);
  ctx.out("Generating JWT signing key...");
  const what = await writeSecret(ctx, jwtSecretBody(ns, await generateJwtKeyPem()), o.upsert, exists);
  ctx.out(what === "created"
    ? `Success. JWT signing key created and stored in secret ${ns}/${JWT_SECRET}`
    : `Success. JWT signing key updated in secret ${ns}/${JWT_SECRET}`);
}

/** As upstream's JWTSigningKeyFromSecret: the first PEM block, parsed as PKCS#8. */
function parseJwtKey(pem: string, where: string): KeyObject {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new CtlError(`JWT signing key in ${where} contains malformed PEM data`);
  try {
    return createPrivateKey({ key: Buffer.from(m[2]!.replace(/\s+/g, ""), "base64"), format: "der", type: "pkcs8" });
  } catch (err) {
    throw new CtlError(`could not parse the JWT signing key in ${where} as PKCS#8: ${(err as Error).message}`);
  }
}

export async function jwtInspectKey(ctx: CtlContext, format: SummaryFormat): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const where = `Secret ${ns}/${JWT_SECRET}`;
  const secret = await readSecret(ctx, JWT_SECRET);
  if (!secret) throw new CtlError(`Could not read JWT signing key from secret: ${where} does not exist (run: argocd-agent ctl jwt create-key)`);
  const pem = Buffer.from(secret.data?.[JWT_KEY_FIELD] ?? "", "base64").toString("utf8");
  if (!pem) throw new CtlError(`JWT signing key is missing in ${where} (field ${JWT_KEY_FIELD})`);
  const key = parseJwtKey(pem, where);
  if (key.asymmetricKeyType !== "rsa") throw new CtlError("JWT signing key is not an RSA private key");
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  const created = secret.metadata?.creationTimestamp;
  const summary = {
    keyType: "RSA",
    // Go's rsa.PublicKey.Size() * 8: the modulus length rounded up to whole bytes.
    keyLength: Math.ceil((key.asymmetricKeyDetails?.modulusLength ?? 0) / 8) * 8,
    created: created ? rfc1123z(new Date(created), "local") : "",
    sha256: createHash("sha256").update(spki).digest("hex"),
  };
  ctx.out(renderGoRecord(summary, SUMMARY_FIELDS, format));
}

export async function jwtDeleteKey(ctx: CtlContext, o: { force: boolean }, answers: () => Answers): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  if (!o.force) {
    const a = answers();
    const reply = await a.ask("Are you sure you want to delete the JWT signing key? [y/N]: ");
    a.close();
    // Go's fmt.Scanln: the first word of the line.
    const word = reply?.trim().split(/\s+/)[0];
    if (word !== "y" && word !== "Y") {
      ctx.out("Aborted.");
      return;
    }
  }
  let deleted: boolean;
  try {
    deleted = await deleteSecret(ctx.kube(), ns, JWT_SECRET);
  } catch (err) {
    throw new CtlError(`Could not delete JWT secret: ${(err as Error).message}`);
  }
  ctx.out(deleted ? `JWT signing key secret ${ns}/${JWT_SECRET} deleted successfully.` : `JWT secret ${ns}/${JWT_SECRET} does not exist.`);
}
