/**
 * Server-side keepalive enforcement (`--keepalive-min-interval`), the way
 * grpc-go's server does it (http2_server.go handlePing): a PING that comes
 * sooner than the minimum after the previous one is a strike, and the third
 * strike gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings". Sending data or
 * headers on the connection forgives: the next PING resets the strike count
 * instead of being judged, so a client's BDP pings (gRPC core sends one after
 * receiving data) never add up while we answer its heartbeats. With no open
 * stream (and pings without streams not permitted) the minimum is grpc-go's
 * 2 hours. grpc-js has no such policy, so we watch the HTTP/2 sessions.
 *
 * @example
 *   attachPingPolicy(grpcServer, { minIntervalMs: 10_000, onViolation: (peer) => count(peer) });
 */
import type { Server } from "@grpc/grpc-js";
import { constants, type Http2Session, type ServerHttp2Stream } from "node:http2";
import { getLogger } from "../observability/log.ts";
import { grpcHttp2Servers } from "./grpc-internals.ts";

/** grpc-go sends GOAWAY on the strike after this many. */
const MAX_STRIKES = 2;
/** grpc-go's minimum between pings while no stream is open (defaultPingTimeout). */
const NO_STREAM_MIN_INTERVAL_MS = 2 * 60 * 60 * 1000;

export interface PingPolicy {
  /** Pings closer together than this are strikes (milliseconds). */
  minIntervalMs: number;
  /** Allow pings at minIntervalMs while no stream is open (grpc-go's PermitWithoutStream; default false as upstream). */
  permitWithoutStream?: boolean;
  onViolation?: (peer: string) => void;
}

/** The stream methods that put HEADERS or DATA frames on the wire (grpc-js uses these). */
const SENDING_METHODS = ["respond", "write", "end", "sendTrailers"] as const;

/** Calls `onSend` whenever the stream is asked to send headers, data or trailers. */
function watchSends(stream: ServerHttp2Stream, onSend: () => void): void {
  const methods = stream as unknown as Record<string, (...args: unknown[]) => unknown>;
  for (const name of SENDING_METHODS) {
    const original = methods[name];
    methods[name] = function (this: unknown, ...args: unknown[]) {
      onSend();
      return original.apply(this, args);
    };
  }
}

export function enforcePingPolicy(session: Http2Session, policy: PingPolicy): void {
  let lastPingAt = 0;
  let strikes = 0;
  let sentSinceLastPing = false;
  let openStreams = 0;
  // Before Node's own listener hands the stream to grpc-js, so no send is missed.
  session.prependListener("stream", (stream: ServerHttp2Stream) => {
    openStreams++;
    stream.once("close", () => openStreams--);
    watchSends(stream, () => (sentSinceLastPing = true));
  });
  session.on("ping", () => {
    const now = Date.now();
    const previous = lastPingAt;
    lastPingAt = now;
    if (sentSinceLastPing) {
      sentSinceLastPing = false;
      strikes = 0;
      return;
    }
    const minInterval = openStreams < 1 && !policy.permitWithoutStream ? NO_STREAM_MIN_INTERVAL_MS : policy.minIntervalMs;
    if (previous !== 0 && now - previous < minInterval) strikes++;
    if (strikes <= MAX_STRIKES) return;
    const peer = `${session.socket?.remoteAddress ?? "?"}:${session.socket?.remotePort ?? "?"}`;
    getLogger("transport").warn("client pings too often, sending GOAWAY too_many_pings", {
      client: peer,
      minInterval: `${minInterval}ms`,
      openStreams,
    });
    policy.onViolation?.(peer);
    strikes = 0;
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too_many_pings"));
    // Let the GOAWAY frame leave before the connection goes.
    setTimeout(() => session.destroy(), 100).unref();
  });
}

/**
 * Attaches the policy to every HTTP/2 server of a bound grpc-js Server
 * (through grpc-js's private `http2Servers`, see grpc-internals.ts).
 */
export function attachPingPolicy(server: Server, policy: PingPolicy): void {
  for (const h2 of grpcHttp2Servers(server)) h2.on("session", (s: Http2Session) => enforcePingPolicy(s, policy));
}
