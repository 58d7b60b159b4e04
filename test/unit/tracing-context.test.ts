// Trace context in CloudEvent extensions (operations.md §6.1, wire-protocol.md §5.2):
// `traceparent`/`tracestate` as ce_string extensions, set from the active span when an
// event is built, read back into the parent of the span that processes it; and the
// spans themselves (names, attributes, parent links, status) with an in-memory exporter.
import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace";
import { SpanKind, SpanStatusCode } from "@opentelemetry/api";
import { CloudEvent, type CloudEventAttributeValue } from "../../src/proto/gen/cloudevent.ts";
import { decodeCloudEvent, encodeCloudEvent, fromWire, objectEvent, type AgentEvent } from "../../src/events/cloudevent.ts";
import { ackFor } from "../../src/events/ack.ts";
import { EventSources, EventTargets, EventTypes } from "../../src/events/event-types.ts";
import { setTraceExtensions, traceCarrier } from "../../src/tracing/trace-context.ts";
import {
  otlpAddressError,
  startTracing,
  traceEventProcessing,
  traceInformerChange,
  traceKubeWrite,
  tracingEnabled,
  type RunningTracing,
} from "../../src/tracing/tracing.ts";

const TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
const s = (value: string): CloudEventAttributeValue => ({ attr: { $case: "ceString", value } });
const app = { metadata: { name: "guestbook", namespace: "agent-1", uid: "uid-1", resourceVersion: "7" }, spec: { project: "default" } };

function decoded(ev: AgentEvent): AgentEvent {
  const r = decodeCloudEvent(encodeCloudEvent(ev));
  assert.ok(r.ok, JSON.stringify(!r.ok && r.error));
  return r.value.event;
}

describe("extension encoding", () => {
  test("traceparent and tracestate go out as ce_string extensions and come back unchanged", () => {
    const ext: Record<string, CloudEventAttributeValue> = {};
    setTraceExtensions(ext, { traceparent: TRACEPARENT, tracestate: "vendor=abc", baggage: "k=v" });
    assert.deepEqual(ext, { traceparent: s(TRACEPARENT), tracestate: s("vendor=abc") }, "only the two upstream keys, baggage is not carried");
    const ev = objectEvent(EventTypes.create, EventTargets.application, app, EventSources.principal, { traceparent: TRACEPARENT, tracestate: "vendor=abc" });
    const wire = CloudEvent.decode(encodeCloudEvent(ev));
    assert.deepEqual(wire.attributes["traceparent"], s(TRACEPARENT));
    assert.deepEqual(wire.attributes["tracestate"], s("vendor=abc"));
    assert.deepEqual(traceCarrier(decoded(ev)), { traceparent: TRACEPARENT, tracestate: "vendor=abc" });
  });

  test("empty values are not set, and non-string or absent extensions read as no trace context", () => {
    const ext: Record<string, CloudEventAttributeValue> = {};
    setTraceExtensions(ext, { traceparent: "", tracestate: "" });
    assert.deepEqual(ext, {});
    const go = fromWire({
      id: "", source: "", specVersion: "1.0", type: EventTypes.create,
      attributes: { dataschema: { attr: { $case: "ceUri", value: "application" } }, resourceid: s("a_1"), eventid: s("a_1_1"), traceparent: { attr: { $case: "ceInteger", value: 5 } } },
      data: { $case: "binaryData", value: Buffer.from("{}") },
    });
    assert.ok(go.ok);
    assert.deepEqual(traceCarrier(go.value.event), {});
    assert.deepEqual(traceCarrier(objectEvent(EventTypes.create, EventTargets.application, app, EventSources.principal)), {});
  });

  test("an ack copies the trace context of the event it acknowledges", () => {
    const ev = objectEvent(EventTypes.create, EventTargets.application, app, EventSources.principal, { traceparent: TRACEPARENT });
    assert.deepEqual(traceCarrier(ackFor(decoded(ev), EventSources.agent)), { traceparent: TRACEPARENT });
  });

  test("--otlp-address must be host:port", () => {
    for (const ok of ["localhost:4317", "otel-collector.observability.svc:4317", "10.0.0.1:4317", "[::1]:4317"]) assert.equal(otlpAddressError(ok), undefined, ok);
    for (const bad of ["localhost", "http://localhost:4317", "localhost:0", "localhost:70000", ":4317", "a b:1"]) {
      assert.match(otlpAddressError(bad) ?? "", /--otlp-address must be host:port/, bad);
    }
  });
});

describe("spans with tracing on", () => {
  const exporter = new InMemorySpanExporter();
  let tracing: RunningTracing;
  before(async () => {
    tracing = await startTracing({ serviceName: "agent-managed", component: "agent", agentMode: "managed", agentName: "agent-1", address: "127.0.0.1:4317", insecure: true, exporter });
  });
  after(async () => tracing.shutdown());
  beforeEach(() => exporter.reset());
  const byName = (name: string): ReadableSpan => {
    const span = exporter.getFinishedSpans().find((x) => x.name === name);
    assert.ok(span, `no span ${name}; have ${exporter.getFinishedSpans().map((x) => x.name).join(", ")}`);
    return span;
  };

  test("an event built in an informer span carries its trace context, and its processing is a child span", async () => {
    let sent: AgentEvent | undefined;
    traceInformerChange("Application", "create", app, () => {
      sent = objectEvent(EventTypes.create, EventTargets.application, app, EventSources.agent);
    });
    const informer = byName("Application.create");
    const ctx = informer.spanContext();
    assert.equal(extensionOf(sent!, "traceparent"), `00-${ctx.traceId}-${ctx.spanId}-01`);
    assert.equal(informer.parentSpanContext, undefined, "informer spans start a trace, as upstream's");
    assert.deepEqual(informer.attributes, {
      "argocd.component.type": "agent", "argocd.operation.type": "create", "argocd.agent.name": "agent-1",
      "k8s.resource.name": "guestbook", "k8s.resource.kind": "Application", "argocd.agent.mode": "managed", "k8s.resource.uid": "uid-1",
    });
    assert.equal(informer.instrumentationScope.name, "github.com/argoproj-labs/argocd-agent");
    assert.equal(informer.resource.attributes["service.name"], "agent-managed");

    const received = decoded(sent!);
    const outcome = await traceEventProcessing(received, async () => {
      await traceKubeWrite("create", "Application", "argocd", "guestbook", async () => ({ metadata: { uid: "uid-2" } }));
      return {};
    });
    assert.deepEqual(outcome, {});
    const processing = byName("application.io.argoproj.argocd-agent.event.create");
    assert.equal(processing.spanContext().traceId, ctx.traceId);
    assert.equal(processing.parentSpanContext?.spanId, ctx.spanId);
    assert.deepEqual(processing.status, { code: SpanStatusCode.OK });
    assert.equal(processing.attributes["argocd.event.id"], "guestbook_uid-1_7");
    assert.equal(processing.attributes["k8s.resource.uid"], "guestbook_uid-1");
    assert.equal(processing.attributes["argocd.agent.mode"], "managed");
    const write = byName("k8s.create Application");
    assert.equal(write.kind, SpanKind.CLIENT);
    assert.equal(write.parentSpanContext?.spanId, processing.spanContext().spanId);
    assert.equal(write.attributes["k8s.resource.uid"], "uid-2");
  });

  test("a failed handler or Kubernetes write marks its span as an error", async () => {
    const ev = decoded(objectEvent(EventTypes.specUpdate, EventTargets.application, app, EventSources.principal, { traceparent: TRACEPARENT }));
    await assert.rejects(traceEventProcessing(ev, () => traceKubeWrite("update", "Application", "argocd", "guestbook", async () => {
      throw Object.assign(new Error("conflict"), { statusCode: 409 });
    })), /conflict/);
    const write = byName("k8s.update Application");
    assert.equal(write.status.code, SpanStatusCode.ERROR);
    assert.equal(write.attributes["http.response.status_code"], 409);
    const processing = byName("application.io.argoproj.argocd-agent.event.spec-update");
    assert.equal(processing.status.code, SpanStatusCode.ERROR);
    assert.equal(processing.spanContext().traceId, "4bf92f3577b34da6a3ce929d0e0e4736", "continues the sender's trace");
    assert.equal(processing.parentSpanContext?.spanId, "00f067aa0ba902b7");
    await traceEventProcessing(ev, async () => ({ retryableFailure: true }));
    assert.equal(exporter.getFinishedSpans().at(-1)!.status.code, SpanStatusCode.ERROR);
  });

  test("events built outside any span carry no trace context", () => {
    assert.deepEqual(traceCarrier(objectEvent(EventTypes.create, EventTargets.application, app, EventSources.agent)), {});
  });
});

test("with tracing off (or shut down) the hooks only call through", async () => {
  assert.equal(tracingEnabled(), false);
  let ran = 0;
  traceInformerChange("Application", "create", app, () => void ran++);
  const out = await traceEventProcessing(decoded(objectEvent(EventTypes.create, EventTargets.application, app, EventSources.agent)), async () => (ran++, { failed: true }));
  assert.deepEqual(out, { failed: true });
  assert.equal(ran, 2);
  assert.deepEqual(traceCarrier(objectEvent(EventTypes.create, EventTargets.application, app, EventSources.agent)), {});
});

function extensionOf(ev: AgentEvent, name: string): string | undefined {
  const attr = ev.extensions[name]?.attr;
  return attr?.$case === "ceString" ? attr.value : undefined;
}
