/**
 * X.509 material made in-process (no openssl in a distroless image): a CA,
 * server and client certificates with DNS, IP and URI (SPIFFE) SANs. Used by
 * `--insecure-tls-generate` and by the tests' PKI.
 *
 * @example
 *   const ca = await createCa("argocd-agent-ca");
 *   const srv = await issueCertificate(ca, { commonName: "principal", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"] });
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto, randomBytes } from "node:crypto";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface PemPair {
  /** PEM certificate (chain: leaf first). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

export interface CertificateAuthority extends PemPair {
  name: string;
  keys: CryptoKeyPair;
  certificate: x509.X509Certificate;
}

export interface CertificateRequest {
  commonName: string;
  /** Extra subject attributes after CN, e.g. "O=example". */
  subjectSuffix?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  uris?: string[];
  validDays?: number;
  /** Start of validity; defaults to a minute ago (clock skew). */
  notBefore?: Date;
  server?: boolean;
  client?: boolean;
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64.trimEnd()}\n-----END PRIVATE KEY-----\n`;
}

const serial = () => randomBytes(16).toString("hex").replace(/^[89a-f]/, "1");

export async function createCa(commonName: string, validDays = 365): Promise<CertificateAuthority> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const notBefore = new Date(Date.now() - 60_000);
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=${commonName}`,
    notBefore,
    notAfter: new Date(notBefore.getTime() + validDays * DAY),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { name: commonName, keys, certificate, cert: certificate.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}

export async function issueCertificate(ca: CertificateAuthority, req: CertificateRequest): Promise<PemPair> {
  const keys = (await webcrypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
  const names: x509.JsonGeneralName[] = [
    ...(req.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(req.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
    ...(req.uris ?? []).map((value) => ({ type: "url" as const, value })),
  ];
  const usages: string[] = [];
  if (req.server ?? true) usages.push(x509.ExtendedKeyUsage.serverAuth);
  if (req.client ?? true) usages.push(x509.ExtendedKeyUsage.clientAuth);
  const notBefore = req.notBefore ?? new Date(Date.now() - 60_000);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(ca.keys.publicKey),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${req.commonName}${req.subjectSuffix ? `, ${req.subjectSuffix}` : ""}`,
    issuer: ca.certificate.subject,
    notBefore,
    notAfter: new Date(notBefore.getTime() + (req.validDays ?? 365) * DAY),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}

/** A throw-away CA plus a server certificate for `--insecure-tls-generate`. */
export async function generateSelfSignedServer(hosts: string[]): Promise<PemPair & { ca: string }> {
  const ca = await createCa("argocd-agent-ts insecure generated CA");
  const ip = hosts.filter((h) => /^[\d.]+$|:/.test(h));
  const dns = hosts.filter((h) => !ip.includes(h));
  const srv = await issueCertificate(ca, { commonName: dns[0] ?? "argocd-agent-principal", dnsNames: dns, ipAddresses: ip, client: false });
  return { ...srv, ca: ca.cert };
}
