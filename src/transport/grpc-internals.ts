/**
 * The two places where we reach under grpc-js's public API, kept together so a
 * grpc-js upgrade has one file to check: the node:http2 servers behind a bound
 * Server (for the keepalive policy, stream limits and handshake timeout) and the
 * HTTP/2 stream behind a server call (grpc-js can end a call only with a status,
 * which a peer that stopped reading never receives: trailers queue behind the
 * unsent data, so only RST_STREAM frees the call). Both are private fields of
 * the pinned grpc-js version; test/integration/transport-auth.test.ts (keepalive)
 * and test/integration/non-reading-peer.test.ts fail if they change.
 */
import type { Server } from "@grpc/grpc-js";
import { constants, type Http2Server, type ServerHttp2Stream } from "node:http2";

/** The node:http2 servers behind a bound grpc-js Server (private `http2Servers`). */
export function grpcHttp2Servers(server: Server): Http2Server[] {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!servers || servers.size === 0) throw new Error("grpc-js internals changed: no http2Servers to attach to");
  return [...servers.keys()];
}

/** The HTTP/2 stream of a grpc-js server call (private `call`, through any interceptors). */
export function http2StreamOf(call: object): ServerHttp2Stream | undefined {
  let inner = (call as { call?: unknown }).call as { stream?: ServerHttp2Stream; nextCall?: unknown } | undefined;
  for (let depth = 0; inner && depth < 8; depth++) {
    if (inner.stream && typeof inner.stream.close === "function") return inner.stream;
    inner = inner.nextCall as typeof inner;
  }
  return undefined;
}

/**
 * Ends a server call with RST_STREAM ENHANCE_YOUR_CALM (gRPC clients report
 * RESOURCE_EXHAUSTED); grpc-js then cancels the call and releases what it buffered.
 * Returns false when the stream could not be found (grpc-js internals changed).
 */
export function resetServerCall(call: object): boolean {
  const stream = http2StreamOf(call);
  if (!stream) return false;
  if (!stream.destroyed) stream.close(constants.NGHTTP2_ENHANCE_YOUR_CALM);
  return true;
}
