/**
 * The client certificate an agent's cluster Secret carries (operations.md
 * §1.5): CN=<agent>, clientAuth, signed by the CA in `argocd-agent-ca`, valid
 * `--days` days but never past the CA's own expiry, with a key of the
 * `--key-algorithm`/`--key-size` flags (pki-keys.ts). Used by `agent create`
 * and `agent reconfigure --reissue-client-cert`, which accept the key flags
 * only when they issue a certificate.
 *
 * @example
 *   const { certPem, keyPem, caPem } = await issueAgentClientCert(ctx, "prod-1", 180, { algorithm: "rsa", rsaBits: 4096 });
 */
import type { Command } from "commander";
import { CtlError, type CtlContext } from "./ctl-context.ts";
import { issueClientCertificate } from "./pki-certificates.ts";
import { parseKeyGenFlags, signingAlgorithmOf, type KeyGenOptions } from "./pki-keys.ts";
import { readCa } from "./pki.ts";

export async function issueAgentClientCert(ctx: CtlContext, agent: string, days: number, key: KeyGenOptions): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const ca = await readCa(ctx);
  const signer = { certificate: ca.certificate, keys: ca.keys, signingAlgorithm: ca.signingAlgorithm ?? signingAlgorithmOf(ca.keys.privateKey.algorithm) };
  const leaf = await issueClientCertificate(signer, agent, { days, key });
  return { certPem: leaf.cert, keyPem: leaf.key, caPem: ca.cert };
}

/**
 * The key options of a command that has pki-keys.ts's key flags; refuses them
 * (exit 2) when given on the command line but no key will be generated.
 */
export function keyFlags(cmd: Command, willGenerate: boolean, unusedBecause: string): KeyGenOptions {
  const given = ["keyAlgorithm", "keySize"].some((k) => cmd.getOptionValueSource(k) === "cli");
  if (given && !willGenerate) throw new CtlError(`--key-algorithm and --key-size ${unusedBecause}`, 2);
  const o = cmd.opts() as { keyAlgorithm: string; keySize: string };
  return parseKeyGenFlags(o.keyAlgorithm, o.keySize);
}
