/**
 * Throw-away PKI for the transport tests, made in-process with
 * src/transport/certificates.ts (the same code `--insecure-tls-generate`
 * uses) and written as PEM files to a temporary directory:
 *
 * - `ca`: the CA the principal trusts for client certificates and the agent
 *   trusts for the principal's server certificate;
 * - `server`: the principal's certificate for localhost / 127.0.0.1 / ::1;
 * - `agent(cn, { uris })`: client certificates by CN, optionally with SPIFFE URI SANs;
 * - `rogueCa` + `rogueAgent(cn)`: an unrelated CA and a client certificate it
 *   signed, which the principal must refuse at the handshake.
 *
 * @example
 *   const pki = await createTestPki();
 *   try { const a = await pki.agent("agent-1"); … a.certFile … } finally { pki.cleanup(); }
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createCa, issueCertificate, type CertificateAuthority } from "../../src/transport/certificates.ts";

export interface PemFiles {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestPki {
  dir: string;
  ca: CertificateAuthority;
  caFile: string;
  server: PemFiles;
  rogueCa: CertificateAuthority;
  rogueCaFile: string;
  /** A client certificate signed by the test CA. */
  agent(commonName: string, opts?: { uris?: string[]; subjectSuffix?: string }): Promise<PemFiles>;
  /** A client certificate signed by the unrelated CA. */
  rogueAgent(commonName: string): Promise<PemFiles>;
  cleanup(): void;
}

export async function createTestPki(): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-pki-"));
  let counter = 0;
  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text, { mode: 0o600 });
    return file;
  };
  const save = (name: string, pair: { cert: string; key: string }): PemFiles => ({
    ...pair,
    certFile: write(`${name}.crt`, pair.cert),
    keyFile: write(`${name}.key`, pair.key),
  });
  try {
    const ca = await createCa("argocd-agent-test-ca");
    const rogueCa = await createCa("unrelated-test-ca");
    const server = save(
      "principal",
      await issueCertificate(ca, {
        commonName: "argocd-agent-principal",
        dnsNames: ["localhost"],
        ipAddresses: ["127.0.0.1", "::1"],
        client: false,
      }),
    );
    const issueClient = async (issuer: CertificateAuthority, cn: string, opts: { uris?: string[]; subjectSuffix?: string } = {}) =>
      save(
        `client-${++counter}-${cn.replace(/[^a-z0-9-]/gi, "_")}`,
        await issueCertificate(issuer, { commonName: cn, uris: opts.uris, subjectSuffix: opts.subjectSuffix, server: false }),
      );
    return {
      dir,
      ca,
      caFile: write("ca.crt", ca.cert),
      server,
      rogueCa,
      rogueCaFile: write("rogue-ca.crt", rogueCa.cert),
      agent: (cn, opts) => issueClient(ca, cn, opts),
      rogueAgent: (cn) => issueClient(rogueCa, cn),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    };
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
