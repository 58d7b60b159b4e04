/**
 * The client certificate an agent's cluster Secret carries (operations.md
 * §1.5): CN=<agent>, clientAuth, signed by the CA in `argocd-agent-ca`, valid
 * `--days` days but never past the CA's own expiry, with a key of the
 * `--key-algorithm`/`--key-size` flags (key-flags.ts). Used by `agent create`
 * and `agent reconfigure --reissue-client-cert`, which accept the key flags
 * only when they issue a certificate (key-flags.ts's keyFlags).
 *
 * @example
 *   const { certPem, keyPem, caPem } = await issueAgentClientCert(ctx, "prod-1", 180, { algorithm: "rsa", rsaBits: 4096 });
 */
import type { CtlContext } from "./ctl-context.ts";
import { issueClientCertificate } from "./pki-certificates.ts";
import type { KeyGenOptions } from "./key-flags.ts";
import { signingAlgorithmOf } from "./pki-keys.ts";
import { readCa } from "./pki.ts";

export async function issueAgentClientCert(ctx: CtlContext, agent: string, days: number, key: KeyGenOptions): Promise<{ certPem: string; keyPem: string; caPem: string }> {
  const ca = await readCa(ctx);
  const signer = { certificate: ca.certificate, keys: ca.keys, signingAlgorithm: ca.signingAlgorithm ?? signingAlgorithmOf(ca.keys.privateKey.algorithm) };
  const leaf = await issueClientCertificate(signer, agent, { days, key });
  return { certPem: leaf.cert, keyPem: leaf.key, caPem: ca.cert };
}

