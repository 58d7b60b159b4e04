/**
 * A local OTLP/gRPC trace collector for tests and benchmarks: a grpc-js server
 * serving `opentelemetry.proto.collector.trace.v1.TraceService/Export` on
 * loopback (plaintext), decoding ExportTraceServiceRequest with a small
 * hand-written protobuf reader (the OTel JS packages ship serializers only) and
 * keeping every span it receives, with its service name.
 *
 * @example
 *   const collector = await startOtlpCollector();
 *   // run processes with --otlp-address 127.0.0.1:${collector.port} --otlp-insecure
 *   await collector.waitFor((spans) => spans.some((s) => s.name === "Application.create"));
 *   await collector.close();
 */
import { Server, ServerCredentials, type ServerUnaryCall, type sendUnaryData, type ServiceDefinition } from "@grpc/grpc-js";
import { BinaryReader, WireType } from "@bufbuild/protobuf/wire";

export type AttributeValue = string | number | boolean | bigint | undefined;

export interface CollectedSpan {
  service: string;
  scope: string;
  traceId: string;
  spanId: string;
  /** "" for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  statusMessage: string;
}

export interface OtlpCollector {
  port: number;
  address: string;
  spans: CollectedSpan[];
  /** Export requests received. */
  requests: number;
  waitFor(cond: (spans: CollectedSpan[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Calls `field(fieldNo, wireType)` for each field of the message in `bytes`; it must consume or return false to skip. */
function fields(bytes: Uint8Array, field: (r: BinaryReader, no: number, wt: WireType) => boolean): void {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [no, wt] = r.tag();
    if (!field(r, no, wt)) r.skip(wt, no);
  }
}

function anyValue(bytes: Uint8Array): AttributeValue {
  let v: AttributeValue;
  fields(bytes, (r, no) => {
    if (no === 1) v = r.string();
    else if (no === 2) v = r.bool();
    else if (no === 3) v = Number(r.int64());
    else if (no === 4) v = r.double();
    else return false;
    return true;
  });
  return v;
}

function keyValues(into: Record<string, AttributeValue>, bytes: Uint8Array): void {
  let key = "";
  let value: AttributeValue;
  fields(bytes, (r, no) => {
    if (no === 1) key = r.string();
    else if (no === 2) value = anyValue(r.bytes());
    else return false;
    return true;
  });
  into[key] = value;
}

function span(bytes: Uint8Array, service: string, scope: string): CollectedSpan {
  const s: CollectedSpan = { service, scope, traceId: "", spanId: "", parentSpanId: "", name: "", kind: 0, attributes: {}, statusCode: 0, statusMessage: "" };
  fields(bytes, (r, no) => {
    if (no === 1) s.traceId = hex(r.bytes());
    else if (no === 2) s.spanId = hex(r.bytes());
    else if (no === 4) s.parentSpanId = hex(r.bytes());
    else if (no === 5) s.name = r.string();
    else if (no === 6) s.kind = r.int32();
    else if (no === 9) keyValues(s.attributes, r.bytes());
    else if (no === 15) {
      fields(r.bytes(), (st, sno) => {
        if (sno === 2) s.statusMessage = st.string();
        else if (sno === 3) s.statusCode = st.int32();
        else return false;
        return true;
      });
    } else return false;
    return true;
  });
  return s;
}

/** ExportTraceServiceRequest → spans. */
export function decodeExportRequest(bytes: Uint8Array): CollectedSpan[] {
  const out: CollectedSpan[] = [];
  fields(bytes, (r, no) => {
    if (no !== 1) return false;
    const resourceSpans = r.bytes();
    const resource: Record<string, AttributeValue> = {};
    const scopeSpans: Uint8Array[] = [];
    fields(resourceSpans, (rr, rno) => {
      if (rno === 1) fields(rr.bytes(), (ar, ano) => (ano === 1 ? (keyValues(resource, ar.bytes()), true) : false));
      else if (rno === 2) scopeSpans.push(rr.bytes());
      else return false;
      return true;
    });
    const service = String(resource["service.name"] ?? "");
    for (const ss of scopeSpans) {
      let scope = "";
      const raw: Uint8Array[] = [];
      fields(ss, (sr, sno) => {
        if (sno === 1) fields(sr.bytes(), (ir, ino) => (ino === 1 ? ((scope = ir.string()), true) : false));
        else if (sno === 2) raw.push(sr.bytes());
        else return false;
        return true;
      });
      for (const b of raw) out.push(span(b, service, scope));
    }
    return true;
  });
  return out;
}

const identity = (b: Buffer) => b;
const TRACE_SERVICE: ServiceDefinition = {
  export: {
    path: "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
    requestStream: false,
    responseStream: false,
    requestSerialize: identity,
    requestDeserialize: identity,
    responseSerialize: identity,
    responseDeserialize: identity,
  },
};

export async function startOtlpCollector(): Promise<OtlpCollector> {
  const spans: CollectedSpan[] = [];
  const waiters = new Set<() => void>();
  let requests = 0;
  const server = new Server();
  server.addService(TRACE_SERVICE, {
    export: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
      requests++;
      spans.push(...decodeExportRequest(call.request));
      cb(null, Buffer.alloc(0)); // ExportTraceServiceResponse{}: everything accepted
      for (const w of waiters) w();
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    port,
    address: `127.0.0.1:${port}`,
    spans,
    get requests() {
      return requests;
    },
    waitFor(cond, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!cond(spans)) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`OTLP collector: condition not met after ${timeoutMs} ms; spans: ${spans.map((s) => `${s.service}:${s.name}`).join(", ")}`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}
