/**
 * Server-side keepalive enforcement (`--keepalive-min-interval`): a client
 * that sends HTTP/2 PINGs more often than allowed gets GOAWAY
 * ENHANCE_YOUR_CALM "too_many_pings" after a few strikes, as grpc-go does.
 * grpc-js has no such policy, so we watch the HTTP/2 sessions ourselves.
 *
 * Stricter than grpc-go in one way: grpc-go forgives early pings that follow
 * data or headers it sent (resetPingStrikes); we count every early ping. Our
 * default minimum (10 s, not grpc-go's 5 min) makes up for it in practice.
 */
import type { Server } from "@grpc/grpc-js";
import { constants, type Http2Session, type Http2Server } from "node:http2";
import { getLogger } from "../observability/log.ts";

/** grpc-go counts this many early pings before it sends GOAWAY. */
const MAX_STRIKES = 2;

export interface PingPolicy {
  /** Pings closer together than this are strikes (milliseconds). */
  minIntervalMs: number;
  onViolation?: (peer: string) => void;
}

export function enforcePingPolicy(session: Http2Session, policy: PingPolicy): void {
  let last = 0;
  let strikes = 0;
  session.on("ping", () => {
    const now = Date.now();
    const early = last !== 0 && now - last < policy.minIntervalMs;
    last = now;
    if (!early) return;
    strikes++;
    if (strikes <= MAX_STRIKES) return;
    const peer = `${session.socket?.remoteAddress ?? "?"}:${session.socket?.remotePort ?? "?"}`;
    getLogger("transport").warn("client pings too often, sending GOAWAY too_many_pings", {
      client: peer,
      minInterval: `${policy.minIntervalMs}ms`,
    });
    policy.onViolation?.(peer);
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, 0, Buffer.from("too_many_pings"));
    // Let the GOAWAY frame leave before the connection goes.
    setTimeout(() => session.destroy(), 100).unref();
  });
}

/**
 * Attaches the policy to every HTTP/2 server of a bound grpc-js Server.
 * Relies on grpc-js's private `http2Servers` map (pinned grpc-js version);
 * the keepalive tests in test/integration/transport-auth.test.ts fail if that ever changes.
 */
export function attachPingPolicy(server: Server, policy: PingPolicy): void {
  const servers = (server as unknown as { http2Servers?: Map<Http2Server, unknown> }).http2Servers;
  if (!servers || servers.size === 0) throw new Error("grpc-js internals changed: no http2Servers to attach the ping policy to");
  for (const h2 of servers.keys()) h2.on("session", (s: Http2Session) => enforcePingPolicy(s, policy));
}
