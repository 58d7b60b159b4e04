/**
 * `--auth mtls:subject:<regex>` / `mtls:uri:<regex>` (and deprecated `mtls:<regex>` =
 * subject): the agent ID is capture group 1 of the regex run against the verified client
 * certificate of the connection that carried `Authenticate`.
 *
 * - subject: matched against the subject in Go `pkix.Name.String()` form (see
 *   peer-certificate.ts), e.g. `CN=agent-1,O=org`; the install default is `CN=([^,]+)`.
 * - uri: each URI SAN in order; the first SAN the regex matches decides.
 *
 * @example
 *   new MtlsIdentity({ source: "uri", pattern: "^spiffe://[^/]+/ns/[^/]+/sa/([^/]+)$" })
 */
import { getLogger } from "../observability/log.ts";
import { agentIdProblem } from "./agent-id.ts";
import type { CompiledGoRegexp } from "./go-regexp.ts";
import { compileIdentityPattern, matchIdentity } from "./identity-pattern.ts";
import type { AuthInput, AuthMethod, AuthResult } from "./method.ts";

const log = getLogger("auth");

export type MtlsIdentitySource = "subject" | "uri";

export interface MtlsIdentityOptions {
  source: MtlsIdentitySource;
  /** Go RE2 pattern; group 1 is the agent ID. */
  pattern: string;
  /** The whole `--auth` value, for error messages. */
  setting?: string;
  /** Revoked certificates by fingerprint (ConfigMap `argocd-agent-tls-blocklist`). */
  blocklist?: { has(fingerprint: string): boolean };
}

export class MtlsIdentity implements AuthMethod {
  readonly name = "mtls" as const;
  readonly source: MtlsIdentitySource;
  readonly pattern: CompiledGoRegexp;
  readonly blocklist?: { has(fingerprint: string): boolean };

  /** @throws AuthConfigError for an empty or unusable regex (upstream accepts an empty one and then rejects every agent). */
  constructor(opts: MtlsIdentityOptions) {
    this.source = opts.source;
    this.pattern = compileIdentityPattern(opts.pattern, opts.setting ?? `mtls:${opts.source}:${opts.pattern}`);
    this.blocklist = opts.blocklist;
  }

  describe(): string {
    return `mtls ${this.source}, pattern ${this.pattern.source}`;
  }

  authenticate(req: AuthInput): AuthResult {
    const result = this.extract(req);
    if (result.ok) log.info("extracted agent identity from client certificate", { source: this.source, agent: result.agentId });
    else log.warn("unable to extract identity", { source: this.source, reason: result.reason, peer: req.remoteAddress });
    return result;
  }

  private extract(req: AuthInput): AuthResult {
    const cert = req.peerCertificate;
    if (!cert) {
      return { ok: false, reason: "no verified client certificate on the connection (mtls auth needs TLS with client certificates)" };
    }
    if (this.blocklist && cert.fingerprint && this.blocklist.has(cert.fingerprint)) {
      return { ok: false, reason: `certificate is blocklisted (fingerprint ${cert.fingerprint})` };
    }
    let agentId: string;
    if (this.source === "uri") {
      if (cert.uris.length === 0) return { ok: false, reason: "no URI SANs found in client certificate" };
      const hit = cert.uris.map((u) => matchIdentity(this.pattern, u)).find((m) => m.matched);
      agentId = hit?.matched ? hit.agentId : "";
      if (agentId === "") return { ok: false, reason: "no URI SAN matched the agent ID regex pattern" };
    } else {
      const m = matchIdentity(this.pattern, cert.subject);
      if (!m.matched) {
        return { ok: false, reason: `certificate subject '${cert.subject}' does not match the agent ID regex pattern` };
      }
      agentId = m.agentId;
      if (agentId === "") return { ok: false, reason: "agent ID is empty" };
    }
    const problem = agentIdProblem(agentId);
    if (problem) return { ok: false, reason: `invalid agent ID '${agentId}' in client certificate: ${problem}` };
    return { ok: true, agentId };
  }
}
