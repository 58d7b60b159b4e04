/**
 * The certificate profiles of the ctl PKI, as upstream's argocd-agentctl
 * issues them (operations.md §1.5): subject `O=DO NOT USE IN PRODUCTION` plus
 * the CN of the profile, a self-signed CA (clientAuth + serverAuth), server
 * certificates for the principal and the resource proxy (serverAuth, IP and
 * DNS SANs) and agent client certificates (clientAuth, CN = agent name).
 * Leaves may not outlive the CA: `--days` beyond it is refused naming the
 * maximum. Serials are random (upstream uses 1 for every certificate, which
 * gives duplicate issuer+serial pairs); validity starts a minute in the past
 * against clock skew, and ends `days` × 24 h from now.
 *
 * @example
 *   const ca = await createCaCertificate("argocd-agent-ca", 3650, { algorithm: "rsa", rsaBits: 4096 });
 *   const srv = await issueServerCertificate(ca, "argocd-agent-principal", { ips: ["127.0.0.1"], dns: ["localhost"], days: 180, key });
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { isIP } from "node:net";
import { randomBytes } from "node:crypto";
import { CtlError } from "./ctl-context.ts";
import type { KeyGenOptions } from "./key-flags.ts";
import { generateKeys, privateKeyPem, signingAlgorithmOf, type SigningPair } from "./pki-keys.ts";

export const PKI_ORGANIZATION = "DO NOT USE IN PRODUCTION";
export const PRINCIPAL_CN = "argocd-agent-principal";
export const RESOURCE_PROXY_CN = "argocd-agent-resource-proxy";

const DAY_MS = 86_400_000;
const SKEW_MS = 60_000;

export interface IssuedPem {
  /** PEM `CERTIFICATE`. */
  cert: string;
  /** PEM PKCS#8 `PRIVATE KEY`. */
  key: string;
}

/** A new CA: its PEM and the pair that signs leaves. */
export type IssuedCa = IssuedPem & SigningPair;

/** A positive 128-bit serial, hex. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] = (b[0]! & 0x7f) | 0x40;
  return b.toString("hex");
}

// Go's pkix.Name puts O before CN in the DER; the Go string form is then `CN=…,O=…`.
const subject = (cn: string): x509.JsonName => [{ "2.5.4.10": [PKI_ORGANIZATION] }, { "2.5.4.3": [cn] }];

const pem = (c: x509.X509Certificate) => c.toString("pem") + "\n";

export async function createCaCertificate(commonName: string, days: number, key: KeyGenOptions): Promise<IssuedCa> {
  const keys = await generateKeys(key);
  const signingAlgorithm = signingAlgorithmOf(keys.privateKey.algorithm);
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: subject(commonName),
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + days * DAY_MS),
    signingAlgorithm,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyCertSign, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert: pem(certificate), key: await privateKeyPem(keys.privateKey), certificate, keys, signingAlgorithm };
}

/**
 * Refuses a leaf validity that ends after the CA's (upstream's
 * ValidateLeafValidityDays), naming the flag and the maximum.
 */
export function checkLeafDays(ca: SigningPair, days: number): void {
  const caEnd = ca.certificate.notAfter.getTime();
  if (Date.now() + days * DAY_MS <= caEnd) return;
  const max = Math.floor((caEnd - Date.now()) / DAY_MS);
  throw new CtlError(`--days ${days}: the certificate would outlive the CA (valid until ${ca.certificate.notAfter.toISOString()}); the maximum is about ${max} days`, 2);
}

interface LeafRequest {
  commonName: string;
  usage: "server" | "client";
  ips?: string[];
  dns?: string[];
  days: number;
  key: KeyGenOptions;
}

async function issueLeaf(ca: SigningPair, req: LeafRequest): Promise<IssuedPem> {
  checkLeafDays(ca, req.days);
  const keys = await generateKeys(req.key);
  const rsa = keys.publicKey.algorithm.name === "RSASSA-PKCS1-v1_5";
  // digitalSignature for TLS 1.3 and ECDHE; keyEncipherment for RSA key exchange (TLS 1.2).
  const usage = x509.KeyUsageFlags.digitalSignature | (rsa ? x509.KeyUsageFlags.keyEncipherment : 0);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(usage, true),
    new x509.ExtendedKeyUsageExtension([req.usage === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth]),
  ];
  // As Go: the authority key ID is the CA's subject key ID, when it has one.
  const caSki = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (caSki) extensions.push(new x509.AuthorityKeyIdentifierExtension(caSki.keyId));
  const names: x509.JsonGeneralName[] = [
    ...(req.dns ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(req.ips ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: subject(req.commonName),
    issuer: ca.certificate.subjectName,
    notBefore: new Date(now - SKEW_MS),
    notAfter: new Date(now + req.days * DAY_MS),
    signingAlgorithm: ca.signingAlgorithm,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return { cert: pem(certificate), key: await privateKeyPem(keys.privateKey) };
}

/** IP SAN values must be IP addresses (exit 2 naming --ip). */
export function checkIps(ips: string[]): void {
  const bad = ips.find((ip) => isIP(ip) === 0);
  if (bad !== undefined) throw new CtlError(`--ip "${bad}" is not an IP address`, 2);
}

/** A server certificate (principal or resource proxy): serverAuth, IP and DNS SANs. */
export function issueServerCertificate(ca: SigningPair, commonName: string, o: { ips: string[]; dns: string[]; days: number; key: KeyGenOptions }): Promise<IssuedPem> {
  checkIps(o.ips);
  return issueLeaf(ca, { commonName, usage: "server", ips: o.ips, dns: o.dns, days: o.days, key: o.key });
}

/** An agent's client certificate: clientAuth, CN = agent name, no SAN. */
export function issueClientCertificate(ca: SigningPair, agentName: string, o: { days: number; key: KeyGenOptions }): Promise<IssuedPem> {
  return issueLeaf(ca, { commonName: agentName, usage: "client", days: o.days, key: o.key });
}
