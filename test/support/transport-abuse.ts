/**
 * Misbehaving peers of the principal, for the transport tests and the fault bench:
 * an unauthenticated caller sending a huge Authenticate request, TCP connections that
 * never start their TLS handshake, and a Subscribe peer that never reads
 * (test/support/non-reading-client.ts, run as its own process).
 */
import { connect as http2Connect, type ClientHttp2Stream } from "node:http2";
import { connect as tcpConnect, type Socket } from "node:net";
import { join } from "node:path";
import { ROOT, startRaw } from "./processes.ts";

export const MiB = 1024 * 1024;
export const AUTHENTICATE_PATH = "/authapi.Authentication/Authenticate";

/** Resolves on 'drain' or 'close', whichever comes first, leaving no listener behind. */
export function closedOrDrained(req: ClientHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      req.off("drain", done);
      req.off("close", done);
      resolve();
    };
    req.on("drain", done);
    req.on("close", done);
  });
}

/** Sends one gRPC Authenticate message of `size` bytes (declared in its prefix) as fast as the server lets us. */
export async function hugeAuthenticate(port: number, size: number): Promise<{ sent: number; rstCode: number | undefined; ms: number }> {
  const started = Date.now();
  const session = http2Connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  const req = session.request({ ":method": "POST", ":path": AUTHENTICATE_PATH, "content-type": "application/grpc", te: "trailers", "x-agent-id": "big" });
  req.on("error", () => {});
  req.resume();
  const closed = new Promise<void>((r) => req.once("close", () => r()));
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(size, 1);
  req.write(prefix);
  const chunk = Buffer.alloc(MiB);
  let sent = 0;
  while (sent < size && !req.closed && !req.destroyed) {
    if (!req.write(chunk)) await closedOrDrained(req);
    sent += chunk.length;
  }
  if (!req.closed) req.end();
  await closed;
  session.destroy();
  return { sent, rstCode: req.rstCode, ms: Date.now() - started };
}

/**
 * Opens `count` TCP connections that never say a word (half-open TLS handshakes) and
 * resolves with how many ms after opening each was closed by the server, at most `waitMs`.
 */
export function halfOpenConnections(port: number, count: number, waitMs: number): { closedAfterMs: Promise<number[]>; destroy(): void } {
  const started = Date.now();
  const sockets: Socket[] = [];
  const closedAfterMs = new Promise<number[]>((resolve) => {
    const times: number[] = [];
    for (let i = 0; i < count; i++) {
      const s = tcpConnect(port, "127.0.0.1");
      s.on("error", () => {});
      s.once("close", () => {
        times.push(Date.now() - started);
        if (times.length === count) resolve(times);
      });
      sockets.push(s);
    }
    setTimeout(() => resolve(times), waitMs).unref();
  });
  return { closedAfterMs, destroy: () => sockets.forEach((s) => s.destroy()) };
}

export interface NonReadingResult {
  heartbeats: number;
  closedBy: "server" | "client";
  rstCode: number | null;
  enhanceYourCalm: boolean;
}

/** Runs one non-reading Subscribe peer (its own process) until the principal drops it or `seconds` pass. */
export async function nonReadingPeer(port: number, agent: string, seconds = 45): Promise<NonReadingResult> {
  const client = startRaw(process.execPath, [join(ROOT, "test/support/non-reading-client.ts"), "--port", String(port), "--agent", agent, "--seconds", String(seconds)]);
  await client.waitFor(/"subscribed":true/);
  return JSON.parse((await client.waitFor(/\{"done":true.*\}/, (seconds + 15) * 1000))[0]);
}
