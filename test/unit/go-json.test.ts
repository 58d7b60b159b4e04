// Go encoding/json output for generic values (used for resync spec checksums).
import { test } from "node:test";
import assert from "node:assert/strict";
import { goJsonMarshal } from "../../src/events/go-json.ts";

const marshal = (v: unknown) => {
  const r = goJsonMarshal(v);
  assert.ok(r.ok, r.ok ? "" : r.error);
  return r.value;
};

test("object keys are sorted by UTF-8 bytes at every depth", () => {
  assert.equal(marshal({ b: { y: 1, x: 2 }, a: [{ d: 1, c: 2 }], Z: true, "é": 0 }), '{"Z":true,"a":[{"c":2,"d":1}],"b":{"x":2,"y":1},"é":0}');
});

test("strings use Go's HTML-safe escaping", () => {
  assert.equal(marshal("<a href=\"x\">&</a>"), '"\\u003ca href=\\"x\\"\\u003e\\u0026\\u003c/a\\u003e"');
  assert.equal(marshal("\b\f\n\r\t\u0000\u001f\\"), '"\\b\\f\\n\\r\\t\\u0000\\u001f\\\\"');
  assert.equal(marshal("\u2028\u2029\x7f"), '"\\u2028\\u2029\x7f"');
  assert.equal(marshal("emoji \u{1F600} ok"), '"emoji \u{1F600} ok"');
  assert.equal(marshal("lone \ud800 surrogate"), '"lone \ufffd surrogate"');
});

test("numbers print like Go's float64/int64 formatting", () => {
  assert.equal(marshal([0, -1, 1.5, 0.000001, 1e-7, 1.5e-7, 1e20, 1e21, 123456789012, -0]), "[0,-1,1.5,0.000001,1e-7,1.5e-7,100000000000000000000,1e+21,123456789012,0]");
});

test("undefined members are skipped; unsupported values are errors, not throws", () => {
  assert.equal(marshal({ a: undefined, b: null }), '{"b":null}');
  assert.equal(goJsonMarshal(Number.POSITIVE_INFINITY).ok, false);
  assert.equal(goJsonMarshal({ f: () => 1 }).ok, false);
  const shared = { x: 1 };
  assert.equal(marshal({ a: shared, b: shared }), '{"a":{"x":1},"b":{"x":1}}');
});
