// Start-up check of auth method vs. transport: upstream's rules plus loopback-only header auth.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { AuthConfigError } from "../../src/auth/config-error.ts";
import { ALLOW_NONLOOPBACK_HEADER_AUTH_FLAG, isLoopbackHost, validateAuthTlsPairing } from "../../src/auth/pairing.ts";

function rejects(p: Parameters<typeof validateAuthTlsPairing>[0], fix: RegExp): void {
  assert.throws(
    () => validateAuthTlsPairing(p),
    (err: unknown) => err instanceof AuthConfigError && fix.test(err.message),
  );
}

describe("validateAuthTlsPairing", () => {
  it("header auth over TLS is an error that says to set --insecure-plaintext and loopback", () => {
    rejects({ auth: "header", plaintext: false, listenHost: "127.0.0.1" }, /set --insecure-plaintext=true and --listen-host=127\.0\.0\.1/);
  });

  it("mtls auth in plaintext is an error that says to remove --insecure-plaintext", () => {
    rejects({ auth: "mtls", plaintext: true, listenHost: "127.0.0.1" }, /remove --insecure-plaintext/);
  });

  it("header auth in plaintext on loopback is fine", () => {
    for (const listenHost of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost", "::ffff:127.0.0.1"]) {
      assert.deepEqual(validateAuthTlsPairing({ auth: "header", plaintext: true, listenHost }), { warnings: [] }, listenHost);
    }
  });

  it("header auth on a non-loopback host (or all interfaces) is an error naming the override flag", () => {
    for (const listenHost of ["", "0.0.0.0", "::", "10.1.2.3", "principal.example"]) {
      rejects({ auth: "header", plaintext: true, listenHost }, new RegExp(`--listen-host=127\\.0\\.0\\.1.*${ALLOW_NONLOOPBACK_HEADER_AUTH_FLAG}=true`));
    }
  });

  it("with the override it runs, returning a loud warning", () => {
    const { warnings } = validateAuthTlsPairing({ auth: "header", plaintext: true, listenHost: "", allowNonLoopbackPlaintext: true });
    assert.equal(warnings.length, 1);
    assert.match(warnings[0], /^INSECURE: .*all interfaces.*impersonate ANY agent/);
  });

  it("mtls over TLS on any host and userpass are accepted (userpass in plaintext warns)", () => {
    assert.deepEqual(validateAuthTlsPairing({ auth: "mtls", plaintext: false, listenHost: "" }), { warnings: [] });
    assert.equal(validateAuthTlsPairing({ auth: "userpass", plaintext: true, listenHost: "" }).warnings.length, 1);
  });

  it("recognises loopback spellings", () => {
    assert.equal(isLoopbackHost("0:0:0:0:0:0:0:1"), true);
    assert.equal(isLoopbackHost("128.0.0.1"), false);
    assert.equal(isLoopbackHost("::ffff:10.0.0.1"), false);
  });
});
