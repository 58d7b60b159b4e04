// JWT access/refresh tokens in the Go peer's layout (RS512, iss/aud/sub as upstream), with an injected clock.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, it } from "node:test";
import { SignJWT } from "jose";
import {
  ACCESS_TOKEN_AUDIENCE,
  decodeAuthSubject,
  generateSigningKey,
  JwtIssuer,
  loadSigningKey,
  REFRESH_TOKEN_AUDIENCE,
  SigningKeyError,
  signingKeyToPem,
  TokenAudienceError,
  TokenExpiredError,
  TokenNotYetValidError,
  tokenExpiresAt,
  TokenMalformedError,
  tokenNeedsRefresh,
  TokenSignatureError,
  tokenSubject,
  TokenSubjectError,
  type SigningKey,
} from "../../src/auth/jwt-issuer.ts";

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0, 250); // a quarter second past, to check truncation
let key: SigningKey;
let otherKey: SigningKey;
let clock = T0;
let issuer: JwtIssuer;

function decodePart(token: string, i: number): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split(".")[i], "base64url").toString("utf8"));
}

before(async () => {
  key = await generateSigningKey();
  otherKey = await generateSigningKey();
  issuer = new JwtIssuer({ key, now: () => clock });
});

describe("issuing", () => {
  it("produces the Go layout: RS512/JWT header, claim order, sub JSON, aud array, lifetimes", async () => {
    clock = T0;
    const token = await issuer.issueAccessToken("agent-1", "managed");
    assert.equal(JSON.stringify(decodePart(token, 0)), '{"alg":"RS512","typ":"JWT"}');
    const claims = decodePart(token, 1);
    assert.deepEqual(Object.keys(claims), ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"]);
    const now = Math.floor(T0 / 1000);
    assert.equal(claims.iss, "argocd-agent-server");
    assert.equal(claims.sub, '{"clientID":"agent-1","mode":"managed"}');
    assert.deepEqual(claims.aud, [ACCESS_TOKEN_AUDIENCE]);
    assert.equal(claims.iat, now);
    assert.equal(claims.nbf, now);
    assert.equal(claims.exp, now + 300);
    assert.match(String(claims.jti), /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.doesNotMatch(token, /[=+/]/); // unpadded base64url
  });

  it("refresh tokens live 24 h with the refresh audience", async () => {
    clock = T0;
    const claims = decodePart(await issuer.issueRefreshToken("agent-1", "autonomous"), 1);
    assert.deepEqual(claims.aud, [REFRESH_TOKEN_AUDIENCE]);
    assert.equal(claims.exp, Math.floor(T0 / 1000) + 86400);
  });
});

describe("validating", () => {
  it("accepts a fresh access token and returns the decoded subject", async () => {
    clock = T0;
    const token = await issuer.issueAccessToken("agent-1", "managed");
    clock = T0 + 299_000;
    const v = await issuer.validateAccessToken(token);
    assert.deepEqual(v.subject, { clientID: "agent-1", mode: "managed" });
  });

  it("rejects an expired token (zero leeway)", async () => {
    clock = T0;
    const token = await issuer.issueAccessToken("agent-1", "managed");
    clock = T0 + 300_000;
    await assert.rejects(issuer.validateAccessToken(token), TokenExpiredError);
  });

  it("rejects a token used before nbf", async () => {
    clock = T0;
    const token = await issuer.issueAccessToken("agent-1", "managed");
    clock = T0 - 2000;
    await assert.rejects(issuer.validateAccessToken(token), TokenNotYetValidError);
  });

  it("rejects a token signed by another key, a tampered token and a non-RS512 token", async () => {
    clock = T0;
    const foreign = await new JwtIssuer({ key: otherKey, now: () => clock }).issueAccessToken("agent-1", "managed");
    await assert.rejects(issuer.validateAccessToken(foreign), TokenSignatureError);

    const [h, , s] = (await issuer.issueAccessToken("agent-1", "managed")).split(".");
    const forgedPayload = Buffer.from(
      JSON.stringify({ iss: "argocd-agent-server", sub: '{"clientID":"admin","mode":"managed"}', aud: [ACCESS_TOKEN_AUDIENCE] }),
    ).toString("base64url");
    await assert.rejects(issuer.validateAccessToken(`${h}.${forgedPayload}.${s}`), TokenSignatureError);

    const hs = await new SignJWT({ iss: "argocd-agent-server", aud: [ACCESS_TOKEN_AUDIENCE], sub: "{}" })
      .setProtectedHeader({ alg: "HS512" })
      .sign(new Uint8Array(64));
    await assert.rejects(issuer.validateAccessToken(hs), TokenSignatureError);
  });

  it("says when a refresh token is presented as an access token, and vice versa", async () => {
    clock = T0;
    const refresh = await issuer.issueRefreshToken("agent-1", "managed");
    await assert.rejects(issuer.validateAccessToken(refresh), (err: unknown) => {
      assert.ok(err instanceof TokenAudienceError);
      assert.equal(err.actualKind, "refresh");
      assert.equal(err.message, "token is a refresh token, not an access token");
      return true;
    });
    await assert.rejects(issuer.validateRefreshToken(await issuer.issueAccessToken("agent-1", "managed")), TokenAudienceError);
  });

  it("rejects garbage and a wrong issuer", async () => {
    await assert.rejects(issuer.validateAccessToken("not.a.jwt"), TokenMalformedError);
    const other = new JwtIssuer({ key, name: "someone-else", now: () => clock });
    const t = await other.issueAccessToken("agent-1", "managed");
    await assert.rejects(issuer.validateAccessToken(t)); // aud and iss differ
  });

  it("decodes the subject like Go (exact keys, case-insensitive fallback) and rejects non-objects", () => {
    assert.deepEqual(decodeAuthSubject('{"ClientId":"a","mode":"managed"}'), { clientID: "a", mode: "managed" });
    assert.throws(() => decodeAuthSubject("agent-1"), TokenSubjectError);
    assert.throws(() => decodeAuthSubject('{"clientID":5}'), TokenSubjectError);
  });
});

describe("refresh", () => {
  it("issues only a new access token while the refresh token has more than 10 min left", async () => {
    clock = T0;
    const refreshToken = await issuer.issueRefreshToken("agent-1", "autonomous");
    clock = T0 + 60_000;
    const r = await issuer.refresh(refreshToken);
    assert.equal(r.refreshToken, "");
    assert.deepEqual((await issuer.validateAccessToken(r.accessToken)).subject, { clientID: "agent-1", mode: "autonomous" });
  });

  it("also renews the refresh token when it expires within 10 min", async () => {
    clock = T0;
    const refreshToken = await issuer.issueRefreshToken("agent-1", "autonomous");
    clock = T0 + (86400 - 599) * 1000;
    const r = await issuer.refresh(refreshToken);
    assert.notEqual(r.refreshToken, "");
    assert.equal(decodePart(r.refreshToken, 1).exp, Math.floor(clock / 1000) + 86400);
  });

  it("fails for an expired refresh token and for an undecodable subject", async () => {
    clock = T0;
    const refreshToken = await issuer.issueRefreshToken("agent-1", "managed");
    clock = T0 + 86400_000;
    await assert.rejects(issuer.refresh(refreshToken), TokenExpiredError);

    clock = T0;
    const now = Math.floor(T0 / 1000);
    const badSub = await new SignJWT({ iss: "argocd-agent-server", sub: "agent-1", aud: [REFRESH_TOKEN_AUDIENCE], exp: now + 60 })
      .setProtectedHeader({ alg: "RS512", typ: "JWT" })
      .sign(key.privateKey);
    await assert.rejects(issuer.refresh(badSub), TokenSubjectError);
  });
});

describe("agent-side helpers (no verification)", () => {
  it("reads exp and sub, and decides when to refresh (30 s margin)", async () => {
    clock = T0;
    const token = await issuer.issueAccessToken("agent-9", "managed");
    const exp = Math.floor(T0 / 1000) * 1000 + 300_000;
    assert.equal(tokenExpiresAt(token)?.getTime(), exp);
    assert.deepEqual(tokenSubject(token), { clientID: "agent-9", mode: "managed" });
    assert.equal(tokenNeedsRefresh(token, exp - 31_000), false);
    assert.equal(tokenNeedsRefresh(token, exp - 30_000), true);
    assert.equal(tokenExpiresAt("garbage"), undefined);
  });
});

describe("signing keys", () => {
  const dir = mkdtempSync(join(tmpdir(), "auth-jwt-"));

  it("loads a PKCS#8 PEM written by signingKeyToPem and signs with it", async () => {
    const path = join(dir, "jwt.key");
    writeFileSync(path, signingKeyToPem(key));
    const loaded = await loadSigningKey(path);
    clock = T0;
    const t = await new JwtIssuer({ key: loaded, now: () => clock }).issueAccessToken("agent-1", "managed");
    assert.equal((await issuer.validateAccessToken(t)).subject.clientID, "agent-1");
  });

  it("refuses PKCS#1, non-RSA keys and missing files with a precise message", async () => {
    const pkcs1 = join(dir, "pkcs1.pem");
    writeFileSync(pkcs1, key.privateKey.export({ type: "pkcs1", format: "pem" }));
    await assert.rejects(loadSigningKey(pkcs1), (e: Error) => e instanceof SigningKeyError && /PKCS#1.*openssl pkcs8/.test(e.message));

    const ec = join(dir, "ec.pem");
    writeFileSync(ec, generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey.export({ type: "pkcs8", format: "pem" }));
    await assert.rejects(loadSigningKey(ec), /ec key; RS512 tokens need an RSA key/);

    await assert.rejects(loadSigningKey(join(dir, "missing.pem")), SigningKeyError);
  });
});
