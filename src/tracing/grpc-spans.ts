/**
 * gRPC spans the way upstream's otelgrpc stats handlers make them, as grpc-js
 * interceptors: one CLIENT span per call on the agent (Authenticate, Version,
 * Subscribe, …), one SERVER span per call on the principal, named by the full
 * method (`authapi.Authentication/Authenticate`), with the rpc.* attributes and
 * the status code. The client injects the trace context into the call's
 * metadata (`traceparent`), the server continues it, so an agent's Authenticate
 * and the principal's handling of it share one trace, with Go peers too.
 * A Subscribe span lasts as long as its stream. Loaded only with tracing on.
 *
 * @example
 *   new Server({ interceptors: [serverSpans(tracer)] });
 *   new AuthenticationClient(target, creds, { interceptors: [clientSpans(tracer)] });
 */
import {
  InterceptingCall,
  ServerInterceptingCall,
  status as grpcStatus,
  type Interceptor,
  type Metadata,
  type ServerInterceptor,
  type StatusObject,
} from "@grpc/grpc-js";
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Span, type TextMapGetter, type TextMapSetter, type Tracer } from "@opentelemetry/api";

const metadataSetter: TextMapSetter<Metadata> = {
  set: (md, key, value) => md.set(key, value),
};

const metadataGetter: TextMapGetter<Metadata> = {
  keys: (md) => Object.keys(md.getMap()),
  get: (md, key) => {
    const values = md.get(key);
    return values.length ? String(values[0]) : undefined;
  },
};

/** `/pkg.Service/Method` → span name and rpc.* attributes. */
function describe(path: string): { name: string; attributes: Attributes } {
  const name = path.startsWith("/") ? path.slice(1) : path;
  const slash = name.lastIndexOf("/");
  return {
    name,
    attributes: { "rpc.system": "grpc", "rpc.service": name.slice(0, slash), "rpc.method": name.slice(slash + 1) },
  };
}

/** Codes otelgrpc marks as a server-side error; the others are the caller's business. */
const SERVER_ERRORS: ReadonlySet<number> = new Set([
  grpcStatus.UNKNOWN,
  grpcStatus.DEADLINE_EXCEEDED,
  grpcStatus.UNIMPLEMENTED,
  grpcStatus.INTERNAL,
  grpcStatus.UNAVAILABLE,
  grpcStatus.DATA_LOSS,
]);

function finish(span: Span, code: number, details: string, isError: boolean): void {
  span.setAttribute("rpc.grpc.status_code", code);
  if (isError) span.setStatus({ code: SpanStatusCode.ERROR, message: details || grpcStatus[code] });
  span.end();
}

/** CLIENT spans; the parent is the caller's active span, if any. */
export function clientSpans(tracer: Tracer): Interceptor {
  return (options, nextCall) => {
    const { name, attributes } = describe(options.method_definition.path);
    const parent = context.active();
    const span = tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
    let ended = false;
    return new InterceptingCall(nextCall(options), {
      start(metadata, _listener, next) {
        propagation.inject(trace.setSpan(parent, span), metadata, metadataSetter);
        next(metadata, {
          onReceiveStatus(status: StatusObject, nextStatus: (s: StatusObject) => void) {
            if (!ended) {
              ended = true;
              finish(span, status.code, status.details, status.code !== grpcStatus.OK);
            }
            nextStatus(status);
          },
        });
      },
    });
  };
}

/** SERVER spans, continuing the trace context the client put into the metadata. */
export function serverSpans(tracer: Tracer): ServerInterceptor {
  return (method, call) => {
    let span: Span | undefined;
    const end = (code: number, details: string) => {
      if (!span) return;
      finish(span, code, details, SERVER_ERRORS.has(code));
      span = undefined;
    };
    return new ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            const { name, attributes } = describe(method.path);
            const conn = call.getConnectionInfo();
            if (conn.remoteAddress) attributes["network.peer.address"] = conn.remoteAddress;
            if (conn.remotePort) attributes["network.peer.port"] = conn.remotePort;
            const parent = propagation.extract(ROOT_CONTEXT, metadata, metadataGetter);
            span = tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
            nextMetadata(metadata);
          },
          onCancel() {
            end(grpcStatus.CANCELLED, "call cancelled");
          },
        });
      },
      sendStatus(status, next) {
        end(status.code, status.details);
        next(status);
      },
    });
  };
}
