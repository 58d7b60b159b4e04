/**
 * `--auth header:<name>:<regex>`: the agent identity comes from a header that the mesh
 * sidecar in front of the (plaintext, loopback-bound) principal injects, e.g. Istio's
 * `x-forwarded-client-cert` or Linkerd's `l5d-client-id`. Group 1 of the regex is the agent ID.
 *
 * Only the `Authenticate` call is inspected; later calls are authenticated by the JWT.
 *
 * @example
 *   const m = new HeaderIdentity({ headerName: "l5d-client-id", pattern: "^([^.]+)\\..*" });
 *   m.authenticate({ metadata: new Map([["l5d-client-id", ["agent-1.argocd.serviceaccount.identity.linkerd.cluster.local"]]]), credentials: {} });
 *   // → { ok: true, agentId: "agent-1" }
 */
import { getLogger } from "../observability/log.ts";
import { agentIdProblem } from "./agent-id.ts";
import { AUTH_SETTING_FORMS, AuthConfigError } from "./config-error.ts";
import type { CompiledGoRegexp } from "./go-regexp.ts";
import { compileIdentityPattern, matchIdentity } from "./identity-pattern.ts";
import type { AuthInput, AuthMethod, AuthResult } from "./method.ts";
import { splitXfccElements, XFCC_HEADER } from "./xfcc.ts";

const log = getLogger("auth");

/**
 * Longest header value we accept. Matching is linear (re2js), so this only bounds the
 * work per call; real XFCC values, even with a PEM `Cert=`, are far smaller.
 */
export const MAX_IDENTITY_HEADER_LENGTH = 16 * 1024;

// gRPC metadata keys are lower-case [0-9a-z_.-]; `-bin` keys carry binary, `grpc-` is reserved.
const METADATA_KEY = /^[0-9a-z_.-]+$/;

export interface HeaderIdentityOptions {
  /** Header name as configured (matched case-insensitively). */
  headerName: string;
  /** Go RE2 pattern; group 1 is the agent ID. */
  pattern: string;
  /** The whole `--auth` value, for error messages. */
  setting?: string;
}

export class HeaderIdentity implements AuthMethod {
  readonly name = "header" as const;
  /** The name as configured, used in messages (upstream quotes it this way). */
  readonly headerName: string;
  /** The metadata key: lower-cased name. */
  readonly metadataKey: string;
  readonly pattern: CompiledGoRegexp;

  /** @throws AuthConfigError for an empty/invalid header name or an unusable regex. */
  constructor(opts: HeaderIdentityOptions) {
    const setting = opts.setting ?? `header:${opts.headerName}:${opts.pattern}`;
    const fail = (problem: string): never => {
      throw new AuthConfigError("--auth", setting, problem, AUTH_SETTING_FORMS);
    };
    this.headerName = opts.headerName.trim();
    this.metadataKey = this.headerName.toLowerCase();
    if (this.headerName === "") fail("the header name is empty");
    if (!METADATA_KEY.test(this.metadataKey)) {
      fail(`header name ${JSON.stringify(this.headerName)} is not a valid gRPC metadata key (letters, digits, '-', '_', '.')`);
    }
    if (this.metadataKey.endsWith("-bin") || this.metadataKey.startsWith("grpc-")) {
      fail(`header name ${JSON.stringify(this.headerName)} is a binary or reserved gRPC metadata key`);
    }
    if (opts.pattern.trim() === "") fail("the extraction regex is empty");
    this.pattern = compileIdentityPattern(opts.pattern.trim(), setting);
  }

  describe(): string {
    return `header ${this.metadataKey}, pattern ${this.pattern.source}`;
  }

  authenticate(req: AuthInput): AuthResult {
    const values = req.metadata.get(this.metadataKey);
    const result = this.extract(values);
    if (!result.ok) {
      const fields: Record<string, unknown> = { header: this.metadataKey, reason: result.reason, peer: req.remoteAddress };
      if (log.enabled("debug") && values) fields.value = values.length === 1 ? values[0] : values;
      log.warn("unable to extract identity", fields);
    } else {
      log.debug("extracted agent identity from header", { header: this.metadataKey, agent: result.agentId });
    }
    return result;
  }

  /**
   * The extraction itself, without logging. When `trace` is given, each step taken is
   * appended to it in plain words (used by the diagnostics subcommand).
   */
  extract(values: readonly string[] | undefined, trace?: string[]): AuthResult {
    const step = (s: string) => trace?.push(s);
    const fail = (reason: string): AuthResult => {
      step(`FAIL: ${reason}`);
      return { ok: false, reason };
    };
    if (!values || values.length === 0) return fail(`header '${this.headerName}' not found in request`);
    // Over HTTP/2 a header sent twice never arrives as two values: Node joins repeated
    // fields into one comma-separated value (RFC 9110), handled below. Several values only
    // come from metadata built in-process; refuse them (upstream, whose grpc-go keeps
    // repeats apart, uses the first, which may be the caller's).
    if (values.length > 1) return fail(`header '${this.headerName}' appears more than once`);
    const value = values[0];
    step(`header '${this.metadataKey}' found (${value.length} characters)`);
    if (value.length > MAX_IDENTITY_HEADER_LENGTH) {
      return fail(`header '${this.headerName}' value is too long (${value.length} > ${MAX_IDENTITY_HEADER_LENGTH} characters)`);
    }

    let text = value;
    if (this.metadataKey === XFCC_HEADER) {
      // APPEND_FORWARD puts the sidecar's element last; earlier ones may come from the caller.
      // The documented regex `^.*URI=…` is greedy and so already picks the last URI of the
      // whole value; matching only the last element keeps that true for any regex, e.g. one
      // without the leading `^.*`, which would otherwise pick a forged first element.
      const elements = splitXfccElements(value);
      text = elements[elements.length - 1] ?? "";
      step(
        elements.length > 1
          ? `XFCC has ${elements.length} elements; only the last (appended by the nearest proxy) is used: ${text}`
          : `XFCC has one element: ${text}`,
      );
    } else {
      // Node joins a repeated header field with ", ", so a repeat shows up here as a comma
      // list. Refuse when more than one comma-separated part yields an identity: which
      // copy the proxy wrote is unknowable.
      const parts = value.split(",").map((p) => p.trim());
      if (parts.length > 1) {
        const ids = parts.map((p) => matchIdentity(this.pattern, p)).filter((m) => m.matched && m.agentId !== "");
        if (ids.length > 1) {
          step(`the value has ${parts.length} comma-separated parts and ${ids.length} of them match the regex (a repeated header is joined with ", ")`);
          return fail(`header '${this.headerName}' appears more than once (joined into one value, ${ids.length} of its comma-separated parts yield an identity)`);
        }
      }
    }

    const m = matchIdentity(this.pattern, text);
    if (!m.matched) {
      if (text !== value && matchIdentity(this.pattern, value).matched) {
        step("an earlier XFCC element matches, but it was not added by the nearest proxy and is not trusted");
      }
      return fail("header value does not match the extraction regex pattern");
    }
    step(`regex ${this.pattern.source} matched; capture group 1 = ${JSON.stringify(m.agentId)}`);
    if (m.agentId === "") return fail("extracted agent ID is empty from header value");
    const problem = agentIdProblem(m.agentId);
    if (problem) return fail(`invalid agent ID '${m.agentId}' extracted from header: ${problem}`);
    step(`${JSON.stringify(m.agentId)} is a valid DNS-1123 label`);
    return { ok: true, agentId: m.agentId };
  }
}
