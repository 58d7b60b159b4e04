#!/usr/bin/env node
/**
 * Transport under abuse (issue 13 items 1–3), against the real principal program
 * (plaintext, header auth; TLS for the handshake case), each case on a fresh principal:
 *
 *   1. a stock gRPC-core client (Python grpcio, default options, BDP pings on)
 *      heartbeating every second for --duration s: GOAWAY too_many_pings received;
 *   2. a Subscribe peer that never reads and floods heartbeats: principal RSS before,
 *      peak, after; seconds until the principal dropped it;
 *   3. three concurrent 150 MiB Authenticate requests: bytes sent before the refusal,
 *      principal RSS before and peak; whether a healthy agent was served meanwhile;
 *   4. 500 half-open TLS handshakes: how many were closed, and when the last was.
 *
 * Prints figures, never passes or fails on them; writes bench/results/faults-transport.json.
 * Usage: node bench/faults-transport.ts [--duration 60]
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { freePort, LIVE_ROOMS_OFF, principalDevArgs, ROOT, start, type Running } from "../test/support/processes.ts";
import { rssMiB, watchRss } from "../test/support/process-memory.ts";
import { generatePythonStubs, runPythonPeer, tooManyPingsGoaways } from "../test/support/python.ts";
import { halfOpenConnections, hugeAuthenticate, MiB, nonReadingPeer } from "../test/support/transport-abuse.ts";

const { values: args } = parseArgs({ options: { duration: { type: "string", default: "60" } } });
const duration = Number(args.duration);
const stubs = generatePythonStubs();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function withPrincipal<T>(argv: string[], fn: (p: Running, port: number) => Promise<T>): Promise<T> {
  const port = await freePort();
  const p = start(argv.map((a) => (a === "{port}" ? String(port) : a)));
  try {
    await p.waitFor(/principal started/);
    await sleep(1500); // settle before the baseline
    return await fn(p, port);
  } finally {
    await p.stop();
  }
}
const plaintext = principalDevArgs(0).map((a, i, all) => (all[i - 1] === "--listen-port" ? "{port}" : a));
const peerArgs = (port: number, agent: string) => ["--stubs", stubs.dir, "--port", String(port), "--header-name", "x-agent-id", "--header-value", agent];

try {
  const keepalive = await withPrincipal(plaintext, async (_p, port) => {
    const run = await runPythonPeer("python_heartbeats.py", [...peerArgs(port, "grpcio"), "--interval", "1", "--duration", String(duration)], (duration + 30) * 1000);
    return {
      seconds: duration,
      goaways: tooManyPingsGoaways(run.stderr),
      heartbeats: run.json?.heartbeats,
      acks: run.json?.acks,
      streamErrors: run.json?.streamErrors?.length,
      subscribes: run.json?.subscribes,
    };
  });

  const nonReading = await withPrincipal(plaintext, async (p, port) => {
    const pid = p.proc.pid!;
    const before = rssMiB(pid);
    const rss = watchRss(pid);
    const started = Date.now();
    const r = await nonReadingPeer(port, "never-reads");
    const droppedAfterS = (Date.now() - started) / 1000;
    const peak = rss.stop();
    await sleep(5000);
    return { rssBeforeMiB: before, rssPeakMiB: peak, rssAfterMiB: rssMiB(pid), droppedAfterS, closedBy: r.closedBy, heartbeatsSent: r.heartbeats };
  });

  const hugeAuth = await withPrincipal(plaintext, async (p, port) => {
    const pid = p.proc.pid!;
    const before = rssMiB(pid);
    const rss = watchRss(pid, 100);
    const healthy = runPythonPeer("python_peer.py", peerArgs(port, "healthy"), 30_000);
    const results = await Promise.all([0, 1, 2].map(() => hugeAuthenticate(port, 150 * MiB)));
    const peer = await healthy;
    return {
      rssBeforeMiB: before,
      rssPeakMiB: rss.stop(),
      sentBeforeRefusalMiB: results.map((r) => r.sent / MiB),
      refusedAfterMs: results.map((r) => r.ms),
      healthyAgentServed: peer.json?.ok === true,
    };
  });

  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-bench-"));
  writeFileSync(join(dir, "userpass.db"), "# nobody\n");
  const tls = [
    "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", "{port}", "--insecure-tls-generate",
    "--auth", `userpass:${join(dir, "userpass.db")}`, "--insecure-jwt-generate", "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF,
  ];
  const halfOpen = await withPrincipal(tls, async (_p, port) => {
    const h = halfOpenConnections(port, 500, 30_000);
    const closed = await h.closedAfterMs;
    h.destroy();
    return { opened: 500, closedWithin30s: closed.length, lastClosedAfterMs: closed.length ? Math.max(...closed) : null };
  });
  rmSync(dir, { recursive: true, force: true });

  const figures = { keepalive, nonReading, hugeAuth, halfOpen };
  const rows = [
    "| case | figures |",
    "|---|---|",
    `| grpcio client, default options, heartbeat every 1 s for ${duration} s | ${keepalive.goaways} GOAWAY too_many_pings, ${keepalive.streamErrors} stream errors, ${keepalive.acks}/${keepalive.heartbeats} heartbeats acked on ${keepalive.subscribes} stream(s) |`,
    `| Subscribe peer that never reads, flooding heartbeats | dropped by the principal after ${nonReading.droppedAfterS.toFixed(1)} s (${nonReading.closedBy}); principal RSS ${nonReading.rssBeforeMiB} → peak ${nonReading.rssPeakMiB} → ${nonReading.rssAfterMiB} MiB after |`,
    `| 3 × 150 MiB Authenticate, unauthenticated | refused after ${hugeAuth.sentBeforeRefusalMiB.join("/")} MiB sent (${hugeAuth.refusedAfterMs.join("/")} ms); principal RSS ${hugeAuth.rssBeforeMiB} → peak ${hugeAuth.rssPeakMiB} MiB; healthy agent served: ${hugeAuth.healthyAgentServed} |`,
    `| 500 half-open TLS handshakes | ${halfOpen.closedWithin30s}/500 closed, the last after ${halfOpen.lastClosedAfterMs} ms |`,
  ];
  console.log(rows.join("\n"));
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/faults-transport.json"), JSON.stringify({ date: new Date().toISOString(), ...figures }, null, 2) + "\n");
} finally {
  stubs.remove();
}
