/**
 * One gRPC call of the agent carried over its own WebSocket (the client half of
 * wire-protocol.md §2.1): the HTTP/2 stream the agent's grpc-js channel opened on the
 * in-process proxy (agent-proxy.ts) on one side, `ws(s)://<principal><method path>` on
 * the other. The upgrade request carries every gRPC request header (authorization
 * included) plus `Sec-WebSocket-Protocol: grpc-ws`, without compression. Requests go
 * out as one binary message per gRPC message, then `80 00 00 00 00`; the first message
 * back is the response headers (a trailers-only answer when it holds `grpc-status`),
 * then gRPC messages, then the trailers. A refused upgrade, a lost connection, a close
 * before the trailers or a malformed frame from the principal ends the call with
 * UNAVAILABLE and a message saying which (as upstream's proxy does), so the agent's
 * reconnect loop takes over.
 *
 * @example
 *   h2server.on("stream", (stream, headers) =>
 *     proxyCallOverWebSocket({ stream, headers, url: `wss://principal:8443${headers[":path"]}`, wsOptions: { ca } }));
 */
import { constants, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import type { ClientRequest, IncomingMessage } from "node:http";
import { status } from "@grpc/grpc-js";
import type { ConnectionOptions } from "node:tls";
import WebSocket, { type ClientOptions, type RawData } from "ws";
import { getLogger } from "../../observability/log.ts";
import { blockToHttp2Headers, grpcToUpgradeHeaders } from "./bridge-headers.ts";
import { decodeFrame, END_OF_STREAM, GRPC_WS_SUBPROTOCOL, MAX_WS_MESSAGE_BYTES, MessageSplitter } from "./frames.ts";
import { encodeGrpcMessage, parseHeaderBlock } from "./header-block.ts";

const log = getLogger("transport");

const SEND_HIGH_WATER = 1024 * 1024;
const SEND_LOW_WATER = 256 * 1024;
/** Time allowed for TCP, TLS and the upgrade together. */
export const WS_HANDSHAKE_TIMEOUT_MS = 20_000;

/** ws passes every option on to tls.connect; its types know only part of them. */
export type WsClientOptions = Omit<ClientOptions, "checkServerIdentity"> & Pick<ConnectionOptions, "ALPNProtocols" | "checkServerIdentity">;

export interface WsCallOptions {
  stream: ServerHttp2Stream;
  headers: IncomingHttpHeaders;
  /** `ws://host:port/pkg.Service/Method` or `wss://…`. */
  url: string;
  /** TLS and socket options for the WebSocket client (ca, cert, key, servername, …). */
  wsOptions: WsClientOptions;
}

/**
 * Upstream's server does not echo `grpc-ws` and ws refuses an answer with a subprotocol it
 * was not asked for (we set the header ourselves, so ws thinks none was asked for). Like
 * upstream's client, accept both: drop an echoed `grpc-ws` before ws checks the answer.
 * Reaches into ws's private `_req` (set in its constructor); without it ws stays strict.
 */
function acceptEchoedSubprotocol(ws: WebSocket): void {
  const req = (ws as unknown as { _req?: ClientRequest })._req;
  req?.prependListener("upgrade", (res: IncomingMessage) => {
    if (res.headers["sec-websocket-protocol"]?.trim().toLowerCase() === GRPC_WS_SUBPROTOCOL) delete res.headers["sec-websocket-protocol"];
  });
}

export function proxyCallOverWebSocket(o: WsCallOptions): void {
  const { stream } = o;
  const method = String(o.headers[":path"]);
  let responded = false;
  let finished = false;
  let sendPaused = false;
  let trailers: OutgoingHttpHeaders | undefined;
  const splitter = new MessageSplitter();
  stream.pause(); // nothing is read until the WebSocket is open
  stream.on("error", () => {});

  const ws = new WebSocket(o.url, {
    ...(o.wsOptions as ClientOptions),
    headers: { ...grpcToUpgradeHeaders(o.headers), "sec-websocket-protocol": GRPC_WS_SUBPROTOCOL },
    perMessageDeflate: false,
    maxPayload: MAX_WS_MESSAGE_BYTES,
    handshakeTimeout: WS_HANDSHAKE_TIMEOUT_MS,
  });

  acceptEchoedSubprotocol(ws);

  /** Ends the gRPC call with a status of our own (transport failure). */
  const fail = (code: status, message: string, wsCode = 1000) => {
    if (finished) return;
    finished = true;
    log.debug("WebSocket call failed", { method, code: status[code], error: message });
    const statusFields = { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
    if (!stream.destroyed && !stream.closed) {
      if (!responded) {
        responded = true;
        stream.respond({ ":status": 200, "content-type": "application/grpc", ...statusFields }, { endStream: true });
      } else {
        trailers = statusFields;
        stream.end();
      }
    }
    if (ws.readyState === WebSocket.OPEN) ws.close(wsCode);
    else ws.terminate();
  };
  const badFrame = (reason: string) => fail(status.UNAVAILABLE, `transport: bad grpc-ws message from the principal: ${reason}`, 1002);

  stream.on("wantTrailers", () => stream.sendTrailers(trailers ?? {}));

  // Agent → principal.
  ws.on("open", () => stream.resume());
  stream.on("data", (chunk: Buffer) => {
    let frames: Buffer[];
    try {
      frames = splitter.push(chunk);
    } catch (err) {
      return fail(status.RESOURCE_EXHAUSTED, `transport: ${(err as Error).message}`);
    }
    for (const frame of frames) {
      ws.send(frame, { binary: true }, (err) => {
        if (!err && sendPaused && ws.bufferedAmount < SEND_LOW_WATER) {
          sendPaused = false;
          stream.resume();
        }
      });
    }
    if (!sendPaused && ws.bufferedAmount > SEND_HIGH_WATER) {
      sendPaused = true;
      stream.pause();
    }
  });
  stream.on("end", () => {
    if (splitter.pending > 0) return fail(status.INTERNAL, "transport: the request ended inside a gRPC message");
    if (ws.readyState === WebSocket.OPEN) ws.send(END_OF_STREAM, { binary: true });
  });

  // Principal → agent.
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (finished) return;
    const msg = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (!isBinary) return badFrame("text message");
    let frame;
    let block;
    try {
      frame = decodeFrame(msg);
      if (frame.kind === "metadata") block = parseHeaderBlock(frame.block);
    } catch (err) {
      return badFrame((err as Error).message);
    }
    if (!responded) {
      if (!block) return badFrame("the first message is not the response headers");
      responded = true;
      const headers = blockToHttp2Headers(block);
      if (block["grpc-status"]) {
        finished = true; // trailers-only
        stream.respond({ ...headers, ":status": 200 }, { endStream: true });
      } else stream.respond({ ...headers, ":status": 200 }, { waitForTrailers: true });
      return;
    }
    if (block) {
      finished = true;
      trailers = blockToHttp2Headers(block);
      stream.end();
      return;
    }
    if (!stream.write(frame.kind === "data" ? frame.frame : msg)) ws.pause();
  });
  stream.on("drain", () => ws.resume());

  ws.on("unexpected-response", (_req, res: IncomingMessage) => {
    let body = "";
    res.setEncoding("utf8");
    res.on("data", (d: string) => {
      if (body.length < 512) body += d;
    });
    res.on("end", () => finishRefused(res, body));
    res.on("error", () => finishRefused(res, body));
    setTimeout(() => finishRefused(res, body), 2000).unref();
  });
  const finishRefused = (res: IncomingMessage, body: string) => {
    if (finished) return;
    const text = body.trim().replace(/\s+/g, " ").slice(0, 300);
    fail(status.UNAVAILABLE, `transport: WebSocket upgrade to ${o.url} refused: HTTP ${res.statusCode} ${res.statusMessage ?? ""}${text ? `: ${text}` : ""}`);
    res.destroy();
  };
  ws.on("error", (err) => fail(status.UNAVAILABLE, `transport: WebSocket to ${o.url}: ${err.message}`));
  ws.on("close", (code, reason) => {
    if (!finished) fail(status.UNAVAILABLE, `transport: WebSocket closed before the call ended (code ${code}${reason.length ? `, ${reason.toString()}` : ""})`);
  });

  // The agent cancelled (or the call is done): let the principal know.
  stream.on("close", () => {
    if (ws.readyState === WebSocket.OPEN) ws.close(1000);
    else if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
    if (!finished) log.debug("WebSocket call cancelled by the agent", { method, rstCode: stream.rstCode ?? constants.NGHTTP2_NO_ERROR });
    finished = true;
  });
}
