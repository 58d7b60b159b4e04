// Pure rules of src/streams/: the log request payload built from the proxy's
// query (upstream's parse), the agent's API server query, the follow filter
// (resume without repeats, timestamp stripping, limitBytes), and the web
// terminal's WebSocket frames (resize forms, stdin, output channels).
import assert from "node:assert/strict";
import { test } from "node:test";
import { kubeLogQuery, logRequestFromQuery, parseInt64, parseTimestampNs, rfc3339Seconds } from "../../src/streams/log-request.ts";
import { LogLineFilter, MAX_LINE_BYTES } from "../../src/streams/log-lines.ts";
import { classifyInbound, outboundFrame } from "../../src/streams/terminal-frames.ts";

test("log query → ContainerLogRequest as upstream parses it", () => {
  const q = new URLSearchParams("container=c&container=d&follow=TRUE&tailLines=10&sinceSeconds=x&limitBytes=%2B5&timestamps=true&previous=false&sinceTime=2024-01-02T03:04:05Z");
  assert.deepEqual(logRequestFromQuery("u", "ns", "p", q), {
    uuid: "u", namespace: "ns", podName: "p", container: "c", follow: true, tailLines: 10, sinceTime: "2024-01-02T03:04:05Z", timestamps: true, limitBytes: 5,
  });
  assert.deepEqual(logRequestFromQuery("u", "ns", "p", new URLSearchParams("")), { uuid: "u", namespace: "ns", podName: "p" });
  assert.equal(parseInt64("9223372036854775808"), undefined);
  assert.equal(parseInt64("-0"), 0);
  assert.equal(parseInt64("1e3"), undefined);
});

test("the agent's API server query: as given for static logs; resumes replace tail and since", () => {
  const req = { uuid: "u", namespace: "n", podName: "p", container: "c", tailLines: 5, sinceSeconds: 60, limitBytes: 100, timestamps: false };
  assert.deepEqual(kubeLogQuery(req), { container: "c", tailLines: "5", sinceSeconds: "60", limitBytes: "100" });
  const ns = parseTimestampNs("2024-01-02T03:04:05.123456789Z")!;
  assert.deepEqual(kubeLogQuery({ ...req, follow: true }, { sinceNs: ns, forceTimestamps: true, ownLimit: true }), {
    container: "c", follow: "true", timestamps: "true", sinceTime: "2024-01-02T03:04:05Z",
  });
  assert.deepEqual(kubeLogQuery({ uuid: "u", namespace: "n", podName: "p", sinceTime: "garbage" }), {});
  assert.equal(rfc3339Seconds(parseTimestampNs("2024-01-02T04:04:05.5+01:00")!), "2024-01-02T03:04:05Z");
});

const ts = (s: number, n = 0) => `2024-01-01T00:00:${String(s).padStart(2, "0")}.${String(n).padStart(9, "0")}Z`;

test("follow filter: strips timestamps, holds partial lines, remembers the resume point", () => {
  const f = new LogLineFilter({ strip: true });
  assert.equal(f.push(Buffer.from(`${ts(1)} a\n${ts(2)} b`)).toString(), "a\n");
  assert.equal(f.push(Buffer.from(`\n${ts(2)} c\n`)).toString(), "b\nc\n");
  assert.equal(f.resumePoint(), undefined, "nothing committed yet");
  f.commit();
  const r = f.resumePoint()!;
  assert.equal(r.ns, parseTimestampNs(ts(2)));
  assert.deepEqual([...r.lines], [`${ts(2)} b`, `${ts(2)} c`]);
  assert.equal(f.push(Buffer.from(`${ts(3)} tail-without-newline`)).length, 0);
  assert.equal(f.end().toString(), "tail-without-newline");
});

test("follow filter: a resumed stream repeats nothing it already sent", () => {
  const first = new LogLineFilter({ strip: false });
  first.push(Buffer.from(`${ts(1)} a\n${ts(2, 5)} b\n${ts(2, 5)} c\n`));
  first.commit();
  first.push(Buffer.from(`${ts(2, 5)} d\n`)); // read, but the connection broke before it was sent
  // sinceTime has second precision: the API server sends from second 1 again.
  const again = new LogLineFilter({ strip: false, resumeAfter: first.resumePoint() });
  const out = again.push(Buffer.from(`${ts(1)} a\n${ts(2, 5)} b\n${ts(2, 5)} c\n${ts(2, 5)} d\n${ts(3)} e\n`));
  assert.equal(out.toString(), `${ts(2, 5)} d\n${ts(3)} e\n`);
});

test("follow filter: limitBytes counts what the caller receives", () => {
  const f = new LogLineFilter({ strip: true, limitBytes: 5 });
  assert.equal(f.push(Buffer.from(`${ts(1)} abc\n${ts(2)} def\n`)).toString(), "abc\nd");
  assert.ok(f.exhausted);
  assert.equal(f.push(Buffer.from(`${ts(3)} x\n`)).length, 0);
});

test("follow filter: a line longer than the bound passes through in pieces", () => {
  const f = new LogLineFilter({ strip: true });
  const long = "y".repeat(MAX_LINE_BYTES + 10);
  const a = f.push(Buffer.from(`${ts(1)} ${long}`));
  assert.equal(a.toString(), long);
  assert.equal(f.push(Buffer.from("zz\nnext\n")).toString(), "zz\nnext\n");
});

test("terminal frames: resize forms, stdin, and everything else as stdin", () => {
  assert.deepEqual(classifyInbound(Buffer.from('\x04{"Width":100,"Height":30}')), { resize: { cols: 100, rows: 30 } });
  assert.deepEqual(classifyInbound(Buffer.from('\x04{"width":7,"height":3}')), { resize: { cols: 7, rows: 3 } });
  assert.deepEqual(classifyInbound(Buffer.from('{"operation":"resize","cols":120,"rows":40}')), { resize: { cols: 120, rows: 40 } });
  assert.deepEqual(classifyInbound(Buffer.from('\x00{"Width":1,"Height":2}')), { resize: { cols: 1, rows: 2 } });
  assert.deepEqual(classifyInbound(Buffer.from("\x00ls\r")), { stdin: Buffer.from("ls\r") });
  assert.deepEqual(classifyInbound(Buffer.from('\x04{"Width":0,"Height":0}')), { stdin: Buffer.from('\x04{"Width":0,"Height":0}') });
  assert.deepEqual(classifyInbound(Buffer.from('{"x":1}')), { stdin: Buffer.from('{"x":1}') });
  assert.deepEqual(classifyInbound(Buffer.from("plain")), { stdin: Buffer.from("plain") });
  assert.deepEqual(classifyInbound(Buffer.from([255, 0])), { closeStdin: true });
  assert.deepEqual(classifyInbound(Buffer.from([255, 0, 1])), { stdin: Buffer.from([255, 0, 1]) });
  assert.deepEqual([...outboundFrame("stdout", Buffer.from("a"))], [1, 0x61]);
  assert.deepEqual([...outboundFrame("stderr", Buffer.from("a"))], [2, 0x61]);
  assert.deepEqual([...outboundFrame("", Buffer.from("a"))], [1, 0x61]);
});
