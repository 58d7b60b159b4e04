/**
 * Private keys of the ctl PKI (operations.md §1.5): key generation with
 * WebCrypto for the options of the `--key-algorithm`/`--key-size` flags
 * (key-flags.ts, which validates them without loading this module), the signature
 * algorithm a key signs with (as Go's x509.CreateCertificate picks it:
 * RSA → SHA-256, P-256/384/521 → ECDSA-SHA-256/384/512, Ed25519), PKCS#8 PEM
 * export, and loading a certificate + key pair from PEM (PKCS#8, PKCS#1 or
 * SEC1, any of those key types) so it can sign.
 *
 * @example
 *   const opts = parseKeyGenFlags("ecdsa-p384", "4096");   // key-flags.ts
 *   const keys = await generateKeys(opts);
 *   const pem = await privateKeyPem(keys.privateKey);
 */
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { X509Certificate, createPrivateKey, webcrypto, type KeyObject } from "node:crypto";
import type { KeyGenOptions } from "./key-flags.ts";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export type SigningAlgorithm = RsaHashedImportParams | EcdsaParams | Algorithm;

function generationAlgorithm(o: KeyGenOptions): RsaHashedKeyGenParams | EcKeyGenParams | Algorithm {
  switch (o.algorithm) {
    case "rsa":
      return { name: "RSASSA-PKCS1-v1_5", modulusLength: o.rsaBits, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };
    case "ecdsa-p256":
      return { name: "ECDSA", namedCurve: "P-256" };
    case "ecdsa-p384":
      return { name: "ECDSA", namedCurve: "P-384" };
    case "ecdsa-p521":
      return { name: "ECDSA", namedCurve: "P-521" };
    case "ed25519":
      return { name: "Ed25519" };
  }
}

export async function generateKeys(o: KeyGenOptions): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(generationAlgorithm(o) as never, true, ["sign", "verify"])) as unknown as CryptoKeyPair;
}

const CURVE_HASH: Record<string, string> = { "P-256": "SHA-256", "P-384": "SHA-384", "P-521": "SHA-512" };

/** How a key of this (WebCrypto) algorithm signs certificates. */
export function signingAlgorithmOf(alg: KeyAlgorithmLike): SigningAlgorithm {
  if (alg.name === "RSASSA-PKCS1-v1_5") return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
  if (alg.name === "ECDSA") return { name: "ECDSA", hash: CURVE_HASH[alg.namedCurve ?? ""] ?? "SHA-256" } as EcdsaParams;
  if (alg.name === "Ed25519") return { name: "Ed25519" };
  throw new Error(`key type ${alg.name} cannot sign certificates here (use RSA, ECDSA P-256/384/521 or Ed25519)`);
}

interface KeyAlgorithmLike {
  name: string;
  namedCurve?: string;
}

/** PKCS#8 PEM (`PRIVATE KEY`), 64 characters a line, as Go's pem.Encode. */
export async function privateKeyPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey("pkcs8", key as webcrypto.CryptoKey));
  const b64 = der.toString("base64").replace(/(.{64})/g, "$1\n").trimEnd();
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

/** A certificate and its private key, able to sign. */
export interface SigningPair {
  certificate: x509.X509Certificate;
  keys: CryptoKeyPair;
  signingAlgorithm: SigningAlgorithm;
}

function importAlgorithm(key: KeyObject): RsaHashedImportParams | EcKeyImportParams | Algorithm {
  switch (key.asymmetricKeyType) {
    case "rsa":
      return { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" };
    case "ec": {
      const curve = { prime256v1: "P-256", secp384r1: "P-384", secp521r1: "P-521" }[key.asymmetricKeyDetails?.namedCurve ?? ""];
      if (!curve) throw new Error(`EC curve ${key.asymmetricKeyDetails?.namedCurve} is not supported (use P-256, P-384 or P-521)`);
      return { name: "ECDSA", namedCurve: curve };
    }
    case "ed25519":
      return { name: "Ed25519" };
    default:
      throw new Error(`key type ${key.asymmetricKeyType} is not supported (use RSA, ECDSA or Ed25519)`);
  }
}

/**
 * Loads a certificate and its private key from PEM.
 * @throws Error when either does not parse or the key does not belong to the certificate.
 */
export async function loadSigningPair(certPem: string, keyPem: string): Promise<SigningPair> {
  let nodeCert: X509Certificate;
  let nodeKey: KeyObject;
  try {
    nodeCert = new X509Certificate(certPem);
  } catch (err) {
    throw new Error(`tls.crt is not a PEM certificate: ${(err as Error).message}`);
  }
  try {
    nodeKey = createPrivateKey(keyPem);
  } catch (err) {
    throw new Error(`tls.key is not a PEM private key: ${(err as Error).message}`);
  }
  if (!nodeCert.checkPrivateKey(nodeKey)) throw new Error("tls.key does not belong to the certificate in tls.crt");
  const alg = importAlgorithm(nodeKey);
  const der = nodeKey.export({ type: "pkcs8", format: "der" });
  const privateKey = await webcrypto.subtle.importKey("pkcs8", der, alg as never, true, ["sign"]);
  const certificate = new x509.X509Certificate(certPem);
  const publicKey = await certificate.publicKey.export(alg as Algorithm, ["verify"]);
  const keys = { privateKey, publicKey } as unknown as CryptoKeyPair;
  return { certificate, keys, signingAlgorithm: signingAlgorithmOf(alg) };
}
