// The WebSocket transport against misbehaving peers and requests that are not grpc-ws,
// with real sockets on loopback:
// - the principal's HTTP/1.1 side answers 400 (incomplete grpc-ws upgrade, a request
//   HTTP/2 could not carry), 403 (foreign Origin), 404 (anything else) and 415 (gRPC-Web);
// - bad frames from a client close the WebSocket with 1002 and the reason, oversized
//   messages with 1009 from the frame header (nothing buffered), and the principal keeps
//   serving; the pre-auth limits (64 KiB, 10 s) and the TLS handshake timeout hold;
// - bad answers from a principal (a fake grpc-ws server) end the agent's call with
//   UNAVAILABLE naming the problem; the agent's local proxy refuses other processes.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { request as httpRequest, createServer as createHttpServer, type IncomingMessage } from "node:http";
import { request as httpsRequest } from "node:https";
import { connect as netConnect, type AddressInfo } from "node:net";
import { connect as http2Connect } from "node:http2";
import { credentials, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import WebSocket, { WebSocketServer } from "ws";
import { configureLogging } from "../../src/observability/log.ts";
import { UserpassAuthentication } from "../../src/auth/userpass.ts";
import { generateSigningKey, JwtIssuer } from "../../src/auth/jwt-issuer.ts";
import { createPrincipalAuth } from "../../src/principal/principal-auth.ts";
import { startPrincipalServer, type PrincipalServer } from "../../src/principal/server.ts";
import { serverCredentials } from "../../src/transport/server-credentials.ts";
import { VersionClient } from "../../src/proto/gen/version.ts";
import { startWebSocketProxy } from "../../src/transport/websocket/agent-proxy.ts";
import { dataFrame, END_OF_STREAM, metadataFrame } from "../../src/transport/websocket/frames.ts";
import { encodeHeaderBlock } from "../../src/transport/websocket/header-block.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";
import { AUTHENTICATE, authRequest, describeMessages, rawWsCall, SUBSCRIBE } from "../support/grpc-ws-client.ts";

const logs: string[] = [];
configureLogging({ write: (line) => logs.push(line), defaultLevel: "info" });
let pki: TestPki;
let plain: PrincipalServer;
let secure: PrincipalServer;

before(async () => {
  pki = await createTestPki();
  const key = await generateSigningKey();
  const start = (creds: ServerCredentials) =>
    startPrincipalServer({
      host: "127.0.0.1", port: 0, credentials: creds, namespace: "argocd", protocolVersion: "0.9.0", maxMessageSize: 209_715_200,
      keepaliveMinIntervalMs: 0, websocket: true,
      auth: createPrincipalAuth({ method: new UserpassAuthentication(new Map()), issuer: new JwtIssuer({ key }), namespace: "argocd", subjectMatch: false }),
    });
  [plain, secure] = await Promise.all([
    start(ServerCredentials.createInsecure()),
    start(serverCredentials({ cert: Buffer.from(pki.server.cert), key: Buffer.from(pki.server.key) }, { requireClientCert: false })),
  ]);
});
after(async () => {
  await Promise.all([plain?.close(1000), secure?.close(1000)]);
  pki?.cleanup();
});

/** One HTTP/1.1 request (plain or TLS); resolves with the status and body, or the upgrade response. */
function http1(port: number, o: { tls?: boolean; method?: string; path?: string; headers?: Record<string, string> }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = (o.tls ? httpsRequest : httpRequest)({ host: "127.0.0.1", port, method: o.method ?? "GET", path: o.path ?? "/", headers: o.headers, ca: pki.ca.cert, servername: "localhost" });
    const onResponse = (res: IncomingMessage) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    };
    req.on("response", onResponse);
    req.on("error", reject);
    req.end();
  });
}

/** Raw bytes to the port; resolves with everything the server wrote before closing. */
function rawRequest(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let out = "";
    const s = netConnect(port, "127.0.0.1", () => s.write(text));
    s.on("data", (d) => (out += d.toString()));
    s.on("close", () => resolve(out));
    s.on("error", () => {});
    setTimeout(() => s.destroy(), 5000).unref();
  });
}

const upgradeHead = (path: string, extra: string) =>
  `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
  `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: grpc-ws\r\n${extra}\r\n`;

describe("the principal's HTTP/1.1 side", () => {
  test("answers 400 for an incomplete grpc-ws upgrade, 404 for other requests, 415 for gRPC-Web; over TLS too", async () => {
    for (const [port, tls] of [[plain.port, false], [secure.port, true]] as const) {
      const noUpgrade = await http1(port, { tls, headers: { "sec-websocket-protocol": "grpc-ws" } });
      assert.equal(noUpgrade.status, 400);
      assert.match(noUpgrade.body, /missing 'Connection: Upgrade' header in gRPC-websocket request \(this usually means your proxy or load balancer does not support websockets\)/);
      const wrongUpgrade = await http1(port, { tls, headers: { "sec-websocket-protocol": "grpc-ws", connection: "Upgrade", upgrade: "h2c" } });
      assert.equal(wrongUpgrade.status, 400);
      assert.match(wrongUpgrade.body, /missing 'Upgrade: websocket' header/);
      assert.equal((await http1(port, { tls, path: "/healthz" })).status, 404);
      const grpcWeb = await http1(port, { tls, method: "POST", path: "/versionapi.Version/Version", headers: { "content-type": "application/grpc-web+proto" } });
      assert.equal(grpcWeb.status, 415);
      assert.match(grpcWeb.body, /needs the WebSocket transport/);
      const otherProtocol = await rawWsCall(`${tls ? "wss" : "ws"}://localhost:${port}${AUTHENTICATE}`, { headers: { "sec-websocket-protocol": "chat" }, options: { ca: pki.ca.cert } });
      assert.equal(otherProtocol.httpStatus, 404);
    }
  });

  test("refuses an upgrade that HTTP/2 could not carry, or from a foreign Origin, before any call", async () => {
    const cases: [string, RegExp][] = [
      [upgradeHead(AUTHENTICATE, "Authorization: a\r\nauthorization: b\r\n"), /^HTTP\/1\.1 400 .*authorization appears more than once/s],
      [upgradeHead("/not-grpc", ""), /^HTTP\/1\.1 400 .*is not a gRPC method/s],
      [upgradeHead(AUTHENTICATE, "Content-Type: text/plain\r\n"), /^HTTP\/1\.1 400 .*is not gRPC/s],
      [upgradeHead(AUTHENTICATE, "X-Forwarded-Client-Cert: a\r\n folded: b\r\n"), /^HTTP\/1\.1 400 /],
      [upgradeHead(AUTHENTICATE, "X-Evil: a\x01b\r\n"), /^HTTP\/1\.1 400 /],
      [upgradeHead(AUTHENTICATE, "Origin: https://evil.example\r\n"), /^HTTP\/1\.1 403 .*not authorized for Host/s],
    ];
    for (const [text, re] of cases) assert.match(await rawRequest(plain.port, text), re, JSON.stringify(text));
    assert.doesNotMatch(logs.join("\n"), /authentication failed/);
  });
});

describe("bad frames and limits on the principal", () => {
  const url = (path = AUTHENTICATE) => `ws://127.0.0.1:${plain.port}${path}`;

  test("bad frames from a client close its WebSocket with 1002 and the reason; the principal keeps serving", async () => {
    const cases: [(Buffer | { text: string })[], RegExp][] = [
      [[{ text: "hello" }], /text message/],
      [[Buffer.from([0, 0, 0, 0, 9, 1, 2])], /declares 9 bytes but carries 2/],
      [[Buffer.from([0, 0])], /shorter than the 5-byte prefix/],
      [[dataFrame(authRequest("userpass")), END_OF_STREAM, END_OF_STREAM], /message after the end-of-stream marker/],
      [[metadataFrame(encodeHeaderBlock({ authorization: "x" }))], /metadata frame from the client/],
    ];
    for (const [send, re] of cases) {
      const r = await rawWsCall(url(), { send });
      assert.equal(r.closeCode, 1002, JSON.stringify(r));
      assert.match(r.closeReason ?? "", re);
    }
    const ok = await rawWsCall(url("/versionapi.Version/Version"), { send: [dataFrame(Buffer.alloc(0)), END_OF_STREAM] });
    assert.equal(ok.closeCode, 1000);
    const msgs = describeMessages(ok);
    assert.equal(msgs.length, 3, "headers, the answer, trailers");
    assert.deepEqual((msgs[2] as { metadata: Record<string, string[]> }).metadata["grpc-status"], ["0"]);
  });

  test("an oversized message is refused from its WebSocket frame header: 64 KiB before a token, 64 MiB after", async () => {
    const big = await rawWsCall(url(), { send: [dataFrame(Buffer.alloc(100 * 1024))] });
    assert.equal(big.closeCode, 1009, JSON.stringify(big));
    // A frame header announcing 1 TiB on Subscribe: closed at once, nothing of it buffered.
    const closed = await new Promise<number>((resolve) => {
      const ws = new WebSocket(url(SUBSCRIBE), { headers: { "sec-websocket-protocol": "grpc-ws" } });
      ws.on("open", () => {
        const head = Buffer.from([0x82, 0xff, 0, 0, 0x01, 0, 0, 0, 0, 0, 1, 2, 3, 4]); // FIN binary, masked, 64-bit length 2^40
        (ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(head);
      });
      ws.on("close", (code) => resolve(code));
      ws.on("error", () => {});
    });
    assert.equal(closed, 1009);
  });

  test("an Authenticate held open over a WebSocket is ended after 10 s like a native one (RESOURCE_EXHAUSTED)", { timeout: 30_000 }, async () => {
    const started = Date.now();
    const r = await rawWsCall(url(), { send: [dataFrame(authRequest("userpass"))], timeoutMs: 20_000 });
    const trailers = describeMessages(r).at(-1) as { metadata: Record<string, string[]> };
    assert.deepEqual(trailers.metadata["grpc-status"], [String(status.RESOURCE_EXHAUSTED)], JSON.stringify(describeMessages(r)));
    assert.ok(Date.now() - started >= 9_000 && Date.now() - started < 15_000, `${Date.now() - started} ms`);
    assert.match(logs.join("\n"), /refused an unauthenticated call over its limits.*reason=too-slow/);
  });

  test("a TLS connection that never handshakes is closed within 5 s, a silent plaintext one within 10 s", { timeout: 30_000 }, async () => {
    const closedAfter = (port: number) =>
      new Promise<number>((resolve) => {
        const t0 = Date.now();
        const s = netConnect(port, "127.0.0.1");
        s.on("close", () => resolve(Date.now() - t0));
        s.on("error", () => {});
      });
    const [tlsMs, plainMs] = await Promise.all([closedAfter(secure.port), closedAfter(plain.port)]);
    assert.ok(tlsMs >= 4_000 && tlsMs < 7_000, `TLS: ${tlsMs} ms`);
    assert.ok(plainMs >= 9_000 && plainMs < 13_000, `plaintext: ${plainMs} ms`);
  });
});

describe("bad answers from a principal, seen by the agent's proxy", () => {
  let fake: ReturnType<typeof createHttpServer>;
  let port: number;
  let answer: (ws: WebSocket) => void = () => {};
  before(async () => {
    const wss = new WebSocketServer({ noServer: true });
    fake = createHttpServer((_req, res) => res.writeHead(404).end("nothing here"));
    fake.on("upgrade", (req, socket, head) => {
      if (req.url === "/versionapi.Version/Refused") {
        socket.end("HTTP/1.1 404 Not Found\r\nContent-Length: 13\r\n\r\nno such thing");
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => answer(ws));
    });
    await new Promise<void>((r) => fake.listen(0, "127.0.0.1", () => r()));
    port = (fake.address() as AddressInfo).port;
  });
  after(() => fake?.close());

  const callVersion = async (method = "version"): Promise<ServiceError> => {
    const proxy = await startWebSocketProxy({ address: "127.0.0.1", port, tls: { plaintext: true, insecureSkipVerify: false } });
    const client = new VersionClient(proxy.target, credentials.createInsecure(), proxy.channelOptions);
    try {
      const path = method === "version" ? undefined : `/versionapi.Version/${method}`;
      const call = path
        ? new Promise<ServiceError>((resolve) => client.makeUnaryRequest(path, (x: Buffer) => x, (x: Buffer) => x, Buffer.alloc(0), (err) => resolve(err as ServiceError)))
        : new Promise<ServiceError>((resolve) => client.version({}, (err) => resolve(err as ServiceError)));
      return await call;
    } finally {
      client.close();
      await proxy.close();
    }
  };
  const headers = metadataFrame(encodeHeaderBlock({ "content-type": "application/grpc" }));

  test("malformed frames, a missing header frame, a close before the trailers, a refused upgrade: UNAVAILABLE with the reason", async () => {
    const cases: [(ws: WebSocket) => void, RegExp, string?][] = [
      [(ws) => ws.send("hello"), /bad grpc-ws message from the principal: text message/],
      [(ws) => ws.send(Buffer.from([0x80, 0, 0, 0, 9, 65])), /bad grpc-ws message from the principal: frame declares 9 bytes but carries 1/],
      [(ws) => ws.send(metadataFrame(Buffer.from("Grpc-Status 0\r\n"))), /bad grpc-ws message from the principal: malformed header line/],
      [(ws) => ws.send(dataFrame(Buffer.alloc(0))), /the first message is not the response headers/],
      [(ws) => (ws.send(headers), ws.close(1000)), /WebSocket closed before the call ended \(code 1000\)/],
      [(ws) => ws.terminate(), /WebSocket closed before the call ended \(code 1006\)/],
      [() => {}, /WebSocket upgrade to ws:\/\/127\.0\.0\.1:\d+\/versionapi\.Version\/Refused refused: HTTP 404 Not Found: no such thing/, "Refused"],
    ];
    for (const [behave, re, method] of cases) {
      answer = behave;
      const err = await callVersion(method);
      assert.equal(err?.code, status.UNAVAILABLE, `${re}: ${err?.details}`);
      assert.match(err.details, re);
    }
  });

  test("a message over 64 MiB from the principal is refused from its frame header", async () => {
    answer = (ws) => {
      ws.send(headers);
      // Unmasked server frame header announcing 2^40 bytes; nothing follows.
      (ws as unknown as { _socket: NodeJS.WritableStream })._socket.write(Buffer.from([0x82, 0x7f, 0, 0, 0x01, 0, 0, 0, 0, 0]));
    };
    const err = await callVersion();
    assert.equal(err.code, status.UNAVAILABLE);
    assert.match(err.details, /Max payload size exceeded|WebSocket closed before the call ended \(code 1009/);
  });

  test("the proxy serves only its own process: a call without its authority gets 421", async () => {
    const proxy = await startWebSocketProxy({ address: "127.0.0.1", port, tls: { plaintext: true, insecureSkipVerify: false } });
    try {
      const session = http2Connect(`http://${proxy.target}`);
      const code = await new Promise<number>((resolve) => {
        const req = session.request({ ":method": "POST", ":path": "/versionapi.Version/Version", "content-type": "application/grpc" });
        req.on("response", (h) => resolve(Number(h[":status"])));
        req.end(dataFrame(Buffer.alloc(0)));
      });
      session.close();
      assert.equal(code, 421);
      assert.match(logs.join("\n"), /refused a call to the WebSocket proxy from outside this agent/);
    } finally {
      await proxy.close();
    }
  });
});
