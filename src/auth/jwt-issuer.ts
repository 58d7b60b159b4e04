/**
 * Access and refresh tokens in the exact layout the Go peer issues and expects
 * (wire-protocol §3.3/§3.4): compact JWS, RS512 only, header `{"alg":"RS512","typ":"JWT"}`,
 * claims in golang-jwt order `iss, sub, aud, exp, nbf, iat, jti`, where
 *   iss = "argocd-agent-server", aud = ["argocd-agent-server-access" | "…-refresh"],
 *   sub = the JSON string {"clientID":"<agent>","mode":"<managed|autonomous>"},
 *   nbf = iat = issue time (whole seconds), exp = +5 min (access) / +24 h (refresh),
 *   jti = random UUID v4.
 * Validation: signature, alg, iss, aud contains the expected value, exp/nbf when present,
 * zero leeway. A Go agent reads `exp` (to refresh) and `sub` (to learn its name) without
 * verifying, so the layout matters even though only the principal verifies.
 *
 * The key is an RSA private key in PKCS#8 PEM (file `--jwt-key`, or secret
 * `argocd-agent-jwt` field `jwt.key`), or generated per process (`--insecure-jwt-generate`).
 *
 * @example
 *   const issuer = new JwtIssuer({ key: await loadSigningKey("/etc/jwt/jwt.key") });
 *   const { accessToken, refreshToken } = await issuer.issueTokens("agent-1", "managed");
 *   const { subject } = await issuer.validateAccessToken(accessToken); // subject.clientID === "agent-1"
 */
import { createPrivateKey, createPublicKey, generateKeyPair, randomUUID, type KeyObject } from "node:crypto";
import { readFile } from "node:fs/promises";
import { promisify } from "node:util";
import { decodeJwt, errors as joseErrors, jwtVerify, SignJWT } from "jose";

export const TOKEN_ISSUER = "argocd-agent-server";
export const ACCESS_TOKEN_AUDIENCE = `${TOKEN_ISSUER}-access`;
export const REFRESH_TOKEN_AUDIENCE = `${TOKEN_ISSUER}-refresh`;
export const RESOURCE_PROXY_TOKEN_AUDIENCE = `${TOKEN_ISSUER}-resource-proxy`;
export const ACCESS_TOKEN_LIFETIME_SECONDS = 5 * 60;
export const REFRESH_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;
/** The principal renews the refresh token only when the old one expires within this window. */
export const REFRESH_TOKEN_RENEW_WITHIN_SECONDS = 10 * 60;
/** The agent refreshes its access token when at most this much lifetime is left. */
export const AGENT_REFRESH_MARGIN_SECONDS = 30;
/** Size of a generated key; Go's `--insecure-jwt-generate` uses 2048 bits too. */
export const GENERATED_KEY_BITS = 2048;
const ALGORITHM = "RS512";

export type AgentMode = "managed" | "autonomous";

/** The `sub` claim, decoded. Key order when encoded: clientID, mode (as Go marshals it). */
export interface AuthSubject {
  clientID: string;
  mode: string;
}

export interface TokenClaims {
  iss?: string;
  sub?: string;
  aud?: string | string[];
  exp?: number;
  nbf?: number;
  iat?: number;
  jti?: string;
}

export interface ValidatedToken {
  claims: TokenClaims;
  subject: AuthSubject;
}

export interface SigningKey {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** Base class of every token validation failure. */
export class TokenError extends Error {
  override name = "TokenError";
}
/** `exp` is in the past. */
export class TokenExpiredError extends TokenError {
  override name = "TokenExpiredError";
}
/** `nbf` is in the future. */
export class TokenNotYetValidError extends TokenError {
  override name = "TokenNotYetValidError";
}
/** Signature does not verify with our key, or the algorithm is not RS512. */
export class TokenSignatureError extends TokenError {
  override name = "TokenSignatureError";
}
/** `aud` lacks the expected audience; `actualKind` says when it is another of our token kinds. */
export class TokenAudienceError extends TokenError {
  override name = "TokenAudienceError";
  readonly expected: string;
  readonly actualKind?: "access" | "refresh" | "resource-proxy";
  constructor(message: string, expected: string, actualKind?: "access" | "refresh" | "resource-proxy") {
    super(message);
    this.expected = expected;
    this.actualKind = actualKind;
  }
}
/** Not a compact JWS / not JSON / wrong claim types / wrong issuer. */
export class TokenMalformedError extends TokenError {
  override name = "TokenMalformedError";
}
/** `sub` is not the JSON subject `{"clientID":…,"mode":…}` (the Go principal answers UNKNOWN for this on refresh). */
export class TokenSubjectError extends TokenError {
  override name = "TokenSubjectError";
}
/** The signing key cannot be read or is not an RSA PKCS#8 private key. */
export class SigningKeyError extends Error {
  override name = "SigningKeyError";
}

/**
 * Reads a signing key from the first PEM block of `pem`. Like Go, the block's label is not
 * checked but its content must be PKCS#8 (a PKCS#1 "RSA PRIVATE KEY" is refused, with the fix).
 */
export function signingKeyFromPem(pem: string, source = "JWT signing key"): SigningKey {
  const m = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END \1-----/.exec(pem);
  if (!m) throw new SigningKeyError(`no valid PEM data found in ${source}`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(m[2].replace(/\s+/g, ""), "base64"), format: "der", type: "pkcs8" });
  } catch (err) {
    const hint = m[1] === "RSA PRIVATE KEY" ? " (this is PKCS#1; convert with: openssl pkcs8 -topk8 -nocrypt -in key.pem -out jwt.key)" : "";
    throw new SigningKeyError(`no PKCS#8 private key in ${source}${hint}`, { cause: err });
  }
  if (privateKey.asymmetricKeyType !== "rsa") {
    throw new SigningKeyError(`${source} holds a ${privateKey.asymmetricKeyType} key; RS512 tokens need an RSA key`);
  }
  const bits = privateKey.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) throw new SigningKeyError(`${source}: RSA key has ${bits} bits; at least 2048 are required for RS512`);
  return { privateKey, publicKey: createPublicKey(privateKey) };
}

/** Loads the signing key from a PKCS#8 PEM file (`--jwt-key`). */
export async function loadSigningKey(pemPath: string): Promise<SigningKey> {
  let pem: string;
  try {
    pem = await readFile(pemPath, "utf8");
  } catch (err) {
    throw new SigningKeyError(`could not read RSA private key: ${(err as Error).message}`, { cause: err });
  }
  return signingKeyFromPem(pem, pemPath);
}

/** A fresh 2048-bit RSA key for `--insecure-jwt-generate` (tokens die with the process). */
export async function generateSigningKey(): Promise<SigningKey> {
  const { privateKey, publicKey } = await promisify(generateKeyPair)("rsa", { modulusLength: GENERATED_KEY_BITS });
  return { privateKey, publicKey };
}

/** The key as PKCS#8 PEM, the format `jwt.key` holds. */
export function signingKeyToPem(key: SigningKey): string {
  return key.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/** Encodes the subject exactly as Go's json.Marshal of AuthSubject does. */
export function encodeAuthSubject(s: AuthSubject): string {
  return JSON.stringify({ clientID: s.clientID, mode: s.mode });
}

/** Decodes `sub` like Go's json.Unmarshal into AuthSubject (exact key first, else case-insensitive). */
export function decodeAuthSubject(sub: string | undefined): AuthSubject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(sub ?? "");
  } catch (err) {
    throw new TokenSubjectError("token subject is not JSON", { cause: err });
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
    throw new TokenSubjectError("token subject is not a JSON object");
  }
  const obj = parsed as Record<string, unknown>;
  const field = (name: string): string => {
    const key = name in obj ? name : Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase());
    const v = key === undefined ? "" : obj[key];
    if (typeof v !== "string") throw new TokenSubjectError(`token subject field ${name} is not a string`);
    return v;
  };
  return { clientID: field("clientID"), mode: field("mode") };
}

function audienceKind(aud: unknown): "access" | "refresh" | "resource-proxy" | undefined {
  const list = Array.isArray(aud) ? aud : [aud];
  if (list.includes(ACCESS_TOKEN_AUDIENCE)) return "access";
  if (list.includes(REFRESH_TOKEN_AUDIENCE)) return "refresh";
  if (list.includes(RESOURCE_PROXY_TOKEN_AUDIENCE)) return "resource-proxy";
  return undefined;
}

export interface JwtIssuerOptions {
  key: SigningKey;
  /** `iss`, and the prefix of the audiences. Default "argocd-agent-server". */
  name?: string;
  /** Clock in milliseconds (tests inject one). Default Date.now. */
  now?: () => number;
  accessTokenLifetimeSeconds?: number;
  refreshTokenLifetimeSeconds?: number;
  refreshRenewWithinSeconds?: number;
}

export class JwtIssuer {
  private readonly key: SigningKey;
  private readonly name: string;
  private readonly now: () => number;
  private readonly accessLifetime: number;
  private readonly refreshLifetime: number;
  private readonly renewWithin: number;

  constructor(opts: JwtIssuerOptions) {
    this.key = opts.key;
    this.name = opts.name ?? TOKEN_ISSUER;
    this.now = opts.now ?? Date.now;
    this.accessLifetime = opts.accessTokenLifetimeSeconds ?? ACCESS_TOKEN_LIFETIME_SECONDS;
    this.refreshLifetime = opts.refreshTokenLifetimeSeconds ?? REFRESH_TOKEN_LIFETIME_SECONDS;
    this.renewWithin = opts.refreshRenewWithinSeconds ?? REFRESH_TOKEN_RENEW_WITHIN_SECONDS;
  }

  private get accessAudience(): string {
    return `${this.name}-access`;
  }
  private get refreshAudience(): string {
    return `${this.name}-refresh`;
  }

  private async sign(subject: string, audience: string, lifetimeSeconds: number): Promise<string> {
    const now = Math.floor(this.now() / 1000); // golang-jwt truncates NumericDate to seconds
    // Claim order as golang-jwt marshals RegisteredClaims.
    const claims = {
      iss: this.name,
      sub: subject,
      aud: [audience],
      exp: now + lifetimeSeconds,
      nbf: now,
      iat: now,
      jti: randomUUID(),
    };
    return new SignJWT(claims).setProtectedHeader({ alg: ALGORITHM, typ: "JWT" }).sign(this.key.privateKey);
  }

  /** Access token for an agent (5 min by default). */
  issueAccessToken(agentId: string, mode: AgentMode | string): Promise<string> {
    return this.sign(encodeAuthSubject({ clientID: agentId, mode }), this.accessAudience, this.accessLifetime);
  }

  /** Refresh token for an agent (24 h by default). */
  issueRefreshToken(agentId: string, mode: AgentMode | string): Promise<string> {
    return this.sign(encodeAuthSubject({ clientID: agentId, mode }), this.refreshAudience, this.refreshLifetime);
  }

  /** Both tokens, as `Authenticate` returns them. */
  async issueTokens(agentId: string, mode: AgentMode | string): Promise<{ accessToken: string; refreshToken: string }> {
    return {
      accessToken: await this.issueAccessToken(agentId, mode),
      refreshToken: await this.issueRefreshToken(agentId, mode),
    };
  }

  /** Verifies an access token and decodes its subject. @throws TokenError subclasses. */
  validateAccessToken(token: string): Promise<ValidatedToken> {
    return this.validate(token, this.accessAudience, "access");
  }

  /** Verifies a refresh token and decodes its subject. @throws TokenError subclasses. */
  validateRefreshToken(token: string): Promise<ValidatedToken> {
    return this.validate(token, this.refreshAudience, "refresh");
  }

  /**
   * `RefreshToken`: a new access token for the same subject, and a new refresh token only
   * when the presented one expires within 10 minutes (otherwise `refreshToken` is "").
   * @throws TokenError subclasses (TokenSubjectError for an undecodable subject).
   */
  async refresh(refreshToken: string): Promise<{ accessToken: string; refreshToken: string; subject: AuthSubject }> {
    const { claims, subject } = await this.validateRefreshToken(refreshToken);
    if (claims.exp === undefined) throw new TokenMalformedError("refresh token has no exp claim");
    const renew = claims.exp * 1000 - this.now() < this.renewWithin * 1000;
    return {
      accessToken: await this.issueAccessToken(subject.clientID, subject.mode),
      refreshToken: renew ? await this.issueRefreshToken(subject.clientID, subject.mode) : "",
      subject,
    };
  }

  /**
   * Resource-proxy token (upstream internal/issuer/jwt.go): `sub` is the plain agent
   * name, audience "<iss>-resource-proxy", and no `exp` (it lives in a cluster Secret).
   */
  issueResourceProxyToken(agentName: string): Promise<string> {
    const now = Math.floor(this.now() / 1000);
    const claims = { iss: this.name, sub: agentName, aud: [`${this.name}-resource-proxy`], nbf: now, iat: now, jti: randomUUID() };
    return new SignJWT(claims).setProtectedHeader({ alg: ALGORITHM, typ: "JWT" }).sign(this.key.privateKey);
  }

  /** Verifies a resource-proxy token and returns its subject (the agent name). @throws TokenError subclasses. */
  async validateResourceProxyToken(token: string): Promise<string> {
    let payload: TokenClaims;
    try {
      ({ payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.name,
        audience: `${this.name}-resource-proxy`,
        clockTolerance: 0,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw translateJoseError(err, `${this.name}-resource-proxy`, "access");
    }
    if (typeof payload.sub !== "string" || payload.sub === "") throw new TokenSubjectError("resource-proxy token has no subject");
    return payload.sub;
  }

  private async validate(token: string, audience: string, kind: "access" | "refresh"): Promise<ValidatedToken> {
    let payload: TokenClaims;
    try {
      ({ payload } = await jwtVerify(token, this.key.publicKey, {
        algorithms: [ALGORITHM],
        issuer: this.name,
        audience,
        clockTolerance: 0,
        currentDate: new Date(this.now()),
      }));
    } catch (err) {
      throw translateJoseError(err, audience, kind);
    }
    return { claims: payload, subject: decodeAuthSubject(payload.sub) };
  }
}

function translateJoseError(err: unknown, expected: string, kind: "access" | "refresh"): TokenError {
  const opts = { cause: err };
  if (err instanceof joseErrors.JWTExpired) return new TokenExpiredError("token has expired", opts);
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return new TokenSignatureError("token signature is invalid", opts);
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return new TokenSignatureError(`token isn't signed with ${ALGORITHM}`, opts);
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === "aud") {
      const actual = audienceKind(err.payload.aud);
      const message = actual && actual !== kind ? `token is a ${actual} token, not an ${kind} token` : `token audience does not contain ${expected}`;
      return new TokenAudienceError(message, expected, actual);
    }
    if (err.claim === "nbf") return new TokenNotYetValidError("token is not valid yet", opts);
    return new TokenMalformedError(`token claim ${err.claim} is invalid: ${err.message}`, opts);
  }
  return new TokenMalformedError(`token is malformed: ${(err as Error)?.message ?? String(err)}`, opts);
}

/** `exp` of a token, decoded WITHOUT verification (agent side); undefined if absent or unreadable. */
export function tokenExpiresAt(token: string): Date | undefined {
  try {
    const { exp } = decodeJwt(token);
    return typeof exp === "number" ? new Date(exp * 1000) : undefined;
  } catch {
    return undefined;
  }
}

/** Agent side: true when the access token has at most `marginSeconds` left (Go agent: 30 s). */
export function tokenNeedsRefresh(token: string, nowMs = Date.now(), marginSeconds = AGENT_REFRESH_MARGIN_SECONDS): boolean {
  const exp = tokenExpiresAt(token);
  return exp !== undefined && exp.getTime() - nowMs <= marginSeconds * 1000;
}

/** Agent side: the subject of the access token, decoded WITHOUT verification (how a Go agent learns its name). */
export function tokenSubject(token: string): AuthSubject {
  let sub: string | undefined;
  try {
    sub = decodeJwt(token).sub;
  } catch (err) {
    throw new TokenMalformedError("token is malformed", { cause: err });
  }
  return decodeAuthSubject(sub);
}
