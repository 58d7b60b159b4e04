// Tracing over a real loopback gRPC connection, exported with the real OTLP/gRPC
// exporter to a collector of our own: the agent's calls are CLIENT spans, the
// principal's handling SERVER spans continuing them (traceparent in the call
// metadata, as otelgrpc does), and an event built in an informer span is
// processed by the principal in a child span (traceparent in the CloudEvent).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { credentials, ServerCredentials } from "@grpc/grpc-js";
import { UserpassAuthentication } from "../../src/auth/userpass.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { generateSigningKey, JwtIssuer } from "../../src/auth/jwt-issuer.ts";
import { createPrincipalAuth } from "../../src/principal/principal-auth.ts";
import { startPrincipalServer, type PrincipalServer } from "../../src/principal/server.ts";
import { AGENT_EVENT_SOURCE, AgentConnection } from "../../src/agent/connection.ts";
import { objectEvent } from "../../src/events/cloudevent.ts";
import { EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { configureLogging } from "../../src/observability/log.ts";
import { startTracing, traceInformerChange, type RunningTracing } from "../../src/tracing/tracing.ts";
import { startOtlpCollector, type CollectedSpan, type OtlpCollector } from "../support/otlp-collector.ts";
import { principalDevArgs, runSync } from "../support/processes.ts";

let collector: OtlpCollector;
let tracing: RunningTracing;
let server: PrincipalServer;

before(async () => {
  configureLogging({ defaultLevel: "error" });
  process.env["OTEL_BSP_SCHEDULE_DELAY"] = "100";
  collector = await startOtlpCollector();
  tracing = await startTracing({ serviceName: "principal", component: "principal", address: collector.address, insecure: true });
  const method = new UserpassAuthentication(new Map([["agent-1", await bcryptHash("s3cret", 4)]]));
  server = await startPrincipalServer({
    host: "127.0.0.1", port: 0, credentials: ServerCredentials.createInsecure(),
    auth: createPrincipalAuth({ method, issuer: new JwtIssuer({ key: await generateSigningKey() }), namespace: "argocd", subjectMatch: false }),
    namespace: "argocd", protocolVersion: "0.9.0", maxMessageSize: 4 << 20, keepaliveMinIntervalMs: 0,
  });
});
after(async () => {
  await server?.close(1000);
  await tracing?.shutdown();
  await collector?.close();
});

const one = (spans: CollectedSpan[], name: string, kind?: number): CollectedSpan => {
  const found = spans.filter((s) => s.name === name && (kind === undefined || s.kind === kind));
  assert.equal(found.length, 1, `want one ${name} (kind ${kind}); spans: ${spans.map((s) => `${s.name}/${s.kind}`).join(", ")}`);
  return found[0];
};

test("gRPC calls and an event make linked spans that reach the OTLP collector", async () => {
  let acked = false;
  const conn = new AgentConnection({
    address: "127.0.0.1", port: server.port, credentials: credentials.createInsecure(),
    creds: { method: "userpass", credentials: { clientid: "agent-1", clientsecret: "s3cret" } },
    mode: "managed", namespace: "argocd", protocolVersion: "0.9.0", maxMessageSize: 4 << 20,
    keepAlivePingIntervalMs: 0, compression: false, heartbeatIntervalMs: 0, handler: async () => {},
    onEvent: (ev) => void (ev.type === EventTypes.processed && (acked = true)),
  });
  const controller = new AbortController();
  const done = conn.run(controller.signal);
  const app = { metadata: { name: "guestbook", namespace: "argocd", uid: "uid-9", resourceVersion: "3" }, spec: {} };
  try {
    while (conn.status().state !== "connected") await new Promise((r) => setTimeout(r, 20));
    traceInformerChange("Application", "update", app, () => {
      conn.writer.add(objectEvent(EventTypes.statusUpdate, EventTargets.application, app, AGENT_EVENT_SOURCE));
    });
    while (!acked) await new Promise((r) => setTimeout(r, 20));
  } finally {
    controller.abort();
    await done;
  }
  await collector.waitFor((spans) => spans.filter((s) => s.name === "eventstreamapi.EventStream/Subscribe").length === 2);
  const spans = collector.spans;
  assert.ok(spans.every((s) => s.service === "principal" && s.scope === "github.com/argoproj-labs/argocd-agent"));

  const authClient = one(spans, "authapi.Authentication/Authenticate", 3);
  const authServer = one(spans, "authapi.Authentication/Authenticate", 2);
  assert.equal(authServer.traceId, authClient.traceId, "the server span continues the client's trace");
  assert.equal(authServer.parentSpanId, authClient.spanId);
  assert.equal(authClient.parentSpanId, "");
  assert.deepEqual(
    { system: authClient.attributes["rpc.system"], service: authClient.attributes["rpc.service"], method: authClient.attributes["rpc.method"], code: authClient.attributes["rpc.grpc.status_code"] },
    { system: "grpc", service: "authapi.Authentication", method: "Authenticate", code: 0 },
  );
  const subClient = one(spans, "eventstreamapi.EventStream/Subscribe", 3);
  const subServer = one(spans, "eventstreamapi.EventStream/Subscribe", 2);
  assert.equal(subServer.parentSpanId, subClient.spanId);
  one(spans, "versionapi.Version/Version", 2);

  const informer = one(spans, "Application.update");
  assert.equal(informer.attributes["argocd.component.type"], "principal");
  assert.equal(informer.attributes["argocd.agent.name"], "argocd");
  const processing = one(spans, "application.io.argoproj.argocd-agent.event.status-update");
  assert.equal(processing.traceId, informer.traceId, "the event carried the trace from the informer span");
  assert.equal(processing.parentSpanId, informer.spanId);
  assert.equal(processing.statusCode, 1, "processed fine: status Ok");
  assert.equal(processing.attributes["argocd.event.type"], EventTypes.statusUpdate);
  assert.equal(processing.attributes["argocd.event.target"], "application");
});

test("a bad --otlp-address stops the start with exit code 2 and names the flag", () => {
  const res = runSync([...principalDevArgs(0), "--otlp-address", "http://collector:4317"]);
  assert.equal(res.code, 2, res.stdout + res.stderr);
  assert.match(res.stderr, /--otlp-address must be host:port of an OTLP\/gRPC collector \(e\.g\. otel-collector:4317\), got "http:\/\/collector:4317"/);
});
