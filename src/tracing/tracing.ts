/**
 * OpenTelemetry tracing as upstream argocd-agent does it (operations.md §6.1): with
 * --otlp-address set, spans for gRPC calls, informer changes, received events and
 * Kubernetes writes go to an OTLP/gRPC collector, and the W3C trace context travels
 * in the CloudEvent extensions `traceparent` / `tracestate`, so one trace follows an
 * Application change from the principal to an agent (Go or TypeScript) and back.
 * This file is all the rest of the program imports: hook functions that call
 * straight through while tracing is off. The OpenTelemetry SDK and exporter live in
 * ./otel-tracing.ts, loaded (dynamic import) by startTracing only, so a process
 * without --otlp-address never loads or runs any of it (bench/tracing.ts measures both).
 *
 * @example
 *   const tracing = cfg.otlpAddress
 *     ? await startTracing({ serviceName: "principal", component: "principal", address: cfg.otlpAddress, insecure: cfg.otlpInsecure })
 *     : undefined;
 *   const outcome = await traceEventProcessing(ev, () => handler(ev, payload));
 *   await tracing?.shutdown(); // flushes what is still buffered
 */
import type { Interceptor, ServerInterceptor } from "@grpc/grpc-js";
import type { SpanExporter } from "@opentelemetry/sdk-trace";
import type { CloudEventAttributeValue } from "../proto/gen/cloudevent.ts";
import type { AgentEvent } from "../events/cloudevent.ts";
import type { KubeObject } from "../kube/resources.ts";

export type InformerOperation = "create" | "update" | "delete";

/** How a handler ended, as far as a span's status cares (the shape of HandlerOutcome). */
export interface TracedOutcome {
  failed?: boolean;
  rejected?: boolean;
  retryableFailure?: boolean;
}

/** What the OpenTelemetry side implements; nothing here exists while tracing is off. */
export interface TracingHooks {
  /** Adds traceparent/tracestate of the active span to an event being built. */
  inject(extensions: Record<string, CloudEventAttributeValue>): void;
  /** Span `<target>.<type>` around the processing of one received event, parent = its trace context. */
  eventProcessing<T extends TracedOutcome | void>(ev: AgentEvent, run: () => Promise<T>): Promise<T>;
  /** Span `<Kind>.<op>` around an informer's handlers (Applications and AppProjects). */
  informerChange(kind: string, op: InformerOperation, obj: KubeObject, run: () => void): void;
  /** Client span around one write to the Kubernetes API. */
  kubeWrite<T>(verb: string, kind: string, namespace: string, name: string, run: () => Promise<T>): Promise<T>;
  /** A named root span around `run` (handleResyncOnConnect, sendCurrentStateToAgent). */
  operation<T>(name: string, attributes: Record<string, string>, run: () => T): T;
  readonly grpcClientInterceptors: Interceptor[];
  readonly grpcServerInterceptors: ServerInterceptor[];
}

export interface TracingOptions {
  /** Resource `service.name`: `principal`, `agent-managed` or `agent-autonomous` (as upstream). */
  serviceName: string;
  component: "principal" | "agent";
  /** The agent's mode and name (its namespace), for span attributes; agents only. */
  agentMode?: string;
  agentName?: string;
  /** OTLP/gRPC collector, host:port. */
  address: string;
  /** Plaintext to the collector instead of TLS. */
  insecure: boolean;
  /** Exports here instead of to the collector, span by span (tests). */
  exporter?: SpanExporter;
}

export interface RunningTracing {
  /** Exports what is buffered, then stops tracing (hooks pass through again). */
  shutdown(): Promise<void>;
  forceFlush(): Promise<void>;
}

let hooks: TracingHooks | undefined;

/** Installs (or, with undefined, removes) the hooks; the OpenTelemetry side calls this. */
export function setTracingHooks(h: TracingHooks | undefined): void {
  hooks = h;
}

export function tracingEnabled(): boolean {
  return hooks !== undefined;
}

/** host:port with a port in 1..65535; IPv6 hosts in brackets. */
const HOST_PORT = /^(\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):(\d{1,5})$/;

/** Why `address` is not a usable --otlp-address, or undefined when it is. */
export function otlpAddressError(address: string): string | undefined {
  const m = HOST_PORT.exec(address);
  const port = m ? Number(m[2]) : 0;
  if (!m || port < 1 || port > 65535) {
    return `--otlp-address must be host:port of an OTLP/gRPC collector (e.g. otel-collector:4317), got ${JSON.stringify(address)}`;
  }
  return undefined;
}

/**
 * Loads the OpenTelemetry SDK and starts exporting. Throws RangeError for a bad
 * address (callers turn it into a start-up error naming the flag).
 */
export async function startTracing(opts: TracingOptions): Promise<RunningTracing> {
  const bad = otlpAddressError(opts.address);
  if (bad) throw new RangeError(bad);
  const { createOtelTracing } = await import("./otel-tracing.ts");
  return createOtelTracing(opts);
}

// ------------------------------------------------ hooks called by the rest of the program

/** Stamps the active trace context on an event's extensions (no-op while tracing is off). */
export function injectTraceContext(extensions: Record<string, CloudEventAttributeValue>): void {
  hooks?.inject(extensions);
}

export function traceEventProcessing<T extends TracedOutcome | void>(ev: AgentEvent, run: () => Promise<T>): Promise<T> {
  return hooks ? hooks.eventProcessing(ev, run) : run();
}

export function traceInformerChange(kind: string, op: InformerOperation, obj: KubeObject, run: () => void): void {
  if (hooks) hooks.informerChange(kind, op, obj, run);
  else run();
}

export function traceKubeWrite<T>(verb: string, kind: string, namespace: string, name: string, run: () => Promise<T>): Promise<T> {
  return hooks ? hooks.kubeWrite(verb, kind, namespace, name, run) : run();
}

export function traceOperation<T>(name: string, attributes: Record<string, string>, run: () => T): T {
  return hooks ? hooks.operation(name, attributes, run) : run();
}

/** Client interceptors for a new gRPC client (empty while tracing is off). */
export function grpcClientInterceptors(): Interceptor[] {
  return hooks ? [...hooks.grpcClientInterceptors] : [];
}

/** Server interceptors for a new gRPC server (empty while tracing is off). */
export function grpcServerInterceptors(): ServerInterceptor[] {
  return hooks ? [...hooks.grpcServerInterceptors] : [];
}
