/**
 * Who is calling the resource proxy (live-resources.md §2.3): the `sub` of a
 * resource-proxy bearer JWT when an `Authorization: Bearer` header is present
 * (a bad token is 401, with no fallback to the certificate), otherwise the
 * CommonName of the verified client certificate. The name must be a DNS-1123
 * label; it names the agent whose cluster the request goes to.
 *
 * @example
 *   const who = await callerAgent(req.headers.authorization, socket.getPeerCertificate(), issuer);
 *   if (!who.ok) { res.writeHead(who.status).end(who.message); return; }
 */
import type { PeerCertificate } from "node:tls";
import type { JwtIssuer } from "../auth/jwt-issuer.ts";

export type CallerIdentity = { ok: true; agent: string; via: "bearer" | "certificate" } | { ok: false; status: 400 | 401; message: string };

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function isDnsLabel(s: string): boolean {
  return DNS_LABEL.test(s);
}

export async function callerAgent(
  authorization: string | undefined,
  cert: PeerCertificate | undefined,
  issuer: Pick<JwtIssuer, "validateResourceProxyToken"> | undefined,
): Promise<CallerIdentity> {
  let agent: string;
  let via: "bearer" | "certificate";
  if (authorization?.startsWith("Bearer ")) {
    if (!issuer) return { ok: false, status: 401, message: "authentication failed" };
    try {
      agent = await issuer.validateResourceProxyToken(authorization.slice("Bearer ".length).trim());
    } catch {
      return { ok: false, status: 401, message: "authentication failed" };
    }
    via = "bearer";
  } else {
    const cn = cert?.subject?.CN;
    agent = Array.isArray(cn) ? (cn[0] ?? "") : (cn ?? "");
    if (!agent) return { ok: false, status: 401, message: "authentication failed" };
    via = "certificate";
  }
  if (!isDnsLabel(agent)) return { ok: false, status: 400, message: "invalid agent name" };
  return { ok: true, agent, via };
}
