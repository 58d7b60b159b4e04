/**
 * The principal's listener with `--enable-websocket`: one TCP port that serves native
 * gRPC (HTTP/2) and gRPC over WebSocket (HTTP/1.1), as upstream's Go http.Server does.
 * grpc-js cannot listen for HTTP/1.1, so the port is ours and every HTTP/2 connection
 * is handed to grpc-js through its public connection injector:
 * - TLS: a `tls.Server` with the principal's own TLS settings (certificate,
 *   client-certificate verification, versions, ciphers, 5 s handshake timeout) offers
 *   ALPN `h2` and `http/1.1` (Node's HTTP/2 server would only offer `h2`); `h2`
 *   connections go to grpc-js as decrypted TLS sockets (so grpc-js reads the mTLS
 *   identity of native calls as before), `http/1.1` or no ALPN to the HTTP/1.1 server
 *   (principal-http1.ts);
 * - plaintext: the first bytes decide: the HTTP/2 preface `PRI * HTTP/2.0` goes to
 *   grpc-js (h2c), anything else to the HTTP/1.1 server; a connection that sends nothing
 *   within 10 s is closed.
 * The pre-auth limits and the keepalive policy apply, since they attach to every HTTP/2
 * server grpc-js owns (call them after this). HTTP/2 pings do not cross the WebSocket:
 * only the agents' heartbeats keep a WebSocket call busy.
 *
 * @example
 *   const listener = await listenWithWebSocket(grpcServer, { host: "", port: 8443, credentials, preAuthPaths });
 *   limitPreAuthCalls(grpcHttp2Servers(grpcServer), { paths: preAuthPaths });
 *   listener.stopAccepting(); … await listener.close();
 */
import { createServer, type Server as NetServer, type Socket } from "node:net";
import { createServer as createTlsServer, type TLSSocket } from "node:tls";
import { ServerCredentials, type Server } from "@grpc/grpc-js";
import { getLogger } from "../../observability/log.ts";
import { PRE_AUTH_DEFAULTS, TLS_HANDSHAKE_TIMEOUT_MS } from "../pre-auth-limits.ts";
import { createInternalConnector } from "./internal-connection.ts";
import { createGrpcWsHttpServer } from "./principal-http1.ts";

const log = getLogger("transport");

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "latin1");
/** A plaintext connection must say which protocol it speaks within this time. */
export const SNIFF_TIMEOUT_MS = PRE_AUTH_DEFAULTS.setupTimeoutMs;

export interface WebSocketListenerOptions {
  /** Empty: all IPv4 interfaces, as the native listener. */
  host: string;
  port: number;
  /** The principal's server credentials (TLS or insecure); TLS settings are reused as they are. */
  credentials: ServerCredentials;
  /** Methods callable without a token (their WebSocket messages are capped at the pre-auth request bound). */
  preAuthPaths: ReadonlySet<string>;
  preAuthMaxRequestBytes?: number;
}

export interface WebSocketListener {
  port: number;
  /** Stops accepting connections (first step of a shutdown). */
  stopAccepting(): void;
  /** Closes WebSockets and whatever connections remain. */
  close(): Promise<void>;
}

/** Waits for the first bytes of a plaintext connection and says whether it is h2c; the bytes are put back. */
function sniff(socket: Socket, route: (h2: boolean) => void): void {
  let seen = Buffer.alloc(0);
  const timer = setTimeout(() => {
    log.debug("closing a connection that sent nothing in time", { client: socket.remoteAddress });
    socket.destroy();
  }, SNIFF_TIMEOUT_MS);
  timer.unref();
  const onData = (chunk: Buffer) => {
    seen = Buffer.concat([seen, chunk]);
    const n = Math.min(seen.length, H2_PREFACE.length);
    const h2 = seen.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
    if (h2 && seen.length < H2_PREFACE.length) return;
    clearTimeout(timer);
    socket.removeListener("data", onData);
    socket.removeListener("close", onClose);
    socket.pause();
    socket.unshift(seen);
    route(h2);
  };
  const onClose = () => clearTimeout(timer);
  socket.on("data", onData);
  socket.once("close", onClose);
}

export async function listenWithWebSocket(server: Server, o: WebSocketListenerOptions): Promise<WebSocketListener> {
  const secure = o.credentials._isSecure();
  // TLS (when configured) is ours; grpc-js gets HTTP/2 over the decrypted stream.
  const native = server.createConnectionInjector(ServerCredentials.createInsecure());
  const connector = createInternalConnector(server);
  const http1 = createGrpcWsHttpServer({
    connector,
    preAuthPaths: o.preAuthPaths,
    preAuthMaxRequestBytes: o.preAuthMaxRequestBytes ?? PRE_AUTH_DEFAULTS.maxRequestBytes,
  });
  const tls = secure
    ? createTlsServer({
        handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS,
        ...o.credentials._getConstructorOptions(),
        ...o.credentials._getSecureContextOptions(),
        ALPNProtocols: ["h2", "http/1.1"],
      })
    : undefined;
  tls?.on("secureConnection", (socket: TLSSocket) => {
    socket.on("error", (err) => log.debug("TLS connection error", { client: socket.remoteAddress, error: err }));
    if (socket.alpnProtocol === "h2") native.injectConnection(socket);
    else http1.server.emit("connection", socket);
  });
  // With a listener here Node leaves the socket open; a failed or timed-out handshake must not linger.
  tls?.on("tlsClientError", (err, socket) => {
    log.debug("TLS handshake failed", { client: socket.remoteAddress, error: err });
    socket.destroy();
  });

  const sockets = new Set<Socket>();
  const listener: NetServer = createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", (err) => log.debug("connection error", { client: socket.remoteAddress, error: err }));
    if (tls) return tls.emit("connection", socket);
    sniff(socket, (h2) => {
      if (h2) return native.injectConnection(socket);
      http1.server.emit("connection", socket);
      // Node's HTTP/1.1 parser reads the handle directly; the sniffed bytes wait in the stream buffer.
      socket.resume();
    });
  });
  const host = o.host || "0.0.0.0";
  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(o.port, host, () => {
      listener.off("error", reject);
      listener.on("error", (err) => log.warn("listener error", { error: err }));
      resolve();
    });
  });
  const address = listener.address();
  const port = typeof address === "object" && address ? address.port : o.port;
  log.info("serving gRPC over WebSocket (grpc-ws) and native gRPC on one port", { port, tls: secure });
  let stopped = false;
  const stopAccepting = () => {
    if (stopped) return;
    stopped = true;
    listener.close();
  };
  return {
    port,
    stopAccepting,
    async close() {
      stopAccepting();
      http1.close();
      connector.destroy();
      native.destroy();
      await new Promise((r) => setTimeout(r, 50));
      for (const s of sockets) s.destroy();
    },
  };
}
