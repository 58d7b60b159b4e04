/**
 * A raw grpc-ws client for the WebSocket transport tests: opens one WebSocket with
 * the headers a test chooses (as a sidecar or an attacker would send them), sends the
 * given messages (binary frames or text) once it is open, and collects what comes
 * back until the close, or the HTTP answer when the upgrade is refused. Nothing of
 * src/transport/websocket/ is used on the client side except the frame codec, so the
 * principal is tested from outside.
 *
 * @example
 *   const r = await rawWsCall(`ws://127.0.0.1:${port}${AUTHENTICATE}`, {
 *     headers: { "x-agent-id": "agent-1" },
 *     send: [dataFrame(authRequest("header")), END_OF_STREAM],
 *   });
 *   r.closeCode; // 1000
 */
import WebSocket, { type ClientOptions } from "ws";
import type { IncomingMessage } from "node:http";
import { AuthRequest, AuthResponse } from "../../src/proto/gen/auth.ts";
import { decodeFrame } from "../../src/transport/websocket/frames.ts";
import { parseHeaderBlock } from "../../src/transport/websocket/header-block.ts";

export const AUTHENTICATE = "/authapi.Authentication/Authenticate";
export const SUBSCRIBE = "/eventstreamapi.EventStream/Subscribe";

export interface RawWsResult {
  /** Set when the upgrade was refused. */
  httpStatus?: number;
  body?: string;
  /** Binary messages received, in order. */
  messages: Buffer[];
  closeCode?: number;
  closeReason?: string;
  error?: string;
}

export function authRequest(method: string, credentials: Record<string, string> = {}): Buffer {
  return Buffer.from(AuthRequest.encode({ method, credentials, mode: "managed", version: "0.9.0", agentNamespace: "argocd" }).finish());
}

/** The agent named in the access token of an AuthResponse data frame. */
export function agentOfAuthResponse(frame: Buffer): string {
  const res = AuthResponse.decode(frame.subarray(5));
  return JSON.parse(JSON.parse(Buffer.from(res.accessToken.split(".")[1], "base64url").toString()).sub).clientID;
}

/** The metadata frames of a result, parsed; data frames as `{ data }`. */
export function describeMessages(r: RawWsResult): ({ metadata: Record<string, string[]> } | { data: Buffer })[] {
  return r.messages.map((m) => {
    const f = decodeFrame(m);
    return f.kind === "metadata" ? { metadata: { ...parseHeaderBlock(f.block) } } : { data: f.frame };
  });
}

export function rawWsCall(
  url: string,
  o: { headers?: Record<string, string | string[]>; send?: (Buffer | { text: string })[]; options?: ClientOptions; timeoutMs?: number } = {},
): Promise<RawWsResult> {
  const out: RawWsResult = { messages: [] };
  const ws = new WebSocket(url, {
    perMessageDeflate: false,
    ...o.options,
    headers: { "sec-websocket-protocol": "grpc-ws", "content-type": "application/grpc", ...o.headers },
  });
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      out.error = "timed out";
      ws.terminate();
      resolve(out);
    }, o.timeoutMs ?? 15_000);
    const done = () => {
      clearTimeout(timer);
      resolve(out);
    };
    ws.on("open", () => {
      for (const m of o.send ?? []) Buffer.isBuffer(m) ? ws.send(m, { binary: true }) : ws.send(m.text);
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) out.messages.push(Buffer.isBuffer(data) ? data : Buffer.concat(data as Buffer[]));
    });
    ws.on("unexpected-response", (_req, res: IncomingMessage) => {
      out.httpStatus = res.statusCode;
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => {
        out.body = body;
        ws.terminate();
        done();
      });
    });
    ws.on("error", (err) => (out.error = err.message));
    ws.on("close", (code, reason) => {
      out.closeCode = code;
      out.closeReason = reason.toString();
      if (out.httpStatus === undefined) done();
    });
  });
}
