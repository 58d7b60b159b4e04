/**
 * One grpc-ws call on the principal: an accepted WebSocket on one side, one HTTP/2
 * request into the grpc-js server (over its own in-process connection) on the other.
 * Client → server: each binary message must be one gRPC data frame, written to the
 * request as is, then the end-of-stream marker `80 00 00 00 00` ends the request; any
 * other metadata frame, a text message, a malformed frame or anything after the marker
 * is a protocol error (close 1002 with the reason, call cancelled), so no header can be
 * slipped in after the upgrade. Server → client: the response headers as a metadata
 * frame, one binary message per gRPC message (cut out of the HTTP/2 byte stream), the
 * trailers as a metadata frame, then close 1000; a trailers-only answer is the single
 * metadata frame. A reset internal stream (pre-auth limits, shutdown) or a non-200 answer
 * becomes trailers with the gRPC status a native client would have seen. Both
 * directions respect backpressure (the WebSocket is paused while HTTP/2 cannot take more,
 * the HTTP/2 stream while the WebSocket has more than 1 MiB unsent).
 *
 * @example
 *   bridgeCall({ ws, session: connector.connect(peer), headers: upgradeToGrpcHeaders(req.rawHeaders, …), client: "10.0.0.7:51234" });
 */
import { constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http2";
import type { WebSocket, RawData } from "ws";
import { status } from "@grpc/grpc-js";
import { getLogger } from "../../observability/log.ts";
import { decodeFrame, GrpcWsFrameError, isEndOfStream, metadataFrame, MessageSplitter } from "./frames.ts";
import { encodeGrpcMessage, encodeHeaderBlock } from "./header-block.ts";
import { http2ToBlockHeaders } from "./bridge-headers.ts";

const log = getLogger("transport");

/** Pause the gRPC response while this much is queued on the WebSocket; resume below the low mark. */
const SEND_HIGH_WATER = 1024 * 1024;
const SEND_LOW_WATER = 256 * 1024;

/** WebSocket close codes used here (RFC 6455). */
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 1002;
export const CLOSE_INTERNAL_ERROR = 1011;

/** What a gRPC client reports for a reset stream (grpc-js / grpc-go mapping). */
export function statusForReset(code: number): { code: status; message: string } {
  switch (code) {
    case constants.NGHTTP2_REFUSED_STREAM:
      return { code: status.UNAVAILABLE, message: "stream refused by the server" };
    case constants.NGHTTP2_CANCEL:
      return { code: status.CANCELLED, message: "call cancelled by the server" };
    case constants.NGHTTP2_ENHANCE_YOUR_CALM:
      return { code: status.RESOURCE_EXHAUSTED, message: "Bandwidth exhausted or memory limit exceeded" };
    case constants.NGHTTP2_INADEQUATE_SECURITY:
      return { code: status.PERMISSION_DENIED, message: "protocol not secure enough" };
    default:
      return { code: status.INTERNAL, message: `Received RST_STREAM with code ${code}` };
  }
}

/** gRPC's mapping of an HTTP status that is not 200 (doc/http-grpc-status-mapping.md). */
export function statusForHttp(httpStatus: number): status {
  switch (httpStatus) {
    case 400:
      return status.INTERNAL;
    case 401:
      return status.UNAUTHENTICATED;
    case 403:
      return status.PERMISSION_DENIED;
    case 404:
      return status.UNIMPLEMENTED;
    case 429:
    case 502:
    case 503:
    case 504:
      return status.UNAVAILABLE;
    default:
      return status.UNKNOWN;
  }
}

export interface BridgeCallOptions {
  ws: WebSocket;
  /** An internal HTTP/2 connection to the grpc-js server, used for this call only (closed at the end). */
  session: ClientHttp2Session;
  /** The request headers (upgradeToGrpcHeaders). */
  headers: OutgoingHttpHeaders;
  /** The client's address, for logs. */
  client: string;
}

export function bridgeCall(o: BridgeCallOptions): void {
  const { ws, session } = o;
  const path = String(o.headers[":path"]);
  let req: ClientHttp2Stream;
  session.on("error", (err) => log.debug("internal HTTP/2 connection of a WebSocket call failed", { method: path, error: err }));
  try {
    req = session.request(o.headers, { endStream: false });
  } catch (err) {
    log.warn("could not start the gRPC call of a WebSocket", { client: o.client, method: path, error: err as Error });
    ws.close(CLOSE_INTERNAL_ERROR, "could not start the gRPC call");
    session.destroy();
    return;
  }
  let requestEnded = false;
  let headersSent = false;
  let trailersSent = false;
  let sendPaused = false;
  let failed = false;
  const splitter = new MessageSplitter();

  const send = (buf: Buffer) => {
    ws.send(buf, { binary: true }, (err) => {
      if (!err && sendPaused && ws.bufferedAmount < SEND_LOW_WATER) {
        sendPaused = false;
        req.resume();
      }
    });
    if (!sendPaused && ws.bufferedAmount > SEND_HIGH_WATER) {
      sendPaused = true;
      req.pause();
    }
  };
  const sendMetadata = (headers: Record<string, string | string[]>) => send(metadataFrame(encodeHeaderBlock(headers)));
  /** Ends the call with a status of our own (the internal stream failed or misbehaved). */
  const sendStatus = (code: status, message: string) => {
    if (trailersSent) return;
    trailersSent = true;
    const trailers = { "grpc-status": String(code), "grpc-message": encodeGrpcMessage(message) };
    sendMetadata(headersSent ? trailers : { "content-type": "application/grpc", ...trailers });
    headersSent = true;
  };
  const clientProtocolError = (reason: string) => {
    if (failed) return;
    failed = true;
    log.warn("closing a WebSocket call that broke the grpc-ws framing", { client: o.client, method: path, reason });
    req.close(constants.NGHTTP2_CANCEL);
    ws.close(CLOSE_PROTOCOL_ERROR, reason.slice(0, 120));
  };

  // Client → grpc-js.
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (failed) return;
    const msg = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    if (!isBinary) return clientProtocolError("text message (grpc-ws carries binary messages only)");
    if (requestEnded) return clientProtocolError("message after the end-of-stream marker");
    let frame;
    try {
      frame = decodeFrame(msg);
    } catch (err) {
      return clientProtocolError((err as GrpcWsFrameError).message);
    }
    if (frame.kind === "metadata") {
      if (!isEndOfStream(msg)) return clientProtocolError("metadata frame from the client (only the end-of-stream marker is allowed)");
      requestEnded = true;
      req.end();
      return;
    }
    if (!req.write(frame.frame)) ws.pause();
  });
  req.on("drain", () => ws.resume());

  // grpc-js → client.
  req.on("response", (headers: IncomingHttpHeaders) => {
    const code = Number(headers[":status"]);
    if (code !== 200 && headers["grpc-status"] === undefined) {
      sendStatus(statusForHttp(code), `Received HTTP status code ${code}`);
      return;
    }
    headersSent = true;
    if (headers["grpc-status"] !== undefined) trailersSent = true; // trailers-only
    sendMetadata(http2ToBlockHeaders(headers));
  });
  req.on("data", (chunk: Buffer) => {
    if (trailersSent) return;
    try {
      for (const frame of splitter.push(chunk)) send(frame);
    } catch (err) {
      log.warn("a gRPC response message does not fit the WebSocket transport", { client: o.client, method: path, error: err as Error });
      sendStatus(status.RESOURCE_EXHAUSTED, (err as Error).message);
      req.close(constants.NGHTTP2_CANCEL);
    }
  });
  req.on("trailers", (trailers: IncomingHttpHeaders) => {
    if (trailersSent) return;
    trailersSent = true;
    sendMetadata(http2ToBlockHeaders(trailers));
  });
  req.on("error", () => {}); // reported through 'close' and rstCode
  req.on("close", () => {
    if (!failed && ws.readyState === ws.OPEN) {
      if (!trailersSent) {
        const rst = statusForReset(req.rstCode ?? constants.NGHTTP2_INTERNAL_ERROR);
        sendStatus(rst.code, rst.message);
      }
      ws.close(CLOSE_NORMAL);
    }
    session.close();
  });

  ws.on("close", () => {
    if (!req.closed) req.close(constants.NGHTTP2_CANCEL);
    session.close();
    setTimeout(() => session.destroy(), 1000).unref();
  });
  ws.on("error", (err) => log.debug("WebSocket of a gRPC call failed", { client: o.client, method: path, error: err }));
}
