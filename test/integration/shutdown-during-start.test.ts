/**
 * A SIGTERM that arrives while the principal is still starting must still stop it: the
 * abort has already fired by the time start-up finishes, so `runPrincipal` must not wait
 * for it again (it used to hang until a second signal — in Kubernetes, the whole grace
 * period). An in-process principal without Kubernetes, with an already-aborted signal.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { runPrincipal } from "../../src/principal/run.ts";
import { configureLogging } from "../../src/observability/log.ts";

test("a principal whose stop signal fired during start-up returns once started", { timeout: 60_000 }, async () => {
  configureLogging({ defaultLevel: "warning" });
  const cfg = resolveSettings(PRINCIPAL_SETTINGS, {
    namespace: "argocd", listenHost: "127.0.0.1", listenPort: "0", healthzPort: "0", metricsPort: "0",
    insecurePlaintext: "true", auth: "header:x-agent-id:^(.+)$",
    enableResourceProxy: "false", disableRedisProxy: "true", insecureJwtGenerate: "true",
  }, {}).values;
  const ac = new AbortController();
  ac.abort();
  const outcome = await Promise.race([
    runPrincipal(cfg, ac.signal).then(() => "returned"),
    new Promise<string>((resolve) => setTimeout(() => resolve("still waiting after 20 s"), 20_000).unref()),
  ]);
  // On failure the principal still holds its servers: end this file's process so the run goes on.
  if (outcome !== "returned") setTimeout(() => process.exit(1), 2000);
  assert.equal(outcome, "returned");
});
