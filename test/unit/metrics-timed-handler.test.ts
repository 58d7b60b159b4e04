// timedHandler: how a handler's outcome becomes a processing-time status and
// an error count (pure logic: a handler function and a prom-client registry).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Counter, Histogram, Registry } from "prom-client";
import { timedHandler } from "../../src/observability/metrics.ts";
import type { AgentEvent } from "../../src/events/cloudevent.ts";
import type { HandlerOutcome } from "../../src/transport/event-session.ts";

function setup() {
  const registry = new Registry();
  const processing = new Histogram({ name: "processing", help: "h", labelNames: ["status", "agent_name", "resource_type"], registers: [registry] });
  const latency = new Histogram({ name: "latency", help: "h", labelNames: ["resource_type"], registers: [registry] });
  const errors = new Counter({ name: "errors", help: "h", labelNames: ["resource_type"], registers: [registry] });
  return { registry, m: { processing, latency, errors, rejectedStatus: "not-allowed" } };
}

const event = (target: string, sentat?: string) => ({ target, type: "io.argoproj.argocd-agent.event.create", extensions: sentat ? { sentat: { attr: { $case: "ceString", value: sentat } } } : {} }) as unknown as AgentEvent;

async function counts(registry: Registry): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const metric of (await registry.getMetricsAsJSON()) as { name: string; values: { metricName?: string; labels: Record<string, string | number>; value: number }[] }[]) {
    for (const v of metric.values) {
      if (metric.name === "processing" && v.metricName !== "processing_count") continue;
      if (metric.name === "latency" && v.metricName !== "latency_count") continue;
      const key = `${metric.name}{${Object.entries(v.labels).filter(([k]) => k !== "le").map(([k, x]) => `${k}=${x}`).sort().join(",")}}`;
      out[key] = v.value;
    }
  }
  return out;
}

test("outcomes map to success, failure and the rejected status; failures are counted as errors", async () => {
  const { registry, m } = setup();
  const outcomes: (HandlerOutcome | void | "throw")[] = [undefined, {}, { retryableFailure: true }, { failed: true }, { rejected: true }, "throw"];
  for (const o of outcomes) {
    const h = timedHandler(async () => {
      if (o === "throw") throw new Error("boom");
      return o;
    }, m, { agent_name: "a1" });
    const run = h(event("application"), undefined);
    if (o === "throw") await assert.rejects(run, /boom/);
    else assert.deepEqual(await run, o, "the outcome is passed through unchanged");
  }
  const c = await counts(registry);
  assert.equal(c["processing{agent_name=a1,resource_type=application,status=success}"], 2);
  assert.equal(c["processing{agent_name=a1,resource_type=application,status=failure}"], 3);
  assert.equal(c["processing{agent_name=a1,resource_type=application,status=not-allowed}"], 1);
  assert.equal(c["errors{resource_type=application}"], 3);
});

test("errors are labelled by resource type; latency is observed only when sentat is present", async () => {
  const { registry, m } = setup();
  const h = timedHandler(async (ev) => (ev.target === "appproject" ? { failed: true } : undefined), m, { agent_name: "a1" });
  await h(event("appproject", new Date(Date.now() - 1500).toISOString()), undefined);
  await h(event("application"), undefined);
  const c = await counts(registry);
  assert.equal(c["errors{resource_type=appproject}"], 1);
  assert.equal(c["errors{resource_type=application}"], undefined);
  assert.equal(c["latency{resource_type=appproject}"], 1);
  assert.equal(c["latency{resource_type=application}"], undefined);
});
