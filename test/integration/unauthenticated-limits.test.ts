// What a caller without a token can make the real principal program hold
// (src/transport/pre-auth-limits.ts): Authenticate requests are bounded to
// 64 KiB, at most 512 are open at once and each must arrive within 10 s; TLS
// connections must finish their handshake within 5 s (TLS_HANDSHAKE_TIMEOUT_MS). Before, three 150 MiB
// Authenticate requests were read in full (principal at 1.19 GiB RSS), held
// calls stayed open forever and 500 half-open TLS handshakes were all still
// open after 15 s. A healthy agent keeps working throughout.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { connect as http2Connect, constants } from "node:http2";
import { connect as tlsConnect } from "node:tls";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, LIVE_ROOMS_OFF, principalDevArgs, start } from "../support/processes.ts";
import { rssMiB, watchRss } from "../support/process-memory.ts";
import { generatePythonStubs, runPythonPeer } from "../support/python.ts";
import { AUTHENTICATE_PATH as AUTHENTICATE, halfOpenConnections, hugeAuthenticate, MiB } from "../support/transport-abuse.ts";
/** Principal RSS growth allowed while three 150 MiB requests are refused (each may buffer 64 KiB). */
const RSS_GROWTH_BOUND_MIB = 48;

let stubs: { dir: string; remove(): void };
before(() => (stubs = generatePythonStubs()));
after(() => stubs?.remove());

describe("unauthenticated callers", () => {
  test("three concurrent 150 MiB Authenticate requests are refused early while a healthy agent works", { timeout: 120_000 }, async () => {
    const port = await freePort();
    const principal = start(principalDevArgs(0, port));
    try {
      await principal.waitFor(/principal started/);
      const pid = principal.proc.pid!;
      await new Promise((r) => setTimeout(r, 1500));
      const baseline = rssMiB(pid);
      const rss = watchRss(pid, 100);
      const healthy = runPythonPeer(
        "python_peer.py",
        ["--stubs", stubs.dir, "--port", String(port), "--header-name", "x-agent-id", "--header-value", "healthy"],
        30_000,
      );
      const results = await Promise.all([0, 1, 2].map(() => hugeAuthenticate(port, 150 * MiB)));
      const peer = await healthy;
      const peak = rss.stop();
      for (const r of results) {
        assert.equal(r.rstCode, constants.NGHTTP2_ENHANCE_YOUR_CALM, `reset with ENHANCE_YOUR_CALM: ${JSON.stringify(r)}`);
        assert.ok(r.sent < 16 * MiB, `refused after ${r.sent} bytes were sent (${r.ms} ms)`);
      }
      assert.equal(peer.json?.ok, true, `healthy agent: ${peer.stdout}\n${peer.stderr}`);
      assert.ok(peak - baseline < RSS_GROWTH_BOUND_MIB, `principal RSS ${baseline} MiB → peak ${peak} MiB`);
      assert.match(principal.output(), /refused an unauthenticated call over its limits.*reason=too-large/);
      console.log(`3×150 MiB Authenticate: refused after ${results.map((r) => `${r.sent / MiB} MiB/${r.ms} ms`).join(", ")}; principal RSS ${baseline} → peak ${peak} MiB`);
    } finally {
      await principal.stop();
    }
  });

  test("at most 512 Authenticate calls are open at once, and a held one is reset after 10 s", { timeout: 60_000 }, async () => {
    const port = await freePort();
    const principal = start(principalDevArgs(0, port));
    await principal.waitFor(/principal started/);
    const session = http2Connect(`http://127.0.0.1:${port}`);
    session.on("error", () => {});
    try {
      const started = Date.now();
      // Headers only: the request never completes (a slow-loris caller).
      const closedAt = await Promise.all(
        Array.from({ length: 600 }, () => {
          const req = session.request({ ":method": "POST", ":path": AUTHENTICATE, "content-type": "application/grpc", te: "trailers" });
          req.on("error", () => {});
          req.resume();
          return new Promise<{ ms: number; rstCode: number | undefined }>((r) => req.once("close", () => r({ ms: Date.now() - started, rstCode: req.rstCode })));
        }),
      );
      const early = closedAt.filter((c) => c.ms < 5000);
      const held = closedAt.filter((c) => c.ms >= 5000);
      assert.equal(early.length, 88, "the calls beyond 512 are refused at once");
      assert.equal(held.length, 512);
      assert.ok(closedAt.every((c) => c.rstCode === constants.NGHTTP2_ENHANCE_YOUR_CALM));
      assert.ok(Math.max(...held.map((c) => c.ms)) < 15_000, `held calls reset after ${Math.max(...held.map((c) => c.ms))} ms`);
      assert.match(principal.output(), /reason=too-many/);
    } finally {
      session.destroy();
      await principal.stop();
    }
  });

  test("500 half-open TLS handshakes are closed within 10 s; a real handshake still succeeds meanwhile", { timeout: 60_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), "argocd-agent-tls-"));
    const db = join(dir, "userpass.db");
    writeFileSync(db, "# nobody\n");
    const port = await freePort();
    const principal = start([
      "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(port),
      "--insecure-tls-generate", "--auth", `userpass:${db}`, "--insecure-jwt-generate",
      "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF,
    ]);
    let halfOpen: ReturnType<typeof halfOpenConnections> | undefined;
    try {
      await principal.waitFor(/principal started/);
      halfOpen = halfOpenConnections(port, 500, 15_000);
      // A real client is served while the half-open ones wait.
      const alpn = await new Promise<string | false>((resolve, reject) => {
        const t = tlsConnect({ port, host: "127.0.0.1", ALPNProtocols: ["h2"], rejectUnauthorized: false }, () => {
          resolve(t.alpnProtocol ?? false);
          t.destroy();
        });
        t.on("error", reject);
      });
      const closedAt = await halfOpen.closedAfterMs;
      assert.equal(closedAt.length, 500, `${closedAt.length} of 500 half-open connections closed within 15 s`);
      assert.ok(Math.max(...closedAt) < 10_000, `the last was closed after ${Math.max(...closedAt)} ms`);
      assert.equal(alpn, "h2");
    } finally {
      halfOpen?.destroy();
      await principal.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
