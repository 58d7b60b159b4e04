/**
 * What a caller that has not authenticated yet can make the principal hold.
 * grpc-js buffers a whole request message (up to the 200 MiB message limit)
 * before any handler sees it, and its size limit is server-wide, so the calls
 * made before a caller has a token (Authenticate, RefreshToken, Version) get
 * their own bounds at the HTTP/2 layer: each request may carry at most
 * `maxRequestBytes` (Authenticate needs a few KiB), must arrive within
 * `requestTimeoutMs`, and at most `maxConcurrent` of them are open at once.
 * A call over a bound is reset with RST_STREAM ENHANCE_YOUR_CALM (gRPC clients
 * report RESOURCE_EXHAUSTED and agents retry with backoff) before grpc-js has
 * buffered more than one window of it. Connections must also finish TLS
 * (TLS_HANDSHAKE_TIMEOUT_MS, Node's `handshakeTimeout`) and send their HTTP/2
 * SETTINGS within `setupTimeoutMs`, or they are closed.
 *
 * @example
 *   limitPreAuthCalls(grpcHttp2Servers(server), { paths: new Set(["/authapi.Authentication/Authenticate"]) });
 */
import { constants, type Http2Server, type Http2Session, type IncomingHttpHeaders, type ServerHttp2Stream } from "node:http2";
import { getLogger } from "../observability/log.ts";

const log = getLogger("transport");

/** Node's `handshakeTimeout` for the TLS listener (Node's default is 120 s). */
export const TLS_HANDSHAKE_TIMEOUT_MS = 5_000;

export const PRE_AUTH_DEFAULTS = {
  /** An AuthRequest is a few hundred bytes to a few KiB (credentials map, names). */
  maxRequestBytes: 64 * 1024,
  /** Whole fleets re-authenticate at once after a principal restart; 512 × 64 KiB bounds the worst case to 32 MiB. */
  maxConcurrent: 512,
  requestTimeoutMs: 10_000,
  /** From the HTTP/2 session's start (after TLS) to the client's SETTINGS frame. */
  setupTimeoutMs: 10_000,
};

export interface PreAuthLimits {
  /** gRPC method paths callable without a token. */
  paths: ReadonlySet<string>;
  maxRequestBytes?: number;
  maxConcurrent?: number;
  requestTimeoutMs?: number;
  setupTimeoutMs?: number;
  /** Called for every call reset (metrics, tests). */
  onRefused?: (reason: "too-large" | "too-many" | "too-slow", path: string) => void;
}

/** Applies the limits to node:http2 servers; runs before grpc-js sees a stream. */
export function limitPreAuthCalls(servers: Http2Server[], limits: PreAuthLimits): void {
  const o = { ...PRE_AUTH_DEFAULTS, ...limits };
  let open = 0;
  let lastWarning = 0;
  const refuse = (stream: ServerHttp2Stream, reason: "too-large" | "too-many" | "too-slow", path: string, detail: object) => {
    if (stream.destroyed || stream.closed) return;
    stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    o.onRefused?.(reason, path);
    const socket = stream.session?.socket;
    const fields = { reason, method: path, client: `${socket?.remoteAddress ?? "?"}:${socket?.remotePort ?? "?"}`, ...detail };
    // One warning per second at most: these come in floods.
    if (Date.now() - lastWarning > 1000) {
      lastWarning = Date.now();
      log.warn("refused an unauthenticated call over its limits", fields);
    } else log.debug("refused an unauthenticated call over its limits", fields);
  };

  const onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    const path = String(headers[":path"] ?? "");
    if (!o.paths.has(path)) return;
    if (open >= o.maxConcurrent) return refuse(stream, "too-many", path, { open, bound: o.maxConcurrent });
    open++;
    let received = 0;
    const timer = setTimeout(() => refuse(stream, "too-slow", path, { received, timeoutMs: o.requestTimeoutMs }), o.requestTimeoutMs);
    timer.unref();
    const release = () => {
      clearTimeout(timer);
      open--;
    };
    stream.once("close", release);
    stream.once("end", () => clearTimeout(timer));
    // Counted before grpc-js's own listener decodes (and buffers) the chunk.
    stream.prependListener("data", (chunk: Buffer) => {
      received += chunk.length;
      if (received > o.maxRequestBytes) refuse(stream, "too-large", path, { received, bound: o.maxRequestBytes });
    });
  };

  const onSession = (session: Http2Session) => {
    const timer = setTimeout(() => {
      log.info("closing a connection that sent no HTTP/2 settings in time", {
        client: `${session.socket?.remoteAddress ?? "?"}:${session.socket?.remotePort ?? "?"}`,
        timeoutMs: o.setupTimeoutMs,
      });
      session.destroy();
    }, o.setupTimeoutMs);
    timer.unref();
    session.once("remoteSettings", () => clearTimeout(timer));
    session.once("close", () => clearTimeout(timer));
  };

  for (const h2 of servers) {
    h2.prependListener("stream", onStream);
    h2.prependListener("session", onSession);
  }
}
