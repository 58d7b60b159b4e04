/**
 * The agent's in-process HTTP/2 proxy for `--enable-websocket` (upstream's
 * `ConnectViaProxy` with WebSocket on): grpc-js speaks only HTTP/2, so the agent's
 * channel talks plaintext HTTP/2 to this proxy on 127.0.0.1 (ephemeral port) and the
 * proxy turns each call into its own WebSocket to the principal (agent-ws-call.ts):
 * `wss://` with the agent's TLS settings (CA or --insecure-tls, client certificate, SNI
 * = the server address, versions, ciphers), `ws://` when the agent talks plaintext.
 * The proxy dials with the agent's client certificate, so it must serve this process
 * only: every call must carry a random per-process `:authority` (the channel sets it
 * with `grpc.default_authority`), others are refused with 421 and logged. HTTP/2
 * keepalive pings from the channel end here; over the WebSocket only heartbeats travel.
 *
 * @example
 *   const proxy = await startWebSocketProxy({ address: "principal.example.com", port: 443, tls });
 *   new AuthenticationClient(proxy.target, credentials.createInsecure(), { ...proxy.channelOptions });
 *   await proxy.close();
 */
import { createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { randomBytes, timingSafeEqual } from "node:crypto";
import { isIP, type Socket } from "node:net";
import type { ChannelOptions } from "@grpc/grpc-js";
import { getLogger } from "../../observability/log.ts";
import type { ClientTlsOptions } from "../client-credentials.ts";
import { isGrpcMethodPath } from "./bridge-headers.ts";
import { proxyCallOverWebSocket, type WsClientOptions } from "./agent-ws-call.ts";

const log = getLogger("transport");

export interface WebSocketProxyOptions {
  /** The principal (--server-address, --server-port). */
  address: string;
  port: number;
  tls: ClientTlsOptions;
}

export interface WebSocketProxy {
  /** What the gRPC channel dials instead of the principal. */
  target: string;
  /** Channel options the channel must use (the proxy's per-process authority). */
  channelOptions: ChannelOptions;
  /** `wss://host:port` or `ws://host:port`, for logs. */
  remote: string;
  close(): Promise<void>;
}

/** Options for the WebSocket client: TLS as the agent's gRPC channel would use it. */
export function webSocketTlsOptions(tls: ClientTlsOptions): WsClientOptions {
  if (tls.plaintext) return {};
  const out: WsClientOptions = {
    ca: tls.rootCa,
    cert: tls.clientCert,
    key: tls.clientKey,
    minVersion: tls.minVersion,
    maxVersion: tls.maxVersion,
    ciphers: tls.ciphers,
    ALPNProtocols: ["http/1.1"],
  };
  if (tls.insecureSkipVerify) {
    out.rejectUnauthorized = false;
    out.checkServerIdentity = () => undefined;
  }
  return out;
}

export async function startWebSocketProxy(o: WebSocketProxyOptions): Promise<WebSocketProxy> {
  const authority = `ws-proxy-${randomBytes(16).toString("hex")}.invalid`;
  const expected = Buffer.from(authority);
  const host = isIP(o.address) === 6 ? `[${o.address}]` : o.address;
  const remote = `${o.tls.plaintext ? "ws" : "wss"}://${host}:${o.port}`;
  const wsOptions = webSocketTlsOptions(o.tls);
  let lastRefusal = 0;
  const server = createServer();
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.once("close", () => sockets.delete(s));
  });
  server.on("stream", (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on("error", () => {});
    const got = Buffer.from(String(headers[":authority"] ?? ""));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      if (Date.now() - lastRefusal > 1000) {
        lastRefusal = Date.now();
        log.warn("refused a call to the WebSocket proxy from outside this agent", { client: stream.session?.socket?.remoteAddress });
      }
      stream.respond({ ":status": 421 }, { endStream: true });
      return;
    }
    const path = String(headers[":path"] ?? "");
    if (headers[":method"] !== "POST" || !isGrpcMethodPath(path) || !String(headers["content-type"] ?? "").startsWith("application/grpc")) {
      stream.respond({ ":status": 415 }, { endStream: true });
      return;
    }
    proxyCallOverWebSocket({ stream, headers, url: remote + path, wsOptions });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      server.on("error", (err) => log.warn("WebSocket proxy error", { error: err }));
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  log.info("gRPC calls go over WebSocket (grpc-ws)", { principal: remote, proxy: `127.0.0.1:${port}` });
  return {
    target: `127.0.0.1:${port}`,
    channelOptions: { "grpc.default_authority": authority },
    remote,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
