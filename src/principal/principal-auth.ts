/**
 * The principal's authentication as its gRPC services need it: the configured
 * method (header, mtls or userpass) during Authenticate, the JWT issuer for
 * tokens, and the per-call checks of upstream (token, subject, mode, optional
 * certificate CN match).
 */
import type { PeerCertificate as TlsPeerCertificate } from "node:tls";
import type { AuthMethod } from "../auth/method.ts";
import { peerCertificateFromDer, type PeerCertificate } from "../auth/peer-certificate.ts";
import type { JwtIssuer } from "../auth/jwt-issuer.ts";
import { getLogger } from "../observability/log.ts";
import type { AgentMode } from "./agent-registry.ts";

const log = getLogger("auth");

export interface PeerIdentityInput {
  metadata: Map<string, string[]>;
  /** The TLS peer certificate as Node reports it (absent in plaintext or without a client cert). */
  peerCertificate?: TlsPeerCertificate;
  remoteAddress: string;
}

/** Failure codes, for logs and the auth-failure metric. */
export type AuthFailureCode = "wrong-method" | "identity" | "own-namespace";

export type AuthOutcome = { ok: true; agentId: string } | { ok: false; code: AuthFailureCode; reason: string };

export type CallIdentity = { ok: true; agent: string; mode: AgentMode } | { ok: false; reason: string };

export interface PrincipalAuth {
  authenticate(method: string, credentials: Record<string, string>, peer: PeerIdentityInput): Promise<AuthOutcome>;
  issueTokens(agent: string, mode: AgentMode): Promise<{ accessToken: string; refreshToken: string }>;
  refresh(refreshToken: string): Promise<{ ok: true; accessToken: string; refreshToken?: string } | { ok: false; reason: string }>;
  verifyCall(token: string, peer: PeerIdentityInput): Promise<CallIdentity>;
}

export interface PrincipalAuthOptions {
  method: AuthMethod;
  issuer: JwtIssuer;
  namespace: string;
  /** --client-cert-subject-match with TLS and required client certs: the cert CN must equal the agent name. */
  subjectMatch: boolean;
}

function peerCert(peer: PeerIdentityInput): PeerCertificate | undefined {
  const raw = peer.peerCertificate?.raw;
  if (!raw || raw.length === 0) return undefined;
  try {
    return peerCertificateFromDer(raw);
  } catch (err) {
    log.warn("could not parse client certificate", { client: peer.remoteAddress, error: err as Error });
    return undefined;
  }
}

export function createPrincipalAuth(opts: PrincipalAuthOptions): PrincipalAuth {
  return {
    async authenticate(method, credentials, peer) {
      if (method !== opts.method.name) {
        return { ok: false, code: "wrong-method", reason: `agent uses auth method "${method}", the principal accepts "${opts.method.name}"` };
      }
      const res = await opts.method.authenticate({
        metadata: peer.metadata,
        peerCertificate: peerCert(peer),
        credentials,
        remoteAddress: peer.remoteAddress,
      });
      if (!res.ok) return { ok: false, code: "identity", reason: res.reason };
      if (res.agentId === opts.namespace) {
        return { ok: false, code: "own-namespace", reason: `agent ID "${res.agentId}" equals the principal's own namespace` };
      }
      return { ok: true, agentId: res.agentId };
    },
    issueTokens: (agent, mode) => opts.issuer.issueTokens(agent, mode),
    async refresh(refreshToken) {
      try {
        const res = await opts.issuer.refresh(refreshToken);
        return { ok: true, accessToken: res.accessToken, refreshToken: res.refreshToken || undefined };
      } catch (err) {
        return { ok: false, reason: (err as Error).message };
      }
    },
    async verifyCall(token, peer) {
      let subject;
      try {
        subject = (await opts.issuer.validateAccessToken(token)).subject;
      } catch (err) {
        return { ok: false, reason: (err as Error).message };
      }
      if (subject.clientID === opts.namespace) return { ok: false, reason: "token subject is the principal's own namespace" };
      if (subject.mode !== "managed" && subject.mode !== "autonomous") return { ok: false, reason: `bad mode ${subject.mode} in token` };
      if (opts.subjectMatch) {
        const cn = peer.peerCertificate?.subject?.CN;
        if (cn !== subject.clientID) return { ok: false, reason: `client certificate CN "${cn ?? ""}" does not match agent "${subject.clientID}"` };
      }
      return { ok: true, agent: subject.clientID, mode: subject.mode };
    },
  };
}
