// The grpc-ws codec (src/transport/websocket/), checked against the byte layouts of
// wire-protocol.md §2.1 written out by hand: 5-byte prefix (flag, 4-byte big-endian
// length), flag 0x00/0x01 for gRPC messages, 0x80 for metadata frames holding
// HTTP/1-style header blocks as Go's http.Header.Write produces them, and the client's
// end-of-stream marker 80 00 00 00 00. Bad frames from a peer are refused with a
// message saying what is wrong, and the splitter never holds more than one frame.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  dataFrame, decodeFrame, END_OF_STREAM, GrpcWsFrameError, isEndOfStream, MAX_WS_MESSAGE_BYTES, metadataFrame, MessageSplitter,
} from "../../src/transport/websocket/frames.ts";
import { canonicalHeaderName, encodeGrpcMessage, encodeHeaderBlock, parseHeaderBlock } from "../../src/transport/websocket/header-block.ts";
import { BridgeHeaderError, blockToHttp2Headers, grpcToUpgradeHeaders, upgradeToGrpcHeaders } from "../../src/transport/websocket/bridge-headers.ts";

const hex = (b: Buffer) => b.toString("hex");
const bytes = (h: string) => Buffer.from(h.replace(/\s+/g, ""), "hex");

test("a gRPC message is one frame: flag, big-endian length, payload", () => {
  assert.equal(hex(dataFrame(Buffer.from([0xaa, 0xbb, 0xcc]))), "0000000003aabbcc");
  assert.equal(hex(dataFrame(Buffer.from([0xaa]), true)), "0100000001aa");
  assert.equal(hex(dataFrame(Buffer.alloc(0))), "0000000000");
  assert.equal(hex(dataFrame(Buffer.alloc(0x01020304)).subarray(0, 5)), "0001020304");
  const d = decodeFrame(bytes("01 00000002 cafe"));
  assert.deepEqual(d, { kind: "data", compressed: true, frame: bytes("01 00000002 cafe") });
});

test("the end-of-stream marker is exactly 80 00 00 00 00, an empty metadata frame", () => {
  assert.equal(hex(END_OF_STREAM), "8000000000");
  assert.equal(isEndOfStream(bytes("8000000000")), true);
  assert.equal(isEndOfStream(bytes("8000000001 41")), false);
  assert.equal(isEndOfStream(bytes("0000000000")), false);
  assert.deepEqual(decodeFrame(END_OF_STREAM), { kind: "metadata", block: Buffer.alloc(0) });
});

test("trailers are a 0x80 frame around Go's header block: canonical names, sorted, CRLF lines", () => {
  const block = encodeHeaderBlock({ "grpc-status": "0", "grpc-message": "OK", "content-type": "application/grpc" });
  assert.equal(block.toString(), "Content-Type: application/grpc\r\nGrpc-Message: OK\r\nGrpc-Status: 0\r\n");
  assert.equal(
    hex(metadataFrame(encodeHeaderBlock({ "grpc-status": "0" }))),
    "80" + "00000010" + Buffer.from("Grpc-Status: 0\r\n").toString("hex"),
  );
  // One line per value; CR/LF inside a value become spaces and surrounding blanks go, as Go does.
  assert.equal(encodeHeaderBlock({ "x-a": ["1", " 2\r\n"], "x-b": 3 }).toString(), "X-A: 1\r\nX-A: 2\r\nX-B: 3\r\n");
  assert.equal(canonicalHeaderName("grpc-status-details-bin"), "Grpc-Status-Details-Bin");
  assert.equal(canonicalHeaderName("bad name"), "bad name");
});

test("header blocks parse to lower-case names with every value, as Go's ReadMIMEHeader reads them", () => {
  const h = parseHeaderBlock(Buffer.from("Content-Type: application/grpc\r\nGrpc-Status:  14\t\r\nX-Multi: a\r\nx-multi: b\nGrpc-Message: \r\n"));
  assert.deepEqual({ ...h }, { "content-type": ["application/grpc"], "grpc-status": ["14"], "x-multi": ["a", "b"], "grpc-message": [""] });
  assert.deepEqual({ ...parseHeaderBlock(Buffer.alloc(0)) }, {});
  assert.deepEqual(blockToHttp2Headers({ "content-type": ["a", "b"], connection: ["close"], "x-m": ["1", "2"], trailer: ["Grpc-Status"] }), {
    "content-type": "a",
    "x-m": ["1", "2"],
  });
});

test("malformed header blocks are refused with the reason", () => {
  const bad: [string, RegExp][] = [
    ["Grpc-Status: 0", /does not end with a line break/],
    ["Grpc-Status 0\r\n", /malformed header line "Grpc-Status 0"/],
    [": 0\r\n", /malformed header line/],
    ["Grpc Status: 0\r\n", /invalid header name/],
    ["Grpc-Status: 0\r\n continued\r\n", /folded header line/],
    ["Grpc-Status: 0\r\n\r\nX: 1\r\n", /empty line/],
    ["X-Evil: a\x00b\r\n", /control character in the value of header X-Evil/],
  ];
  for (const [text, re] of bad) assert.throws(() => parseHeaderBlock(Buffer.from(text, "latin1")), (e: Error) => e instanceof GrpcWsFrameError && re.test(e.message), text);
});

test("bad frames are refused with a message saying what is wrong", () => {
  const bad: [string, RegExp][] = [
    ["", /0 bytes is shorter than the 5-byte prefix/],
    ["00000000", /4 bytes is shorter/],
    ["0000000003 aabb", /declares 3 bytes but carries 2/],
    ["0000000001 aabb", /declares 1 bytes but carries 2/],
    ["81 00000000", /metadata frame with flags 0x81/],
    ["02 00000000", /data frame with unknown flags 0x2/],
    ["40 00000001 00", /unknown flags 0x40/],
  ];
  for (const [h, re] of bad) assert.throws(() => decodeFrame(bytes(h)), (e: Error) => e instanceof GrpcWsFrameError && re.test(e.message), h);
});

test("the splitter cuts an HTTP/2 byte stream into whole frames, however it is chunked", () => {
  const frames = [dataFrame(Buffer.from("hello")), dataFrame(Buffer.alloc(0)), dataFrame(Buffer.alloc(70_000, 7), true), dataFrame(Buffer.from("x"))];
  const stream = Buffer.concat(frames);
  for (const chunkSize of [1, 2, 5, 7, 16_384, stream.length]) {
    const s = new MessageSplitter();
    const out: Buffer[] = [];
    for (let i = 0; i < stream.length; i += chunkSize) out.push(...s.push(stream.subarray(i, i + chunkSize)));
    assert.deepEqual(out.map(hex), frames.map(hex), `chunk size ${chunkSize}`);
    assert.equal(s.pending, 0);
  }
  const s = new MessageSplitter();
  assert.deepEqual(s.push(bytes("00 00000004 aabb")), []);
  assert.equal(s.pending, 7, "a truncated message stays visible as pending bytes");
});

test("the splitter refuses a message over the 64 MiB WebSocket limit from its prefix, before buffering it", () => {
  assert.equal(MAX_WS_MESSAGE_BYTES, 64 * 1024 * 1024);
  const s = new MessageSplitter();
  const prefix = Buffer.from([0, 0, 0, 0, 0]);
  prefix.writeUInt32BE(MAX_WS_MESSAGE_BYTES, 1); // + 5 prefix bytes = over the limit
  assert.throws(() => s.push(prefix), /of 67108864 bytes exceeds the WebSocket message limit of 67108864 bytes/);
  const small = new MessageSplitter(100);
  assert.deepEqual(small.push(dataFrame(Buffer.alloc(95))).length, 1);
  assert.throws(() => small.push(dataFrame(Buffer.alloc(96))), GrpcWsFrameError);
  assert.throws(() => new MessageSplitter().push(bytes("80 00000000")), /gRPC message with flags 0x80/);
});

test("grpc-message is percent-encoded as gRPC does it", () => {
  assert.equal(encodeGrpcMessage("plain text: ok"), "plain text: ok");
  assert.equal(encodeGrpcMessage("100% ünicode\n"), "100%25 %C3%BCnicode%0A");
});

test("upgrade request → gRPC request: fields kept in order, repeats kept, connection fields dropped", () => {
  const raw = [
    "Host", "principal:8443", "Connection", "Upgrade", "Upgrade", "websocket", "Sec-WebSocket-Key", "x3JJHMbDL1EzLkh9GBhXDw==",
    "Sec-WebSocket-Version", "13", "Sec-WebSocket-Protocol", "grpc-ws", "Content-Type", "application/grpc", "TE", "trailers",
    "Authorization", "jwt", "X-Forwarded-Client-Cert", "By=a;URI=spiffe://x/sa/evil", "x-forwarded-client-cert", "By=b;URI=spiffe://x/sa/agent-1",
    "Grpc-Timeout", "10S", "Content-Length", "0", "Keep-Alive", "timeout=5",
  ];
  assert.deepEqual(upgradeToGrpcHeaders(raw, { path: "/authapi.Authentication/Authenticate", scheme: "https" }), {
    ":method": "POST",
    ":scheme": "https",
    ":path": "/authapi.Authentication/Authenticate",
    ":authority": "principal:8443",
    "content-type": "application/grpc",
    te: "trailers",
    authorization: "jwt",
    "x-forwarded-client-cert": ["By=a;URI=spiffe://x/sa/evil", "By=b;URI=spiffe://x/sa/agent-1"],
    "grpc-timeout": "10S",
  });
  const refused: [string[], string, RegExp][] = [
    [["Authorization", "a", "authorization", "b"], "/a.B/C", /authorization appears more than once/],
    [["Content-Type", "text/html"], "/a.B/C", /content-type "text\/html" is not gRPC/],
    [["Host", "a", "Host", "b"], "/a.B/C", /host appears more than once/],
    [["X-A", "1\x01"], "/a.B/C", /control character/],
    [[], "/a.B/C?x=1", /is not a gRPC method/],
    [[], "/../etc/passwd", /is not a gRPC method/],
  ];
  for (const [h, path, re] of refused) assert.throws(() => upgradeToGrpcHeaders(h, { path, scheme: "http" }), (e: Error) => e instanceof BridgeHeaderError && re.test(e.message));
});

test("gRPC request → upgrade request: pseudo-headers and connection fields dropped, te and metadata kept", () => {
  assert.deepEqual(
    grpcToUpgradeHeaders({
      ":method": "POST", ":path": "/a.B/C", ":authority": "ws-proxy-1.invalid", ":scheme": "http", "content-type": "application/grpc",
      te: "trailers", authorization: "jwt", "user-agent": "argocd-agent/v0.0.1 grpc-node-js/1.14.7", connection: "x", "sec-websocket-key": "k",
    }),
    { "content-type": "application/grpc", te: "trailers", authorization: "jwt", "user-agent": "argocd-agent/v0.0.1 grpc-node-js/1.14.7" },
  );
});
