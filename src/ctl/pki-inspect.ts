/**
 * `ctl pki inspect`, `ctl pki dump` and `ctl pki delete` (operations.md §1.2,
 * §1.5): summaries of the CA, principal and resource-proxy certificates in
 * upstream's shape (Go subject string, key type and length, RFC 1123 times,
 * lower-case SHA-256 of the DER, SANs, warnings), the CA as PEM, and the CA
 * Secret's removal after an uppercase `YES` on stdin (a terminal or a pipe).
 *
 * @example
 *   await pkiInspect(ctx, "yaml");
 *   await pkiDump(ctx, { cert: true, key: false });
 *   await pkiDelete(ctx, () => stdinAnswers());
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate, createHash, createPrivateKey } from "node:crypto";
import { peerCertificateFromDer } from "../auth/peer-certificate.ts";
import { deleteSecret, readTlsSecret, TLS_SECRET_TYPE, type TlsSecret } from "../kube/tls-secret.ts";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { renderGoRecord, rfc1123z, type GoField, type GoRecord, type SummaryFormat } from "./pki-output.ts";
import { CA_SECRET, PRINCIPAL_TLS_SECRET, RESOURCE_PROXY_TLS_SECRET } from "./pki.ts";
import type { Answers } from "./stdin-answers.ts";

/** upstream's certificateSummary struct, in field order. */
export const CERTIFICATE_SUMMARY_FIELDS: GoField[] = [
  { key: "subject", label: "Subject" },
  { key: "keyType", label: "Key type" },
  { key: "keyLength", label: "Key length" },
  { key: "notBefore", label: "Not valid before" },
  { key: "notAfter", label: "Not valid after" },
  { key: "sha256", label: "Checksum" },
  { key: "ips", label: "IPs", omitEmpty: true },
  { key: "dns", label: "DNS", omitEmpty: true },
  { key: "warnings", label: "Warnings", omitEmpty: true },
];

const INSPECT_FIELDS: GoField[] = [
  { key: "ca", label: "CA", omitEmpty: true, fields: CERTIFICATE_SUMMARY_FIELDS },
  { key: "principal", label: "Principal", omitEmpty: true, fields: CERTIFICATE_SUMMARY_FIELDS },
  { key: "resourceProxy", label: "Resource Proxy", omitEmpty: true, fields: CERTIFICATE_SUMMARY_FIELDS },
];

const ZERO_SUMMARY: GoRecord = { subject: "", keyType: "", keyLength: 0, notBefore: "", notAfter: "", sha256: "", ips: [], dns: [], warnings: [] };

/** Go's net.IP.String(): IPv6 compressed. */
const ipText = (ip: string) => (ip.includes(":") ? new URL(`http://[${ip}]`).hostname.slice(1, -1) : ip);

function keySummary(cert: X509Certificate): { keyType: string; keyLength: number } {
  const k = cert.publicKey;
  switch (k.asymmetricKeyType) {
    case "rsa":
      return { keyType: "RSA", keyLength: k.asymmetricKeyDetails?.modulusLength ?? 0 };
    case "ec":
      return { keyType: "ECDSA", keyLength: { prime256v1: 256, secp384r1: 384, secp521r1: 521 }[k.asymmetricKeyDetails?.namedCurve ?? ""] ?? 0 };
    case "ed25519":
      return { keyType: "Ed25519", keyLength: 256 };
    default:
      return { keyType: String(k.asymmetricKeyType), keyLength: 0 };
  }
}

/** The summary of a certificate PEM (first certificate of a chain). */
export function certificateSummary(certPem: string, isCa: boolean): GoRecord {
  const cert = new X509Certificate(certPem);
  const parsed = new x509.X509Certificate(cert.raw);
  const bc = parsed.getExtension(x509.BasicConstraintsExtension);
  const san = parsed.getExtension(x509.SubjectAlternativeNameExtension);
  const names = san?.names.toJSON() ?? [];
  const warnings: string[] = [];
  if (isCa && !bc?.ca) warnings.push("This is not a CA certificate");
  if (!bc) warnings.push("Basic constraints are invalid");
  return {
    subject: peerCertificateFromDer(cert.raw).subject,
    ...keySummary(cert),
    notBefore: rfc1123z(parsed.notBefore),
    notAfter: rfc1123z(parsed.notAfter),
    sha256: createHash("sha256").update(cert.raw).digest("hex"),
    ips: names.filter((n) => n.type === "ip").map((n) => ipText(n.value)),
    dns: names.filter((n) => n.type === "dns").map((n) => n.value),
    warnings,
  };
}

/** As upstream's TLSCertFromSecret: a TLS Secret with a matching certificate and key. */
function checkTlsSecret(s: TlsSecret, where: string): { cert: string; key: string } {
  if (s.type !== TLS_SECRET_TYPE) throw new CtlError(`${where}: not a TLS secret (type "${s.type}")`);
  if (!s.cert || !s.key) throw new CtlError(`${where}: either tls.crt or tls.key is missing`);
  try {
    if (!new X509Certificate(s.cert).checkPrivateKey(createPrivateKey(s.key))) throw new Error("tls.key does not belong to tls.crt");
  } catch (err) {
    throw new CtlError(`${where}: invalid cert or key data: ${(err as Error).message}`);
  }
  return { cert: s.cert, key: s.key };
}

async function readTls(ctx: CtlContext, name: string): Promise<{ cert: string; key: string } | undefined> {
  const ns = ctx.globals.principalNamespace;
  let s: TlsSecret | undefined;
  try {
    s = await readTlsSecret(ctx.kube(), ns, name);
  } catch (err) {
    throw new CtlError(`reading Secret ${ns}/${name}: ${(err as Error).message}`);
  }
  return s && checkTlsSecret(s, `Secret ${ns}/${name}`);
}

export async function pkiInspect(ctx: CtlContext, format: SummaryFormat): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const ca = await readTls(ctx, CA_SECRET);
  if (!ca) throw new CtlError(`CA is not initialized: Secret ${ns}/${CA_SECRET} does not exist`);
  const leaf = async (name: string) => {
    const s = await readTls(ctx, name);
    return s ? certificateSummary(s.cert, false) : ZERO_SUMMARY;
  };
  const summary: GoRecord = {
    ca: certificateSummary(ca.cert, true),
    principal: await leaf(PRINCIPAL_TLS_SECRET),
    resourceProxy: await leaf(RESOURCE_PROXY_TLS_SECRET),
  };
  ctx.out(renderGoRecord(summary, INSPECT_FIELDS, format));
}

export async function pkiDump(ctx: CtlContext, o: { cert: boolean; key: boolean }): Promise<void> {
  if (!o.cert && !o.key) throw new CtlError("One of --all, --key or --cert must be specified.", 2);
  const ca = await readTls(ctx, CA_SECRET);
  if (!ca) throw new CtlError("CA not configured.");
  // Re-encoded as upstream does: the first certificate, the key as PKCS#8.
  let text = "";
  if (o.cert) text += new X509Certificate(ca.cert).toString();
  if (o.key) text += createPrivateKey(ca.key).export({ type: "pkcs8", format: "pem" }).toString();
  ctx.out(text.replace(/\n$/, ""));
}

export async function pkiDelete(ctx: CtlContext, answers: () => Answers): Promise<void> {
  const ns = ctx.globals.principalNamespace;
  const s = await readTlsSecret(ctx.kube(), ns, CA_SECRET).catch((err: Error) => {
    throw new CtlError(`reading Secret ${ns}/${CA_SECRET}: ${err.message}`);
  });
  if (!s) throw new CtlError("CA not configured.");
  const a = answers();
  const answer = await a.ask("Really delete CA (use uppercase YES to delete)?: ");
  a.close();
  if (answer !== "YES") {
    ctx.out(answer ?? "");
    throw new CtlError("Aborted.");
  }
  try {
    await deleteSecret(ctx.kube(), ns, CA_SECRET);
  } catch (err) {
    throw new CtlError(`Could not delete secret ${CA_SECRET}: ${(err as Error).message}`);
  }
  ctx.out("CA successfully deleted.");
}
