/**
 * The Argo CD `ClusterConfig` JSON inside a cluster Secret's `data.config`
 * (operations.md §1.4), as self cluster registration reads and rewrites it:
 * the bearer token and the three TLS PEMs (`certData`, `keyData`, `caData`,
 * standard base64 of the PEM bytes). Every other field is kept as it is, and
 * the known fields are written in the order Go's encoding/json uses, so a
 * rewritten secret looks like one upstream wrote.
 *
 * @example
 *   const cfg = readClusterConfig(secret);            // { bearerToken, certData: Buffer, … }
 *   const json = writeClusterConfig(cfg.raw, { bearerToken: token, certData, keyData, caData });
 *   secret.data!.config = Buffer.from(json).toString("base64");
 */
import type { V1Secret } from "@kubernetes/client-node";

export interface ClusterCredentials {
  bearerToken?: string;
  certData?: Buffer;
  keyData?: Buffer;
  caData?: Buffer;
}

export interface StoredClusterConfig extends ClusterCredentials {
  /** The parsed JSON object; `{}` when `data.config` is absent or not a JSON object. */
  raw: Record<string, unknown>;
  /** Why `data.config` could not be used as it is (absent, not JSON, not an object). */
  problem?: string;
}

// Field order of v1alpha1.ClusterConfig / TLSClientConfig as Go marshals them.
const CONFIG_ORDER = ["username", "password", "bearerToken", "tlsClientConfig", "awsAuthConfig", "execProviderConfig", "disableCompression", "proxyUrl"];
const TLS_ORDER = ["insecure", "serverName", "certData", "keyData", "caData"];

function ordered(obj: Record<string, unknown>, order: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of order) if (k in obj) out[k] = obj[k];
  for (const k of Object.keys(obj)) if (!(k in out)) out[k] = obj[k];
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

function pemField(tls: Record<string, unknown>, key: string): Buffer | undefined {
  const v = tls[key];
  return typeof v === "string" && v !== "" ? Buffer.from(v, "base64") : undefined;
}

/** Reads `data.config` of a cluster Secret (never throws: a broken config reads as empty, with `problem` set). */
export function readClusterConfig(secret: V1Secret): StoredClusterConfig {
  const b64 = secret.data?.["config"];
  if (!b64) return { raw: {}, problem: "data.config is missing" };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
  } catch (err) {
    return { raw: {}, problem: `data.config is not JSON: ${(err as Error).message}` };
  }
  if (!isObject(parsed)) return { raw: {}, problem: "data.config is not a JSON object" };
  const tls = isObject(parsed["tlsClientConfig"]) ? parsed["tlsClientConfig"] : {};
  const token = parsed["bearerToken"];
  return {
    raw: parsed,
    bearerToken: typeof token === "string" && token !== "" ? token : undefined,
    certData: pemField(tls, "certData"),
    keyData: pemField(tls, "keyData"),
    caData: pemField(tls, "caData"),
  };
}

/** `raw` with the given credentials set, as the JSON text to store in `data.config`. */
export function writeClusterConfig(raw: Record<string, unknown>, set: ClusterCredentials): string {
  const cfg: Record<string, unknown> = { ...raw };
  if (set.bearerToken !== undefined) cfg["bearerToken"] = set.bearerToken;
  const tls: Record<string, unknown> = { insecure: false, ...(isObject(cfg["tlsClientConfig"]) ? cfg["tlsClientConfig"] : {}) };
  if (set.certData) tls["certData"] = set.certData.toString("base64");
  if (set.keyData) tls["keyData"] = set.keyData.toString("base64");
  if (set.caData) tls["caData"] = set.caData.toString("base64");
  cfg["tlsClientConfig"] = ordered(tls, TLS_ORDER);
  return JSON.stringify(ordered(cfg, CONFIG_ORDER));
}

/** True when both hold the same bytes (an absent value equals only an absent one). */
export function sameBytes(a: Buffer | undefined, b: Buffer | undefined): boolean {
  return a === undefined || b === undefined ? a === b : a.equals(b);
}
