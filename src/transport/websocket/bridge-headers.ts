/**
 * Which headers cross between the HTTP/1.1 WebSocket upgrade and HTTP/2 gRPC, in both
 * directions. The rule is "what a plain gRPC (HTTP/2) request could carry, and nothing
 * else": every field of the upgrade request is passed on in order, repeated fields as
 * repeated fields (so the receiving HTTP/2 server joins them exactly as it joins a
 * repeated field of a direct call, and header auth sees the same value either way);
 * connection-level fields (`Connection`, `Upgrade`, `Sec-WebSocket-*`, `Host`, …) are
 * dropped, since HTTP/2 forbids them or has pseudo-headers for them; a field HTTP/2
 * allows once (`authorization`, `content-type`, …) that arrives twice, a name that is
 * not an HTTP token or a control character in a value refuses the request
 * (`BridgeHeaderError`, answered 400). The bridge adds no header of its own that could
 * carry identity: the mTLS identity travels outside the headers (bridged-peer.ts).
 *
 * @example
 *   const h2 = upgradeToGrpcHeaders(req.rawHeaders, { path: req.url!, scheme: "https" });
 *   const upgrade = grpcToUpgradeHeaders(stream.sentHeaders ?? headers);
 */
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** The upgrade request cannot be turned into a gRPC request. */
export class BridgeHeaderError extends Error {
  override name = "BridgeHeaderError";
}

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// eslint-disable-next-line no-control-regex
const BAD_VALUE_CHAR = /[\x00-\x08\x0a-\x1f\x7f]/;
/** A gRPC method path: `/package.Service/Method`. */
const GRPC_PATH = /^\/[A-Za-z0-9_.$-]+\/[A-Za-z0-9_.$-]+$/;

/** Connection-level fields: never forwarded in either direction. */
const CONNECTION_LEVEL = new Set([
  "connection", "upgrade", "keep-alive", "proxy-connection", "transfer-encoding", "host", "http2-settings", "content-length", "te",
]);

/** Fields Node's HTTP/2 (and the HTTP/2 spec's semantics) accept once per message (node lib/internal/http2/util.js). */
export const SINGLE_VALUE_HEADERS: ReadonlySet<string> = new Set([
  "access-control-allow-credentials", "access-control-max-age", "access-control-request-method", "age", "authorization",
  "content-encoding", "content-language", "content-length", "content-location", "content-md5", "content-range", "content-type",
  "date", "dnt", "etag", "expires", "from", "host", "if-match", "if-modified-since", "if-none-match", "if-range",
  "if-unmodified-since", "last-modified", "location", "max-forwards", "proxy-authorization", "range", "referer", "retry-after",
  "tk", "upgrade-insecure-requests", "user-agent", "x-content-type-options",
]);

const isWebSocketField = (name: string) => name.startsWith("sec-websocket-");

/** True when `path` names a gRPC method (`/pkg.Service/Method`, no query). */
export function isGrpcMethodPath(path: string): boolean {
  return GRPC_PATH.test(path);
}

/**
 * The HTTP/2 request headers of the gRPC call a grpc-ws upgrade stands for.
 * @param rawHeaders `IncomingMessage.rawHeaders` (name, value, name, value, …: every field as received).
 * @throws BridgeHeaderError
 */
export function upgradeToGrpcHeaders(
  rawHeaders: readonly string[],
  call: { path: string; scheme: "http" | "https" },
): OutgoingHttpHeaders {
  if (!isGrpcMethodPath(call.path)) throw new BridgeHeaderError(`path ${JSON.stringify(call.path.slice(0, 200))} is not a gRPC method`);
  const fields = new Map<string, string[]>();
  let authority = "";
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    if (!TOKEN.test(name)) throw new BridgeHeaderError(`header name ${JSON.stringify(name.slice(0, 100))} is not an HTTP token`);
    if (BAD_VALUE_CHAR.test(value)) throw new BridgeHeaderError(`header ${name} has a control character in its value`);
    if (name === "host") {
      if (authority !== "") throw new BridgeHeaderError("header host appears more than once");
      authority = value;
    }
    if (CONNECTION_LEVEL.has(name) || isWebSocketField(name)) continue;
    const list = fields.get(name) ?? [];
    list.push(value);
    if (list.length > 1 && SINGLE_VALUE_HEADERS.has(name)) throw new BridgeHeaderError(`header ${name} appears more than once`);
    fields.set(name, list);
  }
  const contentType = fields.get("content-type")?.[0];
  if (contentType !== undefined && !/^application\/grpc(\+|;|$)/.test(contentType)) {
    throw new BridgeHeaderError(`content-type ${JSON.stringify(contentType.slice(0, 100))} is not gRPC`);
  }
  const out: OutgoingHttpHeaders = {
    ":method": "POST",
    ":scheme": call.scheme,
    ":path": call.path,
    ":authority": authority || "localhost",
    "content-type": contentType ?? "application/grpc",
    te: "trailers",
  };
  for (const [name, values] of fields) if (name !== "content-type") out[name] = values.length === 1 ? values[0] : values;
  return out;
}

/** The upgrade request headers for a gRPC call received over HTTP/2 (pseudo-headers and connection fields dropped). */
export function grpcToUpgradeHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || isWebSocketField(name) || (CONNECTION_LEVEL.has(name) && name !== "te")) continue;
    out[name] = value;
  }
  return out;
}

/**
 * HTTP/2 response headers (or trailers) from a parsed header block: lower-case names,
 * connection fields and pseudo-header look-alikes dropped, a single-value field reduced to
 * its first value.
 */
export function blockToHttp2Headers(values: Record<string, string[]>): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const [name, list] of Object.entries(values)) {
    if (CONNECTION_LEVEL.has(name) || isWebSocketField(name) || name === "trailer" || list.length === 0) continue;
    out[name] = SINGLE_VALUE_HEADERS.has(name) || list.length === 1 ? list[0] : list;
  }
  return out;
}

/** Response headers or trailers of an HTTP/2 gRPC call, ready for encodeHeaderBlock (pseudo-headers dropped). */
export function http2ToBlockHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || name.startsWith(":") || CONNECTION_LEVEL.has(name)) continue;
    out[name] = value;
  }
  return out;
}
