// Deprecated userpass: bcrypt compatible with Go's x/crypto/bcrypt, the upstream file format, timing-safe checks.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { bcryptHash, bcryptVerify, parseBcryptHash } from "../../src/auth/bcrypt.ts";
import { parseUserDatabase, UserpassAuthentication } from "../../src/auth/userpass.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} });

// Produced by libxcrypt's crypt(3) and, for $2b$10$vFlw…, also checked with Go's bcrypt.CompareHashAndPassword.
const VECTORS: Array<[string, string]> = [
  ["U*U", "$2b$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"],
  ["agent-secret", "$2a$04$abcdefghijklmnopqrstuuoomgl2d8CnnlT7N7C34VVKpsuiPaNTC"],
  ["", "$2y$04$CCCCCCCCCCCCCCCCCCCCC.Cg0ly9t/KVBCBYYDfOmZKwry9JuXClC"],
  ["x".repeat(80), "$2b$04$XXXXXXXXXXXXXXXXXXXXXOhRQOZ9MChqltAOuh3KU6pwJS8Bg3Jxu"],
  ["pässwörd", "$2b$04$abcdefghijklmnopqrstuuyx2n0Zzopyr9QuYTMCfOJJOj526QVoC"],
];

describe("bcrypt", () => {
  it("verifies known hashes of every variant and rejects wrong passwords", async () => {
    for (const [pw, hash] of VECTORS) {
      assert.equal(await bcryptVerify(pw, hash), true, hash);
      assert.equal(await bcryptVerify(pw + "!", hash), pw.length >= 72, hash); // bytes after 72 do not count
    }
  });

  it("round-trips its own hashes and refuses malformed ones", async () => {
    const h = await bcryptHash("s3cret", 4);
    assert.match(h, /^\$2b\$04\$[./A-Za-z0-9]{53}$/);
    assert.equal(await bcryptVerify("s3cret", h), true);
    assert.equal(await bcryptVerify("s3cret", "$2b$04$short"), false);
    assert.throws(() => parseBcryptHash("$2b$03$" + "C".repeat(53)), /cost 3/);
  });
});

describe("userpass database", () => {
  it("parses id:hash lines, skipping comments, blanks and invalid entries with warnings", () => {
    const db = parseUserDatabase(
      [
        "# comment",
        "// comment",
        "",
        `agent-1:${VECTORS[1][1]}`,
        "no-colon",
        `Agent_2:${VECTORS[1][1]}`,
        "agent-3:plaintext",
        `agent-1:${VECTORS[0][1]}`,
      ].join("\n"),
      "passwd",
    );
    assert.deepEqual([...db.users.keys()], ["agent-1"]);
    assert.equal(db.users.get("agent-1"), VECTORS[0][1]);
    assert.deepEqual(
      db.warnings.map((w) => w.split(":").slice(0, 2).join(":")),
      ["passwd:5", "passwd:6", "passwd:7", "passwd:8"],
    );
  });
});

describe("userpass authentication", () => {
  const method = new UserpassAuthentication(new Map([["agent-1", VECTORS[1][1]]]));
  const req = (credentials: Record<string, string>) => ({ metadata: new Map<string, string[]>(), credentials });

  it("accepts the right secret and returns the client ID", async () => {
    assert.deepEqual(await method.authenticate(req({ clientid: "agent-1", clientsecret: "agent-secret" })), { ok: true, agentId: "agent-1" });
  });

  it("rejects a wrong secret, an unknown ID and missing fields", async () => {
    assert.equal((await method.authenticate(req({ clientid: "agent-1", clientsecret: "nope" }))).ok, false);
    assert.equal((await method.authenticate(req({ clientid: "agent-9", clientsecret: "agent-secret" }))).ok, false);
    assert.deepEqual(await method.authenticate(req({ clientsecret: "x" })), { ok: false, reason: "username is missing from credentials" });
    assert.deepEqual(await method.authenticate(req({ clientid: "agent-1" })), { ok: false, reason: "password is missing from credentials" });
  });
});
