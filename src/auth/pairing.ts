/**
 * Start-up check that the auth method fits the transport, so a principal never runs in a
 * combination that silently lets identities be forged or can never authenticate anyone.
 *
 * Same as upstream: header auth needs `--insecure-plaintext` (the sidecar terminates TLS
 * and injects the header); mtls auth forbids it (no client certificate without TLS).
 * Stricter than upstream: header auth on a non-loopback listen address is refused unless
 * `--insecure-allow-nonloopback-header-auth` is set, because anything that reaches that
 * port without passing the sidecar can send any identity header it likes.
 *
 * @example
 *   const { warnings } = validateAuthTlsPairing({ auth: "header", plaintext: true, listenHost: "127.0.0.1" });
 */
import { BlockList, isIP } from "node:net";
import { AuthConfigError } from "./config-error.ts";
import type { AuthMethod, AuthMethodName } from "./method.ts";

/** The override flag for header auth on a non-loopback address (declared in the settings table). */
export const ALLOW_NONLOOPBACK_HEADER_AUTH_FLAG = "--insecure-allow-nonloopback-header-auth";

export interface AuthTlsPairing {
  /** The method, or its name. */
  auth: AuthMethod | AuthMethodName;
  /** `--insecure-plaintext`. */
  plaintext: boolean;
  /** `--listen-host`; "" means all interfaces. */
  listenHost: string;
  /** `--insecure-allow-nonloopback-header-auth`. */
  allowNonLoopbackPlaintext?: boolean;
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

/** True for 127.0.0.0/8, ::1 (any spelling, also IPv4-mapped ::ffff:127.x, bracketed) and `localhost`. */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h === "localhost") return true;
  const family = isIP(h);
  // BlockList matches IPv4-mapped IPv6 addresses against IPv4 rules.
  return family !== 0 && LOOPBACK.check(h, family === 4 ? "ipv4" : "ipv6");
}

/**
 * Returns warnings to log loudly at start; throws AuthConfigError (naming the fix) for a
 * combination that must not run.
 */
export function validateAuthTlsPairing(p: AuthTlsPairing): { warnings: string[] } {
  const method = typeof p.auth === "string" ? p.auth : p.auth.name;
  const host = p.listenHost.trim();
  const shownHost = host === "" ? '"" (all interfaces)' : host;
  const warnings: string[] = [];

  if (method === "header" && !p.plaintext) {
    throw new AuthConfigError(
      "--insecure-plaintext",
      "false",
      "header auth requires --insecure-plaintext: a mesh sidecar terminates TLS and injects the identity header; " +
        "set --insecure-plaintext=true and --listen-host=127.0.0.1 (or use --auth=mtls:subject:<regex> for direct TLS without a mesh)",
    );
  }
  if (method === "mtls" && p.plaintext) {
    throw new AuthConfigError(
      "--insecure-plaintext",
      "true",
      "mtls auth cannot be used with --insecure-plaintext: without TLS there is no client certificate; " +
        "remove --insecure-plaintext (or, behind a service mesh, use --auth=header:<header>:<regex>)",
    );
  }
  if (method === "header" && !isLoopbackHost(host)) {
    if (!p.allowNonLoopbackPlaintext) {
      throw new AuthConfigError(
        "--listen-host",
        host,
        `header auth in plaintext on ${shownHost} lets anything that reaches this port without passing the mesh sidecar ` +
          "claim any agent identity; set --listen-host=127.0.0.1 so only the local sidecar can connect, or, if your mesh " +
          `delivers inbound traffic to the pod IP (Istio does), set ${ALLOW_NONLOOPBACK_HEADER_AUTH_FLAG}=true and enforce ` +
          "STRICT mesh mTLS plus a NetworkPolicy that admits only mesh traffic",
      );
    }
    warnings.push(
      `INSECURE: header auth in plaintext on non-loopback ${shownHost} (${ALLOW_NONLOOPBACK_HEADER_AUTH_FLAG}=true): ` +
        "ANY client that reaches this port without passing the mesh sidecar can impersonate ANY agent. " +
        "Make sure mesh mTLS is STRICT (Istio PeerAuthentication) and a NetworkPolicy admits only mesh traffic.",
    );
  }
  if (method === "userpass" && p.plaintext) {
    warnings.push("INSECURE: userpass auth over --insecure-plaintext sends agent secrets unencrypted unless a mesh encrypts the traffic");
  }
  return { warnings };
}
