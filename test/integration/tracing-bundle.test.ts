// Tracing from the built artefacts (the single executable, the CJS bundle, the ESM
// bundle under Deno): the OpenTelemetry SDK is bundled and loaded lazily, and its
// OTLP/gRPC exporter must reach a collector from inside a bundle too, where a module
// loaded by name at run time would not be found (scripts/release/bundles.ts).
// `npm test` builds the artefacts first (pretest); run `npm run build` when running this file alone.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { EXECUTABLE, freePort, LIVE_ROOMS_OFF, start, type Runner } from "../support/processes.ts";
import { startOtlpCollector, type OtlpCollector } from "../support/otlp-collector.ts";

let dir: string;
let collector: OtlpCollector;
/** Spans already matched by an earlier runner's test. */
const used = new Set<string>();

before(async () => {
  assert.ok(existsSync(EXECUTABLE), `${EXECUTABLE} is missing: run npm run build first`);
  dir = mkdtempSync(join(tmpdir(), "tracing-bundle-"));
  writeFileSync(join(dir, "passwd"), `agent-b:${await bcryptHash("pw", 4)}\n`);
  writeFileSync(join(dir, "creds"), "agent-b:pw\n");
  collector = await startOtlpCollector();
});
after(async () => {
  await collector?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

for (const runner of ["executable", "cjs", "deno"] as Runner[]) {
  test(`${runner}: principal and agent export linked gRPC spans over OTLP`, { timeout: 120_000 }, async () => {
    const port = await freePort();
    const env = { OTEL_BSP_SCHEDULE_DELAY: "100" };
    const tracing = ["--otlp-address", collector.address, "--otlp-insecure"];
    const principal = start([
      "principal", "-n", "argocd", "--listen-host", "127.0.0.1", "--listen-port", String(port), "--insecure-plaintext",
      "--auth", `userpass:${join(dir, "passwd")}`, "--insecure-jwt-generate", "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF, ...tracing,
    ], env, runner);
    const agent = start([
      "agent", "-n", "argocd", "--server-address", "127.0.0.1", "--server-port", String(port), "--insecure-plaintext",
      "--creds", `userpass:${join(dir, "creds")}`, "--healthz-port", "0", "--metrics-port", "0", ...tracing,
    ], env, runner);
    try {
      await principal.waitFor(/principal started/, 60_000);
      await agent.waitFor(/authenticated to principal/, 60_000);
      // The agent may have tried before the principal listened: those attempts are client spans without a server side.
      await collector.waitFor((spans) =>
        spans.some((client) =>
          client.service === "agent-autonomous" && client.name === "authapi.Authentication/Authenticate" && client.kind === 3 && !used.has(client.spanId) &&
          spans.some((s) => s.service === "principal" && s.kind === 2 && s.parentSpanId === client.spanId && s.traceId === client.traceId),
        ),
      );
      for (const s of collector.spans) used.add(s.spanId);
    } finally {
      const codes = [await agent.stop(), await principal.stop()];
      assert.deepEqual(codes, [0, 0], `${agent.output()}\n${principal.output()}`);
    }
    assert.doesNotMatch(agent.output() + principal.output(), /could not export spans|flushing spans at shutdown failed/);
  });
}
