/**
 * Agent replication settings checked at start (exit 2 with a clear message):
 * impossible flag combinations, and --informer-sync-timeout bounding how long
 * the agent waits for its informers (here: an API server that does not answer).
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { StartupError } from "../../src/cli/component-command.ts";
import { startAgent } from "../../src/agent/run.ts";
import { agentReplicationConfigError } from "../../src/replication/agent-replication.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";

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

test("--informer-sync-timeout: start fails after that long when the API server never answers", { timeout: 20_000 }, async () => {
  // A TCP server that accepts and never responds: every list hangs.
  const sockets = new Set<import("node:net").Socket>();
  const silent = createServer((s) => sockets.add(s));
  await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
  const port = (silent.address() as { port: number }).port;
  const kubeconfig = join(tmp, "kubeconfig");
  writeFileSync(kubeconfig, `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`);
  const t0 = Date.now();
  try {
    await assert.rejects(startAgent(settings({ agentMode: "managed", kubeconfig, informerSyncTimeout: "1500ms" })), (err: Error) => {
      assert.ok(err instanceof StartupError, String(err));
      assert.match(err.message, /did not sync within 1500 ms \(--informer-sync-timeout\)/);
      assert.match(err.message, /applications/);
      return true;
    });
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1400 && elapsed < 6000, `gave up after ${elapsed} ms`);
  } finally {
    for (const s of sockets) s.destroy();
    silent.close();
  }
});
