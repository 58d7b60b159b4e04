// The CloudEvent envelope as the Go peer produces and reads it (wire-protocol.md §5.2),
// and parsing of anything a peer might send: typed errors, never a throw.
import { test } from "node:test";
import assert from "node:assert/strict";
import { CloudEvent, type CloudEventAttributeValue } from "../../src/proto/gen/cloudevent.ts";
import {
  decodeCloudEvent,
  encodeCloudEvent,
  extensionString,
  formatSentAt,
  fromWire,
  newEvent,
  objectEvent,
  requestEvent,
  responseEvent,
  toWire,
  type EventParseResult,
} from "../../src/events/cloudevent.ts";
import { heartbeatEvent } from "../../src/events/ack.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const str = (s: string) => s.length.toString(16).padStart(2, "0") + Buffer.from(s).toString("hex");
const s = (value: string): CloudEventAttributeValue => ({ attr: { $case: "ceString", value } });
const uri = (value: string): CloudEventAttributeValue => ({ attr: { $case: "ceUri", value } });

/** A CloudEvent as the Go principal emits a spec-update (attribute order is random in Go). */
function goSpecUpdate(overrides: Partial<CloudEvent> = {}, data: string = '{"metadata":{"name":"guestbook"},"spec":{}}'): CloudEvent {
  return {
    id: "",
    source: "",
    specVersion: "1.0",
    type: "io.argoproj.argocd-agent.event.spec-update",
    attributes: {
      sentat: s("2025-01-02T03:04:05.123456789Z"),
      principaluid: s("5f0c8a52-4d1e-4c2b-9b53-5f3d2f9a0e11"),
      subject: s("argocd/guestbook"),
      eventid: s("guestbook_uid-1_42"),
      dataschema: uri("application"),
      resourceid: s("guestbook_uid-1"),
      datacontenttype: s("application/json"),
      traceparent: s("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    },
    data: { $case: "binaryData", value: Buffer.from(data) },
    ...overrides,
  };
}

function expectError(r: EventParseResult, code: string): NonNullable<Extract<EventParseResult, { ok: false }>["error"]> {
  assert.equal(r.ok, false, "expected a parse error");
  if (r.ok) throw new Error("unreachable");
  assert.equal(r.error.code, code, r.error.message);
  return r.error;
}

test("heartbeat ping encodes exactly like the Go agent's", () => {
  const ping = heartbeatEvent(EventSources.agent, "u1");
  const expected =
    "12" + str("agent://agent-managed") + // 2 source (1 id stays empty)
    "1a" + str("1.0") + // 3 spec_version
    "22" + str("io.argoproj.argocd-agent.event.ping") + // 4 type
    "2a19" + "0a" + str("dataschema") + "120b" + "2a" + str("heartbeat") + // 5 attribute, value ce_uri (5)
    "2a12" + "0a" + str("resourceid") + "1204" + "1a" + str("u1") + // extensions as ce_string (3)
    "2a0f" + "0a" + str("eventid") + "1204" + "1a" + str("u1") +
    "3200"; // 6 binary_data, set but empty
  assert.equal(hex(encodeCloudEvent(ping)), expected);
});

test("object events follow the object rule and carry JSON in binary_data", () => {
  const app = { metadata: { name: "guestbook", namespace: "argocd", uid: "uid-1", resourceVersion: "42" }, spec: { project: "default" } };
  const ev = objectEvent(EventTypes.specUpdate, EventTargets.application, app, EventSources.principal, { principaluid: "p-1" });
  assert.equal(ev.resourceId, "guestbook_uid-1");
  assert.equal(ev.eventId, "guestbook_uid-1_42");
  assert.equal(ev.subject, "argocd/guestbook");
  const wire = toWire(ev);
  assert.equal(wire.id, "");
  assert.equal(wire.source, "");
  assert.equal(wire.specVersion, "1.0");
  assert.deepEqual(wire.attributes["dataschema"], uri("application"));
  assert.deepEqual(wire.attributes["datacontenttype"], s("application/json"));
  assert.deepEqual(wire.attributes["subject"], s("argocd/guestbook"));
  assert.deepEqual(wire.attributes["resourceid"], s("guestbook_uid-1"));
  assert.deepEqual(wire.attributes["principaluid"], s("p-1"));
  assert.equal(wire.attributes["time"], undefined);
  assert.equal(wire.data?.$case, "binaryData");
  assert.deepEqual(JSON.parse(Buffer.from(wire.data!.value as Uint8Array).toString()), app);

  const back = decodeCloudEvent(encodeCloudEvent(ev));
  assert.ok(back.ok);
  assert.deepEqual(back.value.payload, app);
  assert.equal(back.value.event.eventId, ev.eventId);
  assert.equal(extensionString(back.value.event, "principaluid"), "p-1");
});

test("request and response events use UUID ids as Go does", () => {
  const req = requestEvent(EventTypes.requestResourceResync, EventTargets.resourceResync, {}, EventSources.agent, "req-1");
  assert.equal(req.resourceId, "req-1");
  assert.equal(req.eventId, "req-1");
  assert.equal(Buffer.from(req.data).toString(), "{}");
  const res = responseEvent(EventTypes.response, EventTargets.resource, { uuid: "req-1", status: 200 }, EventSources.agent, "req-1");
  assert.equal(res.eventId, "req-1");
  assert.notEqual(res.resourceId, "req-1");
  assert.match(res.resourceId, /^[0-9a-f-]{36}$/);
});

test("building refuses what the Go writer would silently drop", () => {
  const base = { type: EventTypes.create, target: EventTargets.application, source: "", resourceId: "r", eventId: "e" } as const;
  assert.throws(() => newEvent({ ...base, resourceId: "" }), RangeError);
  assert.throws(() => newEvent({ ...base, eventId: "" }), RangeError);
  assert.throws(() => newEvent({ ...base, extensions: { "trace-id": "x" } }), RangeError);
  assert.throws(() => newEvent({ ...base, extensions: { dataschema: "x" } }), RangeError);
});

test("sentat is RFC 3339 UTC with trailing zeros trimmed", () => {
  assert.equal(formatSentAt(Date.UTC(2025, 0, 2, 3, 4, 5, 120)), "2025-01-02T03:04:05.12Z");
  assert.equal(formatSentAt(Date.UTC(2025, 0, 2, 3, 4, 5, 1)), "2025-01-02T03:04:05.001Z");
  assert.equal(formatSentAt(Date.UTC(2025, 0, 2, 3, 4, 50, 0)), "2025-01-02T03:04:50Z");
});

test("parses an event exactly as the Go principal sends it", () => {
  const r = fromWire(goSpecUpdate());
  assert.ok(r.ok, r.ok ? "" : r.error.message);
  const { event, payload } = r.value;
  assert.equal(event.type, EventTypes.specUpdate);
  assert.equal(event.target, "application");
  assert.equal(event.resourceId, "guestbook_uid-1");
  assert.equal(event.eventId, "guestbook_uid-1_42");
  assert.equal(event.subject, "argocd/guestbook");
  assert.equal(event.dataContentType, "application/json");
  assert.equal(event.id, "");
  assert.deepEqual(Object.keys(event.extensions).sort(), ["eventid", "principaluid", "resourceid", "sentat", "traceparent"]);
  assert.deepEqual(payload, { metadata: { name: "guestbook" }, spec: {} });
});

test("acks and pings without data, or with the data oneof unset, parse", () => {
  const ack = goSpecUpdate({ type: EventTypes.processed, data: undefined });
  ack.attributes["dataschema"] = uri("eventProcessed");
  delete ack.attributes["datacontenttype"];
  const r = fromWire(ack);
  assert.ok(r.ok);
  assert.equal(r.value.payload, undefined);
  assert.equal(r.value.event.data.byteLength, 0);
  const empty = fromWire({ ...ack, data: { $case: "binaryData", value: Buffer.alloc(0) } });
  assert.ok(empty.ok);
});

test("envelope errors are typed", () => {
  expectError(fromWire(undefined), "missing-event");
  expectError(fromWire(goSpecUpdate({ specVersion: "0.3" })), "bad-spec-version");
  expectError(fromWire(goSpecUpdate({ specVersion: "" })), "bad-spec-version");
  expectError(fromWire(goSpecUpdate({ type: "" })), "missing-attribute");

  const noSchema = goSpecUpdate();
  delete noSchema.attributes["dataschema"];
  expectError(fromWire(noSchema), "missing-attribute");

  // Go only reads dataschema from ce_uri: as ce_string it would be lost there, so refuse it.
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, dataschema: s("application") } })), "missing-attribute");
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, dataschema: uri("Application") } })), "unknown-target");
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, dataschema: uri("unknown") } })), "unknown-target");

  const noResource = goSpecUpdate();
  delete noResource.attributes["resourceid"];
  expectError(fromWire(noResource), "missing-attribute");
  const noEventId = goSpecUpdate();
  delete noEventId.attributes["eventid"];
  expectError(fromWire(noEventId), "missing-attribute");
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, resourceid: uri("x") } })), "missing-attribute");
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, eventid: s("") } })), "missing-attribute");
  expectError(fromWire(goSpecUpdate({ attributes: { ...goSpecUpdate().attributes, weird: { attr: undefined } } })), "bad-attribute");
});

test("payload and type errors keep the envelope so the event can still be acked", () => {
  const unknownType = expectError(fromWire(goSpecUpdate({ type: "io.argoproj.argocd-agent.event.frobnicate" })), "unknown-type");
  assert.equal(unknownType.event?.eventId, "guestbook_uid-1_42");

  for (const bad of ["{not json", "[1,2]", "null", "42", '"text"', "\u0000"]) {
    const e = expectError(fromWire(goSpecUpdate({}, bad)), "bad-json");
    assert.equal(e.event?.resourceId, "guestbook_uid-1", bad);
  }
  expectError(fromWire(goSpecUpdate({ data: { $case: "textData", value: "{}" } })), "unsupported-data");
  expectError(fromWire(goSpecUpdate({ data: { $case: "protoData", value: { typeUrl: "x", value: Buffer.alloc(0) } } })), "unsupported-data");

  const big = goSpecUpdate({}, JSON.stringify({ blob: "x".repeat(2048) }));
  const tooLarge = expectError(fromWire(big, { maxPayloadBytes: 1024 }), "too-large");
  assert.equal(tooLarge.event?.eventId, "guestbook_uid-1_42");
  assert.ok(fromWire(big).ok);
});

test("garbage bytes never throw", () => {
  expectError(decodeCloudEvent(Buffer.from("ffffffffffffffffffffff", "hex")), "undecodable");
  expectError(decodeCloudEvent(Buffer.from("2aff7f", "hex")), "undecodable"); // length beyond the buffer
  expectError(decodeCloudEvent(new Uint8Array(0)), "bad-spec-version"); // empty message = all defaults

  // Deterministic fuzz: random bytes and single-byte mutations of a valid encoding.
  let seed = 12345;
  const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32);
  const valid = CloudEvent.encode(goSpecUpdate()).finish();
  let parsed = 0;
  for (let i = 0; i < 3000; i++) {
    let bytes: Uint8Array;
    if (i % 2 === 0) {
      bytes = new Uint8Array(Math.floor(rand() * 64));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
    } else {
      bytes = Uint8Array.from(valid);
      const n = 1 + Math.floor(rand() * 3);
      for (let k = 0; k < n; k++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      if (rand() < 0.3) bytes = bytes.subarray(0, Math.floor(rand() * bytes.length));
    }
    const r = decodeCloudEvent(bytes);
    assert.equal(typeof r.ok, "boolean");
    if (r.ok) parsed++;
  }
  assert.ok(parsed < 3000);
});

test("hand-made objects that break the generated types do not throw", () => {
  const broken = { specVersion: "1.0", type: EventTypes.create, attributes: null } as unknown as CloudEvent;
  expectError(fromWire(broken), "missing-attribute");
  const worse = { specVersion: "1.0", type: EventTypes.create, attributes: { dataschema: null } } as unknown as CloudEvent;
  assert.equal(fromWire(worse).ok, false);
});
