// The principal's --auth and the agent's --creds values: accepted forms and precise errors.
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { HeaderIdentity } from "../../src/auth/header-identity.ts";
import { AuthConfigError, parseAgentCreds, parseAuthSetting } from "../../src/auth/method.ts";
import { MtlsIdentity } from "../../src/auth/mtls-identity.ts";
import { configureLogging } from "../../src/observability/log.ts";

const logs: string[] = [];
configureLogging({ write: (l) => logs.push(l) });

function authError(value: string, problem: RegExp): void {
  assert.throws(
    () => parseAuthSetting(value),
    (err: unknown) => {
      assert.ok(err instanceof AuthConfigError, String(err));
      assert.equal(err.setting, "--auth");
      assert.equal(err.value, value);
      assert.match(err.message, /^invalid --auth /);
      assert.match(err.message, /accepted: header:<header-name>:<regex>, mtls:subject:<regex>/);
      assert.match(err.problem, problem);
      return true;
    },
  );
}

describe("parseAuthSetting: accepted forms", () => {
  it("header:<name>:<regex> splits at the first ':' so the regex may contain ':'", () => {
    const m = parseAuthSetting("header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)");
    assert.ok(m instanceof HeaderIdentity);
    assert.equal(m.metadataKey, "x-forwarded-client-cert");
    assert.equal(m.pattern.source, "^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)");
  });

  it("trims the header name and regex like upstream", () => {
    const m = parseAuthSetting("header: X-Agent : ^(.+)$ ") as HeaderIdentity;
    assert.equal(m.metadataKey, "x-agent");
    assert.equal(m.pattern.source, "^(.+)$");
  });

  it("mtls:subject:, mtls:uri: and the deprecated mtls:<regex> (with a warning)", () => {
    const s = parseAuthSetting("mtls:subject:CN=([^,]+)") as MtlsIdentity;
    assert.equal(s.source, "subject");
    const u = parseAuthSetting("mtls:uri:spiffe://[^/]+/ns/[^/]+/sa/(.+)") as MtlsIdentity;
    assert.equal(u.source, "uri");
    logs.length = 0;
    const d = parseAuthSetting("mtls:CN=([^,]+)") as MtlsIdentity;
    assert.equal(d.source, "subject");
    assert.equal(d.pattern.source, "CN=([^,]+)");
    assert.ok(logs.some((l) => /level=warning.*DEPRECATED: mtls/.test(l)), logs.join("\n"));
  });

  it("userpass:<path> loads the database and warns that it is deprecated", () => {
    const dir = mkdtempSync(join(tmpdir(), "auth-parse-"));
    const path = join(dir, "passwd");
    writeFileSync(path, "agent-1:$2b$04$abcdefghijklmnopqrstuuyx2n0Zzopyr9QuYTMCfOJJOj526QVoC\n");
    logs.length = 0;
    assert.equal(parseAuthSetting(`userpass:${path}`).name, "userpass");
    assert.ok(logs.some((l) => /DEPRECATED: userpass/.test(l)));
  });
});

describe("parseAuthSetting: errors", () => {
  it("empty value", () => authError("", /empty/));
  it("no ':'", () => authError("mtls", /missing ":"/));
  it("unknown method", () => authError("oauth:x", /unknown auth method "oauth"/));
  it("header without regex part", () => authError("header:x-agent", /header name and a regex/));
  it("empty header name", () => authError("header::^(.+)$", /header name is empty/));
  it("empty header regex", () => authError("header:x-agent: ", /regex is empty/));
  it("header name that is no gRPC metadata key", () => authError("header:x agent:^(.+)$", /not a valid gRPC metadata key/));
  it("binary header", () => authError("header:x-id-bin:^(.+)$", /binary or reserved/));
  it("regex that does not compile", () => authError("header:x-agent:^(.+", /not valid Go RE2 syntax: missing closing \)/));
  it("JS-only regex syntax Go would refuse", () => authError("header:x-agent:^(?<=a)(.+)", /not valid Go RE2 syntax: invalid named capture: `\(\?<=a\)\(\.\+\)`/));
  it("regex without a capture group", () => authError("header:x-agent:^.+$", /no capture group/));
  it("empty mtls regex", () => authError("mtls:subject:", /regex is empty/));
  it("bare mtls:", () => authError("mtls:", /needs an extraction regex/));
  it("userpass without a path", () => authError("userpass:", /path of the user database/));
  it("userpass with a missing file", () => authError("userpass:/nonexistent/passwd", /could not load the user database/));
});

describe("parseAgentCreds", () => {
  it("header: and mtls:<anything> send empty credentials", () => {
    assert.deepEqual(parseAgentCreds("header:"), { method: "header", credentials: {} });
    assert.deepEqual(parseAgentCreds("mtls:any"), { method: "mtls", credentials: {} });
  });

  it("userpass:<file> reads id:secret from the first line (secret may contain ':')", () => {
    const dir = mkdtempSync(join(tmpdir(), "auth-creds-"));
    const path = join(dir, "creds");
    writeFileSync(path, "agent-1:pa:ss\r\nignored\n");
    assert.deepEqual(parseAgentCreds(`userpass:${path}`), {
      method: "userpass",
      credentials: { clientid: "agent-1", clientsecret: "pa:ss" },
    });
  });

  it("errors name --creds and say what is accepted", () => {
    for (const [value, problem] of [
      ["header", /must contain ":"/],
      ["token:abc", /unknown auth method "token"/],
      ["userpass:", /needs a credentials file/],
      ["userpass:/nonexistent", /could not read credentials file/],
    ] as const) {
      assert.throws(
        () => parseAgentCreds(value),
        (err: unknown) =>
          err instanceof AuthConfigError && err.setting === "--creds" && problem.test(err.problem) && /accepted: header:/.test(err.message),
        value,
      );
    }
    const dir = mkdtempSync(join(tmpdir(), "auth-creds-"));
    writeFileSync(join(dir, "nocolon"), "agent-1\n");
    assert.throws(() => parseAgentCreds(`userpass:${join(dir, "nocolon")}`), /must be <client-id>:<client-secret>/);
    writeFileSync(join(dir, "empty"), "");
    assert.throws(() => parseAgentCreds(`userpass:${join(dir, "empty")}`), /is empty/);
  });
});
