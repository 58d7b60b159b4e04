/**
 * The shape every principal-side auth method implements, and the parsers for the
 * principal's `--auth` and the agent's `--creds` settings.
 *
 * A method turns what the `Authenticate` call carried (metadata, TLS peer, credentials)
 * into an agent ID, or a reason that is logged but never sent to the client (the client
 * only ever sees UNAUTHENTICATED "authentication failed", as with the Go principal).
 *
 * @example
 *   const method = parseAuthSetting("header:l5d-client-id:^([^.]+)\\..*");
 *   const result = await method.authenticate({ metadata, credentials: {}, remoteAddress });
 *   if (result.ok) issueTokens(result.agentId);
 */
import { readFileSync } from "node:fs";
import { getLogger } from "../observability/log.ts";
import { AGENT_CREDS_FORMS, AUTH_SETTING_FORMS, AuthConfigError } from "./config-error.ts";
import { HeaderIdentity } from "./header-identity.ts";
import { MtlsIdentity, type MtlsIdentitySource } from "./mtls-identity.ts";
import { UserpassAuthentication } from "./userpass.ts";
import type { PeerCertificate } from "./peer-certificate.ts";

export type { PeerCertificate } from "./peer-certificate.ts";
export { AGENT_CREDS_FORMS, AUTH_SETTING_FORMS, AuthConfigError } from "./config-error.ts";

const log = getLogger("auth");

/** Method names as they travel in `AuthRequest.method`. */
export type AuthMethodName = "header" | "mtls" | "userpass";
export const AUTH_METHOD_NAMES: readonly AuthMethodName[] = ["header", "mtls", "userpass"];

/** What the principal knows about one `Authenticate` call. */
export interface AuthInput {
  /** Incoming metadata: lower-cased keys, every value the transport delivered. */
  metadata: Map<string, string[]>;
  /** The verified client leaf certificate, when the call arrived over TLS with one. */
  peerCertificate?: PeerCertificate;
  /** `AuthRequest.credentials` (userpass: `clientid`, `clientsecret`). */
  credentials: Record<string, string>;
  /** Peer address, for logs only: behind a mesh sidecar it is the sidecar's. */
  remoteAddress?: string;
}

export type AuthResult = { ok: true; agentId: string } | { ok: false; reason: string };

export interface AuthMethod {
  readonly name: AuthMethodName;
  /** One line for the startup log, e.g. `header x-forwarded-client-cert, pattern ^.*URI=…`. */
  describe(): string;
  /** Never throws for bad input; returns `{ ok: false, reason }`. May be async (userpass), so always await it. */
  authenticate(req: AuthInput): AuthResult | Promise<AuthResult>;
}

/**
 * Parses the principal's `--auth` value into a ready method.
 * Logs a deprecation warning for `mtls:<regex>` and `userpass:<path>`.
 * @throws AuthConfigError naming `--auth`, the value, the problem and the accepted forms.
 */
export function parseAuthSetting(value: string): AuthMethod {
  const fail = (problem: string, cause?: unknown): never => {
    throw new AuthConfigError("--auth", value, problem, AUTH_SETTING_FORMS, { cause });
  };
  if (value.trim() === "") fail("value is empty (an auth method is required)");
  const colon = value.indexOf(":");
  if (colon < 0) fail(`missing ":" after the method name`);
  const method = value.slice(0, colon);
  const config = value.slice(colon + 1);

  switch (method) {
    case "header": {
      // Split at the first ':' only: the header name cannot contain ':', the regex may.
      const sep = config.indexOf(":");
      if (sep < 0) fail("header auth needs both a header name and a regex: header:<header-name>:<regex>");
      return new HeaderIdentity({ headerName: config.slice(0, sep).trim(), pattern: config.slice(sep + 1).trim(), setting: value });
    }
    case "mtls": {
      if (config.trim() === "") fail("mtls auth needs an extraction regex: mtls:subject:<regex> or mtls:uri:<regex>");
      let source: MtlsIdentitySource = "subject";
      let pattern = config;
      if (config.startsWith("subject:")) pattern = config.slice("subject:".length);
      else if (config.startsWith("uri:")) {
        source = "uri";
        pattern = config.slice("uri:".length);
      } else {
        log.warn("DEPRECATED: mtls auth without an identity source; use mtls:subject:<regex> or mtls:uri:<regex>", {
          auth: value,
        });
      }
      return new MtlsIdentity({ source, pattern, setting: value });
    }
    case "userpass": {
      const path = config.trim();
      if (path === "") fail("userpass auth needs the path of the user database: userpass:<path>");
      log.warn("DEPRECATED: userpass authentication is deprecated; prefer mtls or header (service mesh) authentication", {
        path,
      });
      try {
        return UserpassAuthentication.fromFile(path);
      } catch (err) {
        return fail(`could not load the user database: ${(err as Error).message}`, err);
      }
    }
    default:
      return fail(`unknown auth method ${JSON.stringify(method)}`);
  }
}

/** What the agent sends in `AuthRequest` for its configured method. */
export interface AgentCredentials {
  method: AuthMethodName;
  credentials: Record<string, string>;
}

/**
 * Parses the agent's `--creds` value (`header:`, `mtls:<ignored>`, `userpass:<file>`).
 * For userpass the file's first line is `id:secret`; it is read now.
 * @throws AuthConfigError naming `--creds`.
 */
export function parseAgentCreds(value: string): AgentCredentials {
  const fail = (problem: string, cause?: unknown): never => {
    throw new AuthConfigError("--creds", value, problem, AGENT_CREDS_FORMS, { cause });
  };
  const colon = value.indexOf(":");
  if (colon < 0) fail(`must contain ":" (method:config)`);
  const method = value.slice(0, colon);
  const config = value.slice(colon + 1);
  switch (method) {
    case "header": // the mesh sidecar injects the identity; the agent sends nothing
    case "mtls": // the identity is the TLS client certificate
      return { method, credentials: {} };
    case "userpass": {
      log.warn("DEPRECATED: userpass credentials are deprecated; prefer mtls or header (service mesh) authentication");
      if (config === "") fail("userpass needs a credentials file: userpass:<file>");
      let text: string;
      try {
        text = readFileSync(config, "utf8");
      } catch (err) {
        return fail(`could not read credentials file: ${(err as Error).message}`, err);
      }
      const firstLine = text.split("\n", 1)[0].replace(/\r$/, "");
      if (text === "") fail(`credentials file ${config} is empty`);
      const sep = firstLine.indexOf(":");
      if (sep <= 0) fail(`the first line of ${config} must be <client-id>:<client-secret>`);
      return {
        method: "userpass",
        credentials: { clientid: firstLine.slice(0, sep), clientsecret: firstLine.slice(sep + 1) },
      };
    }
    default:
      return fail(`unknown auth method ${JSON.stringify(method)}`);
  }
}
