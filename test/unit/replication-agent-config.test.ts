/**
 * Agent replication settings checked at start (exit 2 with a clear message):
 * impossible flag combinations; an API server that does not answer leaves the
 * agent waiting, alive; --informer-sync-timeout bounds how long the agent waits
 * for its informers once the API server answers.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer as createHttpsServer } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { StartupError } from "../../src/cli/component-command.ts";
import { startAgent } from "../../src/agent/run.ts";
import { agentReplicationConfigError } from "../../src/replication/agent/agent-replication.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { createTestPki } from "../support/pki.ts";

const tmp = mkdtempSync(join(tmpdir(), "agent-config-test-"));
after(() => rmSync(tmp, { recursive: true, force: true }));

function settings(extra: Record<string, unknown>) {
  writeFileSync(join(tmp, "creds"), "agent-x:secret\n");
  return resolveSettings(AGENT_SETTINGS, {
    serverAddress: "127.0.0.1", serverPort: "1", insecurePlaintext: "true", creds: `userpass:${join(tmp, "creds")}`,
    healthzPort: "0", metricsPort: "0", logLevel: "error", ...extra,
  }, {}).values;
}

test("impossible combinations are refused with the flags named", () => {
  assert.match(agentReplicationConfigError({ mode: "autonomous", destinationBased: true }) ?? "", /--destination-based-mapping.*autonomous/);
  assert.match(agentReplicationConfigError({ mode: "managed", createNamespace: true }) ?? "", /--create-namespace requires --destination-based-mapping/);
  assert.match(agentReplicationConfigError({ mode: "autonomous", ignoreUnmanagedApps: true }) ?? "", /--ignore-unmanaged-apps/);
  assert.equal(agentReplicationConfigError({ mode: "managed", destinationBased: true, createNamespace: true, ignoreUnmanagedApps: true }), undefined);
});

test("startAgent refuses them before connecting (even without Kubernetes)", async () => {
  await assert.rejects(startAgent(settings({ agentMode: "managed", createNamespace: "true" })), (err: Error) => err instanceof StartupError && /--create-namespace/.test(err.message));
  await assert.rejects(startAgent(settings({ agentMode: "autonomous", destinationBasedMapping: "true" })), (err: Error) => err instanceof StartupError && /autonomous/.test(err.message));
});

function kubeconfigFor(port: number): string {
  const file = join(tmp, `kubeconfig-${port}`);
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  return file;
}

test("an API server that never answers: the agent waits (alive, not ready) until stopped", { timeout: 20_000 }, async () => {
  // A TCP server that accepts and never responds: the reachability probe times out and retries.
  const sockets = new Set<import("node:net").Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  const stop = new AbortController();
  try {
    let settled = false;
    const started = startAgent(settings({ agentMode: "managed", kubeconfig: kubeconfigFor(port), informerSyncTimeout: "1500ms" }), { signal: stop.signal });
    started.then(() => (settled = true), () => (settled = true));
    await new Promise((r) => setTimeout(r, 7000));
    assert.equal(settled, false, "the agent gave up instead of waiting for its API server");
    stop.abort();
    await assert.rejects(started, (err: Error) => err instanceof StartupError && /aborted while waiting for the API server/.test(err.message));
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});

test("--informer-sync-timeout: start fails after that long when the API server answers but lists never do", { timeout: 20_000 }, async () => {
  const pki = await createTestPki();
  // Discovery answers (the API server is up); every list hangs.
  const hung = new Set<import("node:http").ServerResponse>();
  const server = createHttpsServer({ cert: pki.server.cert, key: pki.server.key }, (req, res) => {
    if (req.url === "/api/v1" || req.url === "/api/v1/") {
      res.setHeader("content-type", "application/json");
      return res.end(JSON.stringify({ kind: "APIResourceList", apiVersion: "v1", groupVersion: "v1", resources: [] }));
    }
    hung.add(res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const t0 = Date.now();
  try {
    await assert.rejects(startAgent(settings({ agentMode: "managed", kubeconfig: kubeconfigFor(port), informerSyncTimeout: "1500ms" })), (err: Error) => {
      assert.ok(err instanceof StartupError, String(err));
      assert.match(err.message, /did not sync within 1500 ms \(--informer-sync-timeout\)/);
      assert.match(err.message, /applications/);
      return true;
    });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1400 && elapsed < 6000, `gave up after ${elapsed} ms`);
  } finally {
    for (const r of hung) r.destroy();
    server.closeAllConnections();
    server.close();
    pki.cleanup();
  }
});
