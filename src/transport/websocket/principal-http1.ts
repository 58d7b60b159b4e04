/**
 * The HTTP/1.1 side of the principal's listener when `--enable-websocket` is on: the
 * grpc-ws upgrade and nothing else. Dispatch as upstream's downgrading handler does it:
 * a request whose `Sec-WebSocket-Protocol` is `grpc-ws` must also carry
 * `Connection: Upgrade` and `Upgrade: websocket` (else 400 with upstream's message, the
 * usual sign of a proxy without WebSocket support); plain gRPC over HTTP/1.1 (gRPC-Web)
 * gets 415 with a pointer to the WebSocket transport; anything else 404. An accepted
 * upgrade (no subprotocol echoed and no compression, as upstream's server; an `Origin`
 * that does not match `Host` is 403, as upstream) becomes one bridged call
 * (principal-bridge.ts) carrying the outer peer (address, verified client certificate).
 * Bounds: request headers within 10 s and 64 KiB; one WebSocket message at most 64 MiB,
 * and for the calls a client makes before it has a token (Authenticate, …) at most the
 * pre-auth request bound, so ws never buffers more than that for them.
 *
 * @example
 *   const http1 = createGrpcWsHttpServer({ connector, preAuthPaths, preAuthMaxRequestBytes: 65536 });
 *   http1.server.emit("connection", socket); // a TLS socket that negotiated http/1.1, or a plaintext one
 */
import { createServer, STATUS_CODES, type IncomingMessage, type Server } from "node:http";
import type { Duplex } from "node:stream";
import { TLSSocket } from "node:tls";
import { WebSocketServer } from "ws";
import { getLogger } from "../../observability/log.ts";
import { BridgeHeaderError, upgradeToGrpcHeaders } from "./bridge-headers.ts";
import type { BridgedPeer } from "./bridged-peer.ts";
import { GRPC_WS_SUBPROTOCOL, MAX_WS_MESSAGE_BYTES } from "./frames.ts";
import type { InternalConnector } from "./internal-connection.ts";
import { bridgeCall } from "./principal-bridge.ts";

const log = getLogger("transport");

export const HTTP1_HEADERS_TIMEOUT_MS = 10_000;
export const HTTP1_MAX_HEADER_BYTES = 64 * 1024;
const MISSING_CONNECTION = "missing 'Connection: Upgrade' header in gRPC-websocket request (this usually means your proxy or load balancer does not support websockets)";
const MISSING_UPGRADE = "missing 'Upgrade: websocket' header in gRPC-websocket request (this usually means your proxy or load balancer does not support websockets)";

export interface GrpcWsHttpOptions {
  connector: InternalConnector;
  /** Methods callable without a token: their messages are capped at preAuthMaxRequestBytes. */
  preAuthPaths: ReadonlySet<string>;
  preAuthMaxRequestBytes: number;
}

export interface GrpcWsHttpServer {
  /** Not listening: the principal's listener emits 'connection' on it. */
  server: Server;
  /** Closes every WebSocket (1001) and idle HTTP/1.1 connection. */
  close(): void;
}

const firstValue = (req: IncomingMessage, name: string): string | undefined => req.headersDistinct[name]?.[0];
const hasToken = (value: string | undefined, token: string) => (value ?? "").split(",").some((t) => t.trim().toLowerCase() === token);
const isGrpcWs = (req: IncomingMessage) => firstValue(req, "sec-websocket-protocol") === GRPC_WS_SUBPROTOCOL;

/** A plain HTTP/1.1 answer on a socket that asked for an upgrade. */
function refuseUpgrade(socket: Duplex, code: number, message: string): void {
  const body = Buffer.from(message + "\n");
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `X-Content-Type-Options: nosniff\r\nContent-Length: ${body.length}\r\n\r\n${body.toString()}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

/** The outer peer: address and, over TLS, the client certificate when the handshake verified it. */
function outerPeer(socket: Duplex): BridgedPeer {
  const s = socket as TLSSocket;
  const peer: BridgedPeer = { remoteAddress: s.remoteAddress ?? "unknown", remotePort: s.remotePort ?? 0 };
  if (socket instanceof TLSSocket && socket.authorized) {
    const cert = socket.getPeerCertificate(true);
    if (cert?.raw) peer.peerCertificate = cert;
  }
  return peer;
}

/** Upstream (coder/websocket) refuses an Origin whose host differs from Host. */
function originMismatch(req: IncomingMessage): string | undefined {
  const origin = firstValue(req, "origin");
  if (!origin) return undefined;
  let host: string;
  try {
    host = new URL(origin).host;
  } catch {
    return `request Origin ${JSON.stringify(origin)} is not a valid URL`;
  }
  return host.toLowerCase() === (req.headers.host ?? "").toLowerCase() ? undefined : `request Origin ${JSON.stringify(host)} is not authorized for Host ${JSON.stringify(req.headers.host ?? "")}`;
}

export function createGrpcWsHttpServer(o: GrpcWsHttpOptions): GrpcWsHttpServer {
  const common = { noServer: true, perMessageDeflate: false, handleProtocols: () => false as const };
  const wss = new WebSocketServer({ ...common, maxPayload: MAX_WS_MESSAGE_BYTES });
  const preAuthWss = new WebSocketServer({ ...common, maxPayload: o.preAuthMaxRequestBytes });
  const server = createServer({ headersTimeout: HTTP1_HEADERS_TIMEOUT_MS, requestTimeout: HTTP1_HEADERS_TIMEOUT_MS, maxHeaderSize: HTTP1_MAX_HEADER_BYTES });

  server.on("request", (req, res) => {
    let code = 404;
    let message = "not found: this port serves gRPC (HTTP/2) and gRPC over WebSocket (subprotocol grpc-ws)";
    if (isGrpcWs(req)) {
      code = 400;
      message = hasToken(firstValue(req, "connection"), "upgrade") ? MISSING_UPGRADE : MISSING_CONNECTION;
    } else if (/^application\/grpc(-web)?(\+|;|$)/.test(req.headers["content-type"] ?? "")) {
      code = 415;
      message = "gRPC over HTTP/1.1 needs the WebSocket transport (agent --enable-websocket); gRPC-Web is not served";
    }
    if (code !== 404) log.info("refused an HTTP/1.1 request", { client: req.socket.remoteAddress, path: req.url?.slice(0, 200), status: code, reason: message });
    res.writeHead(code, { "content-type": "text/plain; charset=utf-8", "x-content-type-options": "nosniff", connection: "close" });
    res.end(message + "\n");
  });

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const client = `${(socket as TLSSocket).remoteAddress ?? "?"}:${(socket as TLSSocket).remotePort ?? "?"}`;
    const refuse = (code: number, message: string) => {
      log.info("refused a WebSocket upgrade", { client, path: req.url?.slice(0, 200), status: code, reason: message });
      refuseUpgrade(socket, code, message);
    };
    if (!isGrpcWs(req)) return refuse(404, "not found: only WebSocket subprotocol grpc-ws is served here");
    if (!hasToken(firstValue(req, "upgrade"), "websocket")) return refuse(400, MISSING_UPGRADE);
    const badOrigin = originMismatch(req);
    if (badOrigin) return refuse(403, badOrigin);
    let headers;
    try {
      headers = upgradeToGrpcHeaders(req.rawHeaders, { path: req.url ?? "", scheme: socket instanceof TLSSocket ? "https" : "http" });
    } catch (err) {
      if (err instanceof BridgeHeaderError) return refuse(400, err.message);
      throw err;
    }
    const peer = outerPeer(socket);
    const target = o.preAuthPaths.has(String(headers[":path"])) ? preAuthWss : wss;
    target.handleUpgrade(req, socket, head, (ws) => {
      let session;
      try {
        session = o.connector.connect(peer);
      } catch (err) {
        log.warn("could not open the internal connection for a WebSocket call", { client, error: err as Error });
        ws.close(1011, "principal unavailable");
        return;
      }
      bridgeCall({ ws, session, headers, client });
    });
  });
  server.on("clientError", (err: NodeJS.ErrnoException, socket: Duplex) => {
    log.debug("bad HTTP/1.1 request", { error: err.code ?? err.message });
    const code = err.code === "HPE_HEADER_OVERFLOW" ? 431 : 400;
    if (socket.writable) socket.end(`HTTP/1.1 ${code} ${STATUS_CODES[code]}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    setTimeout(() => socket.destroy(), 1000).unref();
  });

  return {
    server,
    close() {
      for (const ws of [...wss.clients, ...preAuthWss.clients]) ws.close(1001, "principal shutting down");
      setTimeout(() => {
        for (const ws of [...wss.clients, ...preAuthWss.clients]) ws.terminate();
      }, 1000).unref();
      server.closeAllConnections();
    },
  };
}
