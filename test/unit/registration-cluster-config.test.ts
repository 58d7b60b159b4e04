/**
 * The ClusterConfig JSON of cluster Secrets as self cluster registration reads
 * and rewrites it: credentials read as bytes, other fields kept, Go's field
 * order, and a broken config read as empty instead of throwing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { V1Secret } from "@kubernetes/client-node";
import { readClusterConfig, sameBytes, writeClusterConfig } from "../../src/registration/cluster-config.ts";

const secretWith = (config: string | undefined): V1Secret => ({ data: config === undefined ? {} : { config: Buffer.from(config).toString("base64") } });
const b64 = (s: string) => Buffer.from(s).toString("base64");

test("reads the bearer token and the PEMs as bytes", () => {
  const cfg = readClusterConfig(secretWith(JSON.stringify({ bearerToken: "t", tlsClientConfig: { insecure: false, certData: b64("C"), keyData: b64("K"), caData: b64("A") } })));
  assert.equal(cfg.problem, undefined);
  assert.equal(cfg.bearerToken, "t");
  assert.deepEqual([cfg.certData?.toString(), cfg.keyData?.toString(), cfg.caData?.toString()], ["C", "K", "A"]);
});

test("a missing or broken config reads as empty with the reason", () => {
  assert.match(readClusterConfig(secretWith(undefined)).problem ?? "", /missing/);
  assert.match(readClusterConfig(secretWith("{not json")).problem ?? "", /not JSON/);
  assert.match(readClusterConfig(secretWith("[1]")).problem ?? "", /not a JSON object/);
  assert.deepEqual(readClusterConfig(secretWith("[1]")).raw, {});
});

test("writes the credentials in Go's field order and keeps every other field", () => {
  const raw = { proxyUrl: "http://proxy", tlsClientConfig: { caData: b64("old"), serverName: "sni", insecure: false }, username: "u", extra: { a: 1 } };
  const out = writeClusterConfig(raw, { bearerToken: "new", certData: Buffer.from("C"), keyData: Buffer.from("K"), caData: Buffer.from("A") });
  assert.equal(out, JSON.stringify({
    username: "u",
    bearerToken: "new",
    tlsClientConfig: { insecure: false, serverName: "sni", certData: b64("C"), keyData: b64("K"), caData: b64("A") },
    proxyUrl: "http://proxy",
    extra: { a: 1 },
  }));
});

test("only what is given changes; an empty config gets tlsClientConfig.insecure=false", () => {
  const stored = { bearerToken: "keep", tlsClientConfig: { insecure: false, certData: b64("C"), keyData: b64("K"), caData: b64("A") } };
  assert.equal(writeClusterConfig(stored, {}), JSON.stringify(stored));
  assert.equal(writeClusterConfig({}, { bearerToken: "t" }), JSON.stringify({ bearerToken: "t", tlsClientConfig: { insecure: false } }));
});

test("sameBytes compares bytes; absent equals only absent", () => {
  assert.ok(sameBytes(Buffer.from("a"), Buffer.from("a")));
  assert.ok(!sameBytes(Buffer.from("a"), Buffer.from("a\n")));
  assert.ok(!sameBytes(undefined, Buffer.from("a")));
  assert.ok(sameBytes(undefined, undefined));
});
