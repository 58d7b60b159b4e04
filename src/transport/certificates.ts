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
  /** How leaves are signed; default ECDSA P-256 with SHA-256 (our own CAs). */
  signingAlgorithm?: Algorithm | EcdsaParams | RsaHashedImportParams;
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
    signingAlgorithm: ca.signingAlgorithm ?? ALG,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    extensions,
  });
  return { cert: cert.toString("pem") + "\n", key: await keyPem(keys.privateKey) };
}

/**
 * A CA from PEM (e.g. the `argocd-agent-ca` Secret written by upstream's
 * `pki init`, RSA, or by ours, ECDSA P-256), able to issue leaves.
 * @throws Error when the key does not parse or does not belong to the certificate.
 */
export async function loadCa(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(certPem);
  const alg = certificate.publicKey.algorithm as { name: string; namedCurve?: string };
  const der = Buffer.from(keyPem.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64");
  let importAlg: EcKeyImportParams | RsaHashedImportParams;
  let signingAlgorithm: EcdsaParams | RsaHashedImportParams;
  if (alg.name === "ECDSA") {
    const hash = alg.namedCurve === "P-384" ? "SHA-384" : alg.namedCurve === "P-521" ? "SHA-512" : "SHA-256";
    importAlg = { name: "ECDSA", namedCurve: alg.namedCurve ?? "P-256" };
    signingAlgorithm = { name: "ECDSA", hash };
  } else if (alg.name === "RSASSA-PKCS1-v1_5") {
    importAlg = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    signingAlgorithm = importAlg;
  } else {
    throw new Error(`CA key type ${alg.name} is not supported (use RSA or ECDSA)`);
  }
  if (!/BEGIN PRIVATE KEY/.test(keyPem)) throw new Error("CA key must be a PKCS#8 PEM (BEGIN PRIVATE KEY)");
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, importAlg, true, ["sign"]);
  const publicKey = await certificate.publicKey.export(importAlg as Algorithm, ["verify"]);
  // The pair must match: sign and verify a probe.
  const probe = Buffer.from("argocd-agent-ca-check");
  const sig = await webcrypto.subtle.sign(signingAlgorithm, privateKey, probe);
  if (!(await webcrypto.subtle.verify(signingAlgorithm, publicKey as webcrypto.CryptoKey, sig, probe))) {
    throw new Error("CA key does not belong to the CA certificate");
  }
  const keys = { privateKey, publicKey } as unknown as CryptoKeyPair;
  return { name: certificate.subject, cert: certPem, key: keyPem, keys, certificate, signingAlgorithm };
}

/** A throw-away CA plus a server certificate for `--insecure-tls-generate`. */
export async function generateSelfSignedServer(hosts: string[]): Promise<PemPair & { ca: string }> {
  const ca = await createCa("argocd-agent-ts insecure generated CA");
  const ip = hosts.filter((h) => /^[\d.]+$|:/.test(h));
  const dns = hosts.filter((h) => !ip.includes(h));
  const srv = await issueCertificate(ca, { commonName: dns[0] ?? "argocd-agent-principal", dnsNames: dns, ipAddresses: ip, client: false });
  return { ...srv, ca: ca.cert };
}
