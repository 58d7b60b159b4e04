// One trace across principal and agent, as an operator sees it in a tracing backend:
// real principal and managed-agent processes against real API servers, both exporting
// with --otlp-address/--otlp-insecure to an OTLP/gRPC collector of our own. An
// Application created on the control plane must show up as one trace: the principal's
// `Application.create` span, the agent's processing of the create event (its child,
// through `traceparent` in the CloudEvent) and the agent's Kubernetes write (its child);
// a status change on the agent must come back the same way; and the agent's
// Authenticate call must be continued by the principal's server span.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { applications, ensureNamespace } from "../../src/kube/crud.ts";
import type { Application } from "../../src/kube/resources.ts";
import { freePort, LIVE_ROOMS_OFF, start, type Running } from "../support/processes.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { startOtlpCollector, type CollectedSpan, type OtlpCollector } from "../support/otlp-collector.ts";
import { app, eventually } from "./replication-harness.ts";

const AGENT = "agent-managed";
let dir: string;
let env: KubeEnv;
let collector: OtlpCollector;
let cp: KubeClient;
let wl: KubeClient;
let principal: Running;
let agent: Running;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "tracing-e2e-"));
  writeFileSync(join(dir, "passwd"), `${AGENT}:${await bcryptHash("s3cret", 4)}\n`);
  writeFileSync(join(dir, "creds"), `${AGENT}:s3cret\n`);
  collector = await startOtlpCollector();
  env = await startKubeEnv({ clusters: ["control-plane", AGENT] });
  cp = createKubeClient(env.cluster("control-plane").kubeConfig);
  wl = createKubeClient(env.cluster(AGENT).kubeConfig);
  await ensureNamespace(cp, AGENT);
  const port = await freePort();
  // Short batch delay so spans arrive while the test waits (the SDKs' standard variable).
  const otel = { OTEL_BSP_SCHEDULE_DELAY: "200" };
  const tracingFlags = ["--otlp-address", collector.address, "--otlp-insecure"];
  principal = start([
    "principal", "-n", "argocd", "--kubeconfig", env.cluster("control-plane").kubeconfigPath,
    "--listen-host", "127.0.0.1", "--listen-port", String(port), "--insecure-plaintext",
    "--auth", `userpass:${join(dir, "passwd")}`, "--insecure-jwt-generate", "--allowed-namespaces", AGENT,
    "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF, ...tracingFlags,
  ], otel);
  await principal.waitFor(/OpenTelemetry tracing initialized \(address=127\.0\.0\.1:\d+\)/);
  await principal.waitFor(/principal started/, 60_000);
  agent = start([
    "agent", "-n", "argocd", "--agent-mode", "managed", "--kubeconfig", env.cluster(AGENT).kubeconfigPath,
    "--server-address", "127.0.0.1", "--server-port", String(port), "--insecure-plaintext",
    "--creds", `userpass:${join(dir, "creds")}`, "--healthz-port", "0", "--metrics-port", "0", ...tracingFlags,
  ], otel);
  await agent.waitFor(/OpenTelemetry tracing initialized/);
  await agent.waitFor(/authenticated to principal/, 60_000);
}, { timeout: 180_000 });

after(async () => {
  await agent?.stop();
  await principal?.stop();
  await collector?.close();
  await env?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const find = (pred: (s: CollectedSpan) => boolean) => collector.spans.find(pred);
const named = (service: string, name: string, extra: (s: CollectedSpan) => boolean = () => true) => (s: CollectedSpan) =>
  s.service === service && s.name === name && extra(s);

test("an Application create is one trace from the principal's informer to the agent's Kubernetes write", { timeout: 90_000 }, async () => {
  const created = await applications(cp).create(app("guestbook", AGENT) as Application);
  await eventually("Application on the agent", () => applications(wl).get("argocd", "guestbook"), 30_000);

  const isGuestbook = (s: CollectedSpan) => s.attributes["k8s.resource.name"] === "guestbook";
  const rootPred = named("principal", "Application.create", isGuestbook);
  await collector.waitFor((spans) => {
    const root = spans.find(rootPred);
    return !!root && spans.some((s) => s.service === "agent-managed" && s.name === "k8s.create Application" && s.traceId === root.traceId);
  });
  const root = find(rootPred)!;
  assert.equal(root.parentSpanId, "", "the principal's informer span starts the trace");
  assert.equal(root.attributes["argocd.component.type"], "principal");
  assert.equal(root.attributes["argocd.agent.name"], AGENT);
  assert.equal(root.attributes["argocd.agent.mode"], "managed");
  assert.equal(root.attributes["k8s.resource.uid"], created.metadata.uid);

  const inTrace = collector.spans.filter((s) => s.traceId === root.traceId);
  assert.deepEqual([...new Set(inTrace.map((s) => s.service))].sort(), ["agent-managed", "principal"]);
  const processing = inTrace.find(named("agent-managed", "application.io.argoproj.argocd-agent.event.create"));
  assert.ok(processing, `agent processing span in the trace; have ${inTrace.map((s) => `${s.service}:${s.name}`).join(", ")}`);
  assert.equal(processing.parentSpanId, root.spanId, "the agent continues the principal's span (traceparent in the CloudEvent)");
  assert.equal(processing.attributes["argocd.component.type"], "agent");
  assert.equal(processing.attributes["argocd.agent.mode"], "managed");
  assert.equal(processing.attributes["k8s.resource.uid"], `guestbook_${created.metadata.uid}`);
  assert.equal(processing.statusCode, 1);
  const write = inTrace.find(named("agent-managed", "k8s.create Application"))!;
  assert.equal(write.parentSpanId, processing.spanId, "the agent's Kubernetes write is a child of its event processing");
  assert.equal(write.kind, 3);
  assert.equal(write.attributes["k8s.resource.namespace"], "argocd");
  assert.equal(write.attributes["k8s.resource.name"], "guestbook");
});

test("a status change on the agent is one trace back to the principal's write", { timeout: 90_000 }, async () => {
  await applications(wl).patchStatus("argocd", "guestbook", { status: { health: { status: "Healthy" } } });
  await eventually("status on the principal", async () => {
    const a = await applications(cp).get(AGENT, "guestbook");
    return (a?.status?.["health"] as { status?: string } | undefined)?.status === "Healthy";
  }, 30_000);
  const processingPred = named("principal", "application.io.argoproj.argocd-agent.event.status-update");
  await collector.waitFor((spans) => {
    const p = spans.find(processingPred);
    return !!p && spans.some((s) => s.service === "principal" && s.name.startsWith("k8s.") && s.parentSpanId === p.spanId);
  });
  const processing = find(processingPred)!;
  const parent = find((s) => s.spanId === processing.parentSpanId);
  assert.ok(parent, "the principal's processing span has a parent");
  assert.equal(parent.service, "agent-managed");
  assert.equal(parent.name, "Application.update");
  assert.equal(parent.traceId, processing.traceId);
  assert.equal(parent.attributes["argocd.agent.name"], "argocd", "an agent names itself by its namespace, as upstream");
});

test("the agent's Authenticate call and the principal's handling of it share one trace", async () => {
  const client = find(named("agent-managed", "authapi.Authentication/Authenticate", (s) => s.kind === 3));
  assert.ok(client, "agent CLIENT span");
  const server = find(named("principal", "authapi.Authentication/Authenticate", (s) => s.kind === 2 && s.traceId === client.traceId));
  assert.ok(server, "principal SERVER span in the same trace");
  assert.equal(server.parentSpanId, client.spanId);
  assert.equal(server.attributes["rpc.grpc.status_code"], 0);
});

test("both processes flush their spans and exit cleanly on SIGTERM", { timeout: 60_000 }, async () => {
  assert.equal(await agent.stop("SIGTERM"), 0);
  // The agent's Subscribe stream span ends with the stream and is exported at shutdown.
  await collector.waitFor((spans) => spans.some(named("agent-managed", "eventstreamapi.EventStream/Subscribe", (s) => s.kind === 3)));
  assert.equal(await principal.stop("SIGTERM"), 0);
  await collector.waitFor((spans) => spans.some(named("principal", "eventstreamapi.EventStream/Subscribe", (s) => s.kind === 2)));
});
