/**
 * Pod logs on the agent (live-resources.md §4.4): a `containerlog` event opens
 * a StreamLogs call to the principal and copies `pods/{pod}/log` from this
 * cluster's API server into it, in chunks of at most 64 KiB.
 *
 * - Every request runs in the background (upstream runs static ones inline,
 *   holding its receive loop); a request already running is not started twice.
 * - Static logs: one attempt; the caller's options go to the API server as given.
 * - Follow: the stream is read with timestamps, so that when it breaks (the
 *   connection to the principal, or the API server) a new attempt resumes at
 *   the last line read, without repeating lines (LogLineFilter); timestamps
 *   are stripped again unless asked for, and limitBytes is applied here.
 *   Bytes in flight when the connection broke: the last REPLAY_BYTES of
 *   output are kept and sent again first, with their offsets (our `offset`
 *   field), and the principal drops what it already wrote.
 *   Retries back off from 200 ms to 5 s and stop after 30 s without progress
 *   (upstream's numbers). NotFound or Cancelled from the principal (the
 *   caller is gone) stop at once.
 * - Flow control: the API server's body is read only as fast as the gRPC
 *   call drains, so a slow caller slows the kubelet, not our memory.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { HttpMethod, RequestContext } from "@kubernetes/client-node/dist/gen/http/http.js";
import { credentials, status, type ChannelInterface, type ClientWritableStream, type Metadata, type ServiceError } from "@grpc/grpc-js";
import type { ContainerLogRequest } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { LogStreamServiceClient, type LogStreamData, type LogStreamResponse } from "../proto/gen/logstream.ts";
import { kubeLogQuery, type KubeLogAttempt } from "./log-request.ts";
import { LogLineFilter, type ResumePoint } from "./log-lines.ts";

const log = getLogger("logstream");

export const LOG_CHUNK_BYTES = 64 * 1024;
/** Recent output kept per followed stream, to repeat after a broken connection. */
export const REPLAY_BYTES = 1024 * 1024;

/** The tail of a followed stream's output, by offset. */
class Replay {
  chunks: { offset: bigint; data: Buffer }[] = [];
  private size = 0;
  private total = 0n;
  add(data: Buffer): bigint {
    const offset = this.total;
    this.chunks.push({ offset, data });
    this.total += BigInt(data.length);
    this.size += data.length;
    while (this.size > REPLAY_BYTES && this.chunks.length > 1) this.size -= this.chunks.shift()!.data.length;
    return offset;
  }
}
const RETRY = { initialMs: 200, maxMs: 5_000, giveUpMs: 30_000 };

export type LiveChannel = () => { channel: ChannelInterface; metadata: Metadata } | undefined;

export interface AgentLogStreamsOptions {
  kc: KubeConfig;
  channel: LiveChannel;
  retry?: Partial<typeof RETRY>;
}

type Outcome = { kind: "done" } | { kind: "stop"; why: string } | { kind: "retry"; why: string; progressed: boolean };

const data = (requestUuid: string, d: Partial<LogStreamData>): LogStreamData => ({ requestUuid, data: Buffer.alloc(0), eof: false, error: "", ...d });

/**
 * GET on the API server returning the body as a stream (undici, the same TLS set-up as client-node;
 * loaded with the first log request: nothing else in an agent needs undici, issue #19).
 */
async function openKubeStream(kc: KubeConfig, path: string, query: Record<string, string>, signal: AbortSignal) {
  const { fetch } = await import("undici");
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error("kubeconfig has no current cluster");
  const url = new URL(cluster.server.replace(/\/$/, "") + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const ctx = new RequestContext(url.toString(), HttpMethod.GET);
  await kc.applySecurityAuthentication(ctx);
  return fetch(url, { headers: ctx.getHeaders(), dispatcher: ctx.getDispatcher() as never, signal });
}

async function kubeErrorText(res: Awaited<ReturnType<typeof openKubeStream>>): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    return (JSON.parse(text) as { message?: string }).message ?? `HTTP ${res.status}`;
  } catch {
    return text.trim() || `HTTP ${res.status}`;
  }
}

export class AgentLogStreams {
  private readonly inflight = new Map<string, AbortController>();
  private readonly retry: typeof RETRY;
  private readonly o: AgentLogStreamsOptions;

  constructor(o: AgentLogStreamsOptions) {
    this.o = o;
    this.retry = { ...RETRY, ...o.retry };
  }

  get active(): number {
    return this.inflight.size;
  }

  readonly handler: EventHandler = async (_ev, payload) => {
    const req = payload as unknown as ContainerLogRequest | undefined;
    if (!req || typeof req.uuid !== "string" || !req.uuid || !req.namespace || !req.podName) return { rejected: true };
    if (this.inflight.has(req.uuid)) {
      log.debug("duplicate log request; already streaming", { uuid: req.uuid });
      return;
    }
    const ac = new AbortController();
    this.inflight.set(req.uuid, ac);
    log.info("log request", { uuid: req.uuid, namespace: req.namespace, pod: req.podName, container: req.container, follow: !!req.follow });
    void (req.follow ? this.follow(req, ac.signal) : this.attempt(req, ac.signal).then((o) => this.report(req, o)))
      .catch((err: Error) => log.warn("log stream failed", { uuid: req.uuid, error: err }))
      .finally(() => this.inflight.delete(req.uuid));
  };

  private report(req: ContainerLogRequest, o: Outcome): void {
    if (o.kind === "done") log.debug("log stream done", { uuid: req.uuid });
    else log.info("log stream ended", { uuid: req.uuid, reason: o.why });
  }

  private async follow(req: ContainerLogRequest, signal: AbortSignal): Promise<void> {
    let resume: ResumePoint | undefined;
    let sent = 0;
    let delay = this.retry.initialMs;
    let since = Date.now();
    const replay = new Replay();
    while (!signal.aborted) {
      const filter = new LogLineFilter({ strip: !req.timestamps, resumeAfter: resume, limitBytes: req.limitBytes === undefined ? undefined : req.limitBytes - sent });
      const o = await this.attempt(req, signal, { filter, replay, attempt: { sinceNs: resume?.ns, forceTimestamps: true, ownLimit: true } });
      resume = filter.resumePoint() ?? resume;
      sent += filter.sent;
      if (o.kind !== "retry") return this.report(req, o);
      if (o.progressed) {
        delay = this.retry.initialMs;
        since = Date.now();
      }
      if (Date.now() - since > this.retry.giveUpMs) return log.warn("log stream given up after retrying", { uuid: req.uuid, reason: o.why });
      log.info("log stream interrupted; resuming", { uuid: req.uuid, reason: o.why, inMs: delay });
      await new Promise((r) => setTimeout(r, delay * (0.5 + Math.random() / 2)));
      delay = Math.min(delay * 2, this.retry.maxMs);
    }
  }

  /** One StreamLogs call fed from one API server request. */
  private async attempt(req: ContainerLogRequest, signal: AbortSignal, f?: { filter: LogLineFilter; replay: Replay; attempt: KubeLogAttempt }): Promise<Outcome> {
    const live = this.o.channel();
    if (!live) return { kind: "retry", why: "not connected to the principal", progressed: false };
    const client = new LogStreamServiceClient("principal", credentials.createInsecure(), { channelOverride: live.channel });
    const kubeAbort = new AbortController();
    const stop = () => kubeAbort.abort();
    signal.addEventListener("abort", stop, { once: true });
    let settled: ServiceError | null | undefined;
    let call!: ClientWritableStream<LogStreamData>;
    const response = new Promise<ServiceError | null>((resolve) => {
      call = client.streamLogs(live.metadata, (err: ServiceError | null, _res?: LogStreamResponse) => {
        settled = err;
        kubeAbort.abort();
        resolve(err);
      });
    });
    let progressed = false;
    const serverEnded = (err: ServiceError | null | undefined): Outcome => {
      if (!err) return { kind: "done" };
      if (err.code === status.NOT_FOUND || err.code === status.CANCELLED || err.code === status.INTERNAL) return { kind: "stop", why: `${status[err.code]}: ${err.details}` };
      return { kind: "retry", why: `${status[err.code]}: ${err.details}`, progressed };
    };
    const send = async (d: Partial<LogStreamData>): Promise<boolean> => {
      if (settled !== undefined) return false;
      if (!call.write(data(req.uuid, d))) {
        await Promise.race([new Promise((r) => call.once("drain", r)), response]);
      }
      return settled === undefined;
    };
    try {
      await send({});
      for (const c of f?.replay.chunks ?? []) await send({ data: c.data, offset: String(c.offset) });
      const res = await openKubeStream(this.o.kc, `/api/v1/namespaces/${encodeURIComponent(req.namespace)}/pods/${encodeURIComponent(req.podName)}/log`, kubeLogQuery(req, f?.attempt), kubeAbort.signal).catch((err: Error) => err);
      if (res instanceof Error) {
        if (settled !== undefined) return serverEnded(settled);
        if (signal.aborted) return { kind: "stop", why: "agent shutting down" };
        // The API server is unreachable: a follow stream tries again; a static one reports it.
        if (f) {
          call.cancel();
          return { kind: "retry", why: res.message, progressed: false };
        }
        await send({ eof: true, error: res.message });
        call.end();
        return serverEnded(await response);
      }
      if (res.status !== 200) {
        const why = await kubeErrorText(res);
        await send({ eof: true, error: why });
        call.end();
        await response;
        return { kind: "stop", why };
      }
      try {
        for await (const chunk of res.body ?? []) {
          const out = f ? f.filter.push(Buffer.from(chunk as Uint8Array)) : Buffer.from(chunk as Uint8Array);
          // Read is as good as sent: the replay buffer repeats it if the connection breaks.
          f?.filter.commit();
          const pieces: Partial<LogStreamData>[] = [];
          for (let i = 0; i < out.length; i += LOG_CHUNK_BYTES) {
            const piece = out.subarray(i, i + LOG_CHUNK_BYTES);
            pieces.push(f ? { data: piece, offset: String(f.replay.add(piece)) } : { data: piece });
          }
          for (const piece of pieces) {
            if (!(await send(piece))) return serverEnded(settled);
            progressed = true;
          }
          if (f?.filter.exhausted) break;
        }
      } catch (err) {
        if (settled !== undefined) return serverEnded(settled);
        if (signal.aborted) return { kind: "stop", why: "agent shutting down" };
        if (f) {
          // Leave the principal's session open for the resumed stream.
          call.cancel();
          return { kind: "retry", why: `reading the API server's log stream: ${(err as Error).message}`, progressed };
        }
        await send({ error: "log stream read failed" });
        call.end();
        await response;
        return { kind: "stop", why: (err as Error).message };
      }
      const rest = f && !f.filter.exhausted ? f.filter.end() : Buffer.alloc(0);
      if (rest.length) await send(f ? { data: rest, offset: String(f.replay.add(rest)) } : { data: rest });
      await send({ eof: true });
      call.end();
      return serverEnded(await response);
    } finally {
      signal.removeEventListener("abort", stop);
      kubeAbort.abort();
      if (settled === undefined) call.cancel();
      // No client.close(): it would close the shared channel of the agent's connection.
    }
  }

  close(): void {
    for (const ac of this.inflight.values()) ac.abort();
  }
}
