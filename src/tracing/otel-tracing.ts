/**
 * The OpenTelemetry side of tracing, loaded only when --otlp-address is set: the
 * SDK set up as upstream's InitTracer (OTLP/gRPC exporter, batch processor,
 * always sample, resource `service.name`, global W3C TraceContext + Baggage
 * propagator) plus an AsyncLocalStorage context manager, so a span started around
 * an informer callback or an event handler is the parent of whatever that code
 * does next (events it builds carry its traceparent; its Kubernetes writes are
 * its children) without passing contexts around. Installs the hooks of
 * ./tracing.ts and removes them again on shutdown.
 *
 * @example
 *   const running = await createOtelTracing({ serviceName: "agent-managed", component: "agent", address: "collector:4317", insecure: true });
 *   await running.shutdown();
 */
import { credentials } from "@grpc/grpc-js";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type TextMapGetter, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { CompositePropagator, getNumberFromEnv, setGlobalErrorHandler, W3CBaggagePropagator, W3CTraceContextPropagator } from "@opentelemetry/core";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { AlwaysOnSampler, BatchSpanProcessor, SimpleSpanProcessor, TracerProvider, type BatchSpanProcessorOptions, type SpanExporter } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME } from "@opentelemetry/semantic-conventions";
import { Annotations } from "../events/event-types.ts";
import { apiStatusCode } from "../kube/crud.ts";
import { getLogger } from "../observability/log.ts";
import { clientSpans, serverSpans } from "./grpc-spans.ts";
import { Attr, eventSpanName, informerSpanName, kubeWriteSpanName, TRACED_KINDS, TRACER_NAME } from "./span-names.ts";
import { setTraceExtensions, traceCarrier, type TraceCarrier } from "./trace-context.ts";
import { setTracingHooks, type RunningTracing, type TracedOutcome, type TracingHooks, type TracingOptions } from "./tracing.ts";

const log = getLogger("observability");

const carrierGetter: TextMapGetter<TraceCarrier> = {
  keys: (c) => Object.keys(c),
  get: (c, key) => c[key],
};

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function recordError(span: Span, err: unknown): void {
  span.recordException(err instanceof Error ? err : new Error(String(err)));
  span.setStatus({ code: SpanStatusCode.ERROR, message: errorText(err) });
}

/** Ends `span` when `out` settles (promise) or at once; errors mark it failed. */
function endWith<T>(span: Span, out: T): T {
  if (out instanceof Promise) {
    return out.then(
      (v) => (span.end(), v),
      (err) => {
        recordError(span, err);
        span.end();
        throw err;
      },
    ) as T;
  }
  span.end();
  return out;
}

function buildHooks(tracer: Tracer, opts: TracingOptions): TracingHooks {
  const common: Attributes = { [Attr.componentType]: opts.component };
  const agentAttrs: Attributes = opts.component === "agent" ? { ...common, [Attr.agentMode]: opts.agentMode ?? "" } : common;
  return {
    inject(extensions) {
      const active = context.active();
      if (!trace.getSpanContext(active)) return;
      const carrier: TraceCarrier = {};
      propagation.inject(active, carrier);
      setTraceExtensions(extensions, carrier);
    },

    async eventProcessing(ev, run) {
      // Upstream starts from the background context: no trace context, new trace.
      const parent = propagation.extract(ROOT_CONTEXT, traceCarrier(ev), carrierGetter);
      const span = tracer.startSpan(eventSpanName(ev.target, ev.type), {
        attributes: {
          [Attr.eventType]: ev.type,
          [Attr.eventTarget]: ev.target,
          [Attr.eventId]: ev.eventId,
          [Attr.resourceUid]: ev.resourceId,
          ...agentAttrs,
        },
      }, parent);
      try {
        const outcome = await context.with(trace.setSpan(parent, span), run);
        const o = (outcome ?? {}) as TracedOutcome;
        if (o.failed || o.rejected || o.retryableFailure) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: o.retryableFailure ? "retryable failure: not acknowledged" : o.rejected ? "event rejected" : "event processing failed" });
        } else span.setStatus({ code: SpanStatusCode.OK });
        return outcome;
      } catch (err) {
        recordError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    informerChange(kind, op, obj, run) {
      if (!TRACED_KINDS.has(kind)) return run();
      const m = obj.metadata;
      const autonomous = opts.component === "principal" ? m.annotations?.[Annotations.sourceUid] !== undefined : opts.agentMode === "autonomous";
      const span = tracer.startSpan(informerSpanName(kind, op), {
        attributes: {
          ...common,
          [Attr.operationType]: op,
          // Upstream: the principal names the agent by the object's namespace, an agent by its own.
          [Attr.agentName]: opts.component === "principal" ? (m.namespace ?? "") : (opts.agentName ?? ""),
          [Attr.resourceName]: m.name ?? "",
          [Attr.resourceKind]: kind,
          [Attr.agentMode]: autonomous ? "autonomous" : "managed",
          [Attr.resourceUid]: m.uid ?? "",
        },
      }, ROOT_CONTEXT);
      try {
        context.with(trace.setSpan(ROOT_CONTEXT, span), run);
      } catch (err) {
        recordError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    async kubeWrite(verb, kind, namespace, name, run) {
      const span = tracer.startSpan(kubeWriteSpanName(verb, kind), {
        kind: SpanKind.CLIENT,
        attributes: { ...common, [Attr.operationType]: verb, [Attr.resourceKind]: kind, [Attr.namespace]: namespace, [Attr.resourceName]: name },
      });
      try {
        const out = await context.with(trace.setSpan(context.active(), span), run);
        const uid = (out as { metadata?: { uid?: string } } | undefined)?.metadata?.uid;
        if (uid) span.setAttribute(Attr.resourceUid, uid);
        return out;
      } catch (err) {
        const code = apiStatusCode(err);
        if (code !== undefined) span.setAttribute(Attr.httpStatusCode, code);
        recordError(span, err);
        throw err;
      } finally {
        span.end();
      }
    },

    operation(name, attributes, run) {
      const span = tracer.startSpan(name, { attributes: { ...common, ...attributes } }, ROOT_CONTEXT);
      let out;
      try {
        out = context.with(trace.setSpan(ROOT_CONTEXT, span), run);
      } catch (err) {
        recordError(span, err);
        span.end();
        throw err;
      }
      return endWith(span, out);
    },

    grpcClientInterceptors: [clientSpans(tracer)],
    grpcServerInterceptors: [serverSpans(tracer)],
  };
}

/** OTLP over gRPC to host:port, TLS unless --otlp-insecure (upstream's otlptracegrpc options). */
async function otlpExporter(opts: TracingOptions): Promise<SpanExporter> {
  const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-grpc");
  return new OTLPTraceExporter({
    url: `${opts.insecure ? "http" : "https"}://${opts.address}`,
    credentials: opts.insecure ? credentials.createInsecure() : credentials.createSsl(),
  });
}

/** The standard OTEL_BSP_* variables, which the Go SDK honours and this SDK version no longer reads. */
function batchOptionsFromEnv(): Omit<BatchSpanProcessorOptions, "exporter"> {
  const out: Omit<BatchSpanProcessorOptions, "exporter"> = {};
  const set = (key: "scheduledDelayMillis" | "exportTimeoutMillis" | "maxQueueSize" | "maxExportBatchSize", env: string) => {
    const v = getNumberFromEnv(env);
    if (v !== undefined && v > 0) out[key] = v;
  };
  set("scheduledDelayMillis", "OTEL_BSP_SCHEDULE_DELAY");
  set("exportTimeoutMillis", "OTEL_BSP_EXPORT_TIMEOUT");
  set("maxQueueSize", "OTEL_BSP_MAX_QUEUE_SIZE");
  set("maxExportBatchSize", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE");
  return out;
}

export async function createOtelTracing(opts: TracingOptions): Promise<RunningTracing> {
  const exporter = opts.exporter ?? (await otlpExporter(opts));
  const provider = new TracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: opts.serviceName }),
    sampler: new AlwaysOnSampler(),
    // Tests export span by span; the collector gets batches, as upstream's WithBatcher.
    spanProcessors: [opts.exporter ? new SimpleSpanProcessor({ exporter }) : new BatchSpanProcessor({ exporter, ...batchOptionsFromEnv() })],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  trace.setGlobalTracerProvider(provider);
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }));
  // Export failures (collector down) reach the SDK's global error handler; by default they vanish.
  setGlobalErrorHandler((err) => log.warn("OpenTelemetry: could not export spans", { address: opts.address, error: errorText(err) }));
  setTracingHooks(buildHooks(provider.getTracer(TRACER_NAME), opts));
  log.info(`OpenTelemetry tracing initialized (address=${opts.address})`, { service: opts.serviceName, insecure: opts.insecure });
  let stopped = false;
  return {
    forceFlush: () => provider.forceFlush(),
    async shutdown() {
      if (stopped) return;
      stopped = true;
      setTracingHooks(undefined);
      try {
        await provider.shutdown();
      } catch (err) {
        log.warn("OpenTelemetry: flushing spans at shutdown failed", { error: errorText(err) });
      }
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}
