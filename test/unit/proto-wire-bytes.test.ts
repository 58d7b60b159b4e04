// Field numbers of our proto files, checked against protobuf encodings written
// by hand (tag byte = field number << 3 | wire type; 2 = length-delimited,
// 0 = varint). A wrong field number or package name in src/proto fails here.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AuthRequest, AuthResponse, AuthenticationService, RefreshTokenRequest } from "../../src/proto/gen/auth.ts";
import { CloudEvent, CloudEventAttributeValue } from "../../src/proto/gen/cloudevent.ts";
import { Event, EventStreamService, PushSummary } from "../../src/proto/gen/eventstream.ts";
import { VersionResponse, VersionService } from "../../src/proto/gen/version.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** Length-prefixed ASCII string as hex (length < 128). */
const str = (s: string) => s.length.toString(16).padStart(2, "0") + Buffer.from(s).toString("hex");

test("gRPC method paths", () => {
  assert.equal(AuthenticationService.authenticate.path, "/authapi.Authentication/Authenticate");
  assert.equal(AuthenticationService.refreshToken.path, "/authapi.Authentication/RefreshToken");
  assert.equal(VersionService.version.path, "/versionapi.Version/Version");
  assert.equal(EventStreamService.subscribe.path, "/eventstreamapi.EventStream/Subscribe");
  assert.equal(EventStreamService.subscribe.requestStream && EventStreamService.subscribe.responseStream, true);
  assert.equal(EventStreamService.push.path, "/eventstreamapi.EventStream/Push");
  assert.equal(EventStreamService.push.requestStream && !EventStreamService.push.responseStream, true);
  assert.equal(EventStreamService.ping.path, "/eventstreamapi.EventStream/Ping");
});

test("authapi.AuthRequest fields 1..5", () => {
  const bytes = AuthRequest.encode({
    method: "userpass",
    credentials: { clientid: "a" },
    mode: "managed",
    version: "0.9.0",
    agentNamespace: "argocd",
  }).finish();
  const expected =
    "0a" + str("userpass") + // 1 method
    "12" + "0d" + "0a" + str("clientid") + "12" + str("a") + // 2 credentials map entry {1: key, 2: value}
    "1a" + str("managed") + // 3 mode
    "22" + str("0.9.0") + // 4 version
    "2a" + str("argocd"); // 5 agentNamespace
  assert.equal(hex(bytes), expected);
  assert.deepEqual(AuthRequest.decode(Buffer.from(expected, "hex")).credentials, { clientid: "a" });
});

test("authapi.AuthResponse fields 1..4 and RefreshTokenRequest field 1", () => {
  const resp = AuthResponse.encode({ accessToken: "a", refreshToken: "r", version: "v", principalNamespace: "p" }).finish();
  assert.equal(hex(resp), "0a0161" + "120172" + "1a0176" + "220170");
  assert.equal(hex(RefreshTokenRequest.encode({ refreshToken: "r" }).finish()), "0a0172");
});

test("versionapi.VersionResponse field 1", () => {
  assert.equal(hex(VersionResponse.encode({ version: "argocd-agent-0.9.0" }).finish()), "0a" + str("argocd-agent-0.9.0"));
});

test("eventstreamapi.Event field 1 and PushSummary fields 1..3", () => {
  const ev = Event.encode({ event: CloudEvent.fromPartial({ specVersion: "1.0" }) }).finish();
  assert.equal(hex(ev), "0a05" + "1a" + str("1.0"));
  assert.equal(hex(PushSummary.encode({ result: "ok", received: 3, processed: 2 }).finish()), "0a026f6b" + "1003" + "1802");
});

test("io.cloudevents.v1.CloudEvent fields 1..8", () => {
  const base = { id: "i", source: "s", specVersion: "1.0", type: "t", attributes: { k: { attr: { $case: "ceString" as const, value: "v" } } } };
  const head = "0a" + str("i") + "12" + str("s") + "1a" + str("1.0") + "22" + str("t") +
    "2a" + "08" + "0a" + str("k") + "12" + "03" + "1a" + str("v"); // 5 attributes entry {1: key, 2: value message}
  const binary = CloudEvent.encode({ ...base, data: { $case: "binaryData", value: Buffer.from("{}") } }).finish();
  assert.equal(hex(binary), head + "32" + "02" + "7b7d"); // 6 binary_data
  const text = CloudEvent.encode({ ...base, data: { $case: "textData", value: "x" } }).finish();
  assert.equal(hex(text), head + "3a" + str("x")); // 7 text_data
  const proto = CloudEvent.encode({ ...base, data: { $case: "protoData", value: { typeUrl: "x", value: Buffer.alloc(0) } } }).finish();
  assert.equal(hex(proto), head + "42" + "03" + "0a" + str("x")); // 8 proto_data (Any.type_url = 1)
  // Like Go, an empty binary_data is still written when the oneof is set.
  const empty = CloudEvent.encode({ ...base, data: { $case: "binaryData", value: Buffer.alloc(0) } }).finish();
  assert.equal(hex(empty), head + "3200");
});

test("io.cloudevents.v1.CloudEventAttributeValue fields 1..7", () => {
  const enc = (attr: CloudEventAttributeValue["attr"]) => hex(CloudEventAttributeValue.encode({ attr }).finish());
  assert.equal(enc({ $case: "ceBoolean", value: true }), "0801");
  assert.equal(enc({ $case: "ceInteger", value: 7 }), "1007");
  assert.equal(enc({ $case: "ceString", value: "s" }), "1a0173");
  assert.equal(enc({ $case: "ceBytes", value: Buffer.from([1]) }), "220101");
  assert.equal(enc({ $case: "ceUri", value: "u" }), "2a0175");
  assert.equal(enc({ $case: "ceUriRef", value: "r" }), "320172");
  assert.equal(enc({ $case: "ceTimestamp", value: { seconds: "1", nanos: 2 } }), "3a04" + "0801" + "1002");
});
