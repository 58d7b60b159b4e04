/**
 * Pod logs on the principal (live-resources.md §4.3): the resource proxy's
 * `…/pods/{pod}/log` request becomes a `containerlog` event to the agent, and
 * the agent's StreamLogs call writes the bytes into the waiting HTTP response.
 *
 * - 200 and the streaming headers go out as soon as the event is queued, as
 *   upstream; later failures end the body with one line saying why.
 * - Static logs wait for the agent's EOF at most `staticTimeoutMs` (upstream:
 *   6 × 30 s), then append upstream's "Timeout fetching logs from agent".
 * - Follow: the response ends at the agent's EOF (upstream holds it open until
 *   the client leaves). If the agent's stream breaks (agent reconnecting), the
 *   session waits `reattachMs` for the agent to resume it on a new StreamLogs
 *   call with the same UUID (upstream deletes it, so a resume gets NotFound).
 * - Flow control: when the HTTP client does not keep up, the gRPC call is
 *   paused, so HTTP/2 flow control holds the agent, which stops reading from
 *   its API server. Per session the principal holds at most the socket's
 *   high-water mark plus what grpc-js has decoded (a few 64 KiB chunks).
 * - At most `maxPerAgent` open log sessions per agent (more get 429).
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { status, type ServerReadableStream, type sendUnaryData } from "@grpc/grpc-js";
import { requestEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, type HttpMethodType } from "../events/event-types.ts";
import { getLogger } from "../observability/log.ts";
import type { LogStreamData, LogStreamResponse, LogStreamServiceServer } from "../proto/gen/logstream.ts";
import type { ProxyAgents, ProxyCall } from "../resourceproxy/server.ts";
import { logRequestFromQuery } from "./log-request.ts";
import { grpcError, type StreamMetrics, type VerifyCall } from "./stream-common.ts";

const log = getLogger("logstream");

export interface LogSessionsOptions {
  agents: ProxyAgents;
  verify: VerifyCall;
  staticTimeoutMs: number;
  /** Follow: how long a broken agent stream may take to resume; also the wait for the first stream. */
  reattachMs: number;
  maxPerAgent?: number;
  metrics?: StreamMetrics;
}

type Call = ServerReadableStream<LogStreamData, LogStreamResponse>;

interface LogSession {
  uuid: string;
  agent: string;
  follow: boolean;
  timestamps: boolean;
  res: ServerResponse;
  /** The agent's current StreamLogs call and its callback. */
  call?: { stream: Call; done: sendUnaryData<LogStreamResponse> };
  timer?: NodeJS.Timeout;
  attachedOnce: boolean;
  bytes: number;
  /** How far into the agent's byte stream we have written (offsets of resumable streams). */
  pos: bigint;
}

export const DEFAULT_MAX_LOG_SESSIONS_PER_AGENT = 64;

export class LogSessions {
  private readonly sessions = new Map<string, LogSession>();
  private readonly perAgent = new Map<string, number>();
  private readonly max: number;
  private readonly o: LogSessionsOptions;

  constructor(o: LogSessionsOptions) {
    this.o = o;
    this.max = o.maxPerAgent ?? DEFAULT_MAX_LOG_SESSIONS_PER_AGENT;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The resource proxy's hook for GET …/pods/{pod}/log (agent connected, ns and pod set). */
  readonly httpHook = (call: ProxyCall, req: IncomingMessage, res: ServerResponse): void => {
    const { agent } = call;
    if ((this.perAgent.get(agent) ?? 0) >= this.max) {
      res.writeHead(429, { "Content-Type": "text/plain; charset=utf-8", "Retry-After": "1" }).end(`too many open log streams for agent ${agent} (limit ${this.max})\n`);
      return;
    }
    const uuid = randomUUID();
    const payload = logRequestFromQuery(uuid, call.path.namespace!, call.path.name, call.query);
    const s: LogSession = { uuid, agent, follow: !!payload.follow, timestamps: !!payload.timestamps, res, attachedOnce: false, bytes: 0, pos: 0n };
    this.add(s);
    res.on("close", () => this.clientGone(s));
    const method = (req.method ?? "GET").toUpperCase() as HttpMethodType;
    if (!this.o.agents.send(agent, requestEvent(method, EventTargets.containerLog, payload, EventSources.principal, uuid))) {
      this.remove(s);
      this.o.metrics?.proxyError(agent, "queue_missing");
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { "Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-cache, no-transform", Connection: "keep-alive" });
    res.flushHeaders();
    log.info("log stream requested", { agent, uuid, namespace: payload.namespace, pod: payload.podName, container: payload.container, follow: s.follow });
    if (s.follow) this.arm(s, this.o.reattachMs, "agent did not open the log stream in time");
    else this.arm(s, this.o.staticTimeoutMs, "Timeout fetching logs from agent");
  };

  /** gRPC LogStreamService (agent → principal). */
  readonly service: LogStreamServiceServer = {
    streamLogs: (stream: Call, done: sendUnaryData<LogStreamResponse>) => {
      let s: LogSession | undefined;
      let finished = false;
      const finish = (err: ReturnType<typeof grpcError> | null, res?: LogStreamResponse) => {
        if (finished) return;
        finished = true;
        if (s?.call?.stream === stream) s.call = undefined;
        stream.removeAllListeners("data");
        stream.resume();
        if (err) done(err);
        else done(null, res);
      };
      const identity = this.o.verify(stream);
      stream.on("data", (msg: LogStreamData) => {
        if (finished) return;
        if (!s) {
          stream.pause();
          void identity.then((who) => {
            if (finished) return;
            if (!who.ok) return finish(grpcError(status.UNAUTHENTICATED, "invalid authentication data"));
            const found = this.sessions.get(msg.requestUuid);
            // Upstream does not check who owns the UUID; an agent only ever streams its own.
            if (!found || found.agent !== who.agent) return finish(grpcError(status.NOT_FOUND, "unknown request id"));
            s = found;
            this.attach(s, stream, finish);
            this.message(s, msg, finish);
            stream.resume();
          });
          return;
        }
        this.message(s, msg, finish);
      });
      stream.on("end", () => {
        // Our agents and Go's send EOF (or an error) before closing. An end
        // without one is, for a followed log, a broken connection (grpc-js also
        // ends the stream when the connection drops): wait for the resume. For
        // static logs it is a normal end, as upstream.
        if (finished) return;
        const session = s;
        finish(null, { requestUuid: session?.uuid ?? "", status: 200, error: "", linesReceived: 0 });
        if (session?.follow) this.detached(session);
        else if (session) this.complete(session);
      });
      const broken = () => {
        if (finished) return;
        finish(grpcError(status.CANCELLED, "stream broken"));
        if (s) this.detached(s);
      };
      stream.on("cancelled", broken);
      stream.on("error", broken);
    },
  };

  private attach(s: LogSession, stream: Call, finish: (err: ReturnType<typeof grpcError> | null, res?: LogStreamResponse) => void): void {
    const old = s.call;
    s.call = { stream, done: (err) => finish(err as ReturnType<typeof grpcError> | null) };
    if (old) old.done(grpcError(status.CANCELLED, "superseded by a newer stream"), null);
    if (s.attachedOnce) log.info("log stream resumed by the agent", { agent: s.agent, uuid: s.uuid });
    s.attachedOnce = true;
    if (s.follow) this.disarm(s);
  }

  private message(s: LogSession, msg: LogStreamData, finish: (err: ReturnType<typeof grpcError> | null, res?: LogStreamResponse) => void): void {
    const call = s.call?.stream;
    if (msg.error) {
      log.info("log stream error from agent", { agent: s.agent, uuid: s.uuid, error: msg.error });
      this.end(s, msg.error);
      return finish(grpcError(status.INTERNAL, msg.error));
    }
    if (msg.eof) {
      this.complete(s);
      return finish(null, { requestUuid: s.uuid, status: 200, error: "", linesReceived: 0 });
    }
    let data = msg.data;
    if (!data.length) return;
    if (s.res.destroyed || s.res.writableEnded) return finish(grpcError(status.CANCELLED, "client disconnected"));
    if (msg.offset !== undefined) {
      // A resumed stream repeats recent bytes: keep only what is new.
      const off = BigInt(msg.offset);
      const end = off + BigInt(data.length);
      if (end <= s.pos) return;
      if (off < s.pos) data = data.subarray(Number(s.pos - off));
      else if (off > s.pos) log.warn("log bytes lost while the agent reconnected", { agent: s.agent, uuid: s.uuid, bytes: String(off - s.pos) });
      s.pos = end;
    }
    s.bytes += data.length;
    if (!s.res.write(data) && call) {
      call.pause();
      s.res.once("drain", () => call.resume());
    }
  }

  /** Ends the HTTP response normally (agent EOF). */
  private complete(s: LogSession): void {
    log.info("log stream complete", { agent: s.agent, uuid: s.uuid, bytes: s.bytes });
    this.end(s);
  }

  /** Ends the HTTP response, with a last line saying why when `why` is set. */
  private end(s: LogSession, why?: string): void {
    this.remove(s);
    if (s.res.writableEnded || s.res.destroyed) return;
    const prefix = s.timestamps ? `${new Date().toISOString().replace("Z", "000000Z")} ` : "";
    s.res.end(why ? `${prefix}${why}\n` : undefined);
  }

  private detached(s: LogSession): void {
    if (!this.sessions.has(s.uuid)) return;
    if (!s.follow) return this.end(s, `log stream from agent ${s.agent} broke off`);
    log.info("agent log stream broke off; waiting for the agent to resume it", { agent: s.agent, uuid: s.uuid, waitMs: this.o.reattachMs });
    this.arm(s, this.o.reattachMs, `agent ${s.agent} did not resume the log stream within ${Math.round(this.o.reattachMs / 1000)}s`);
  }

  private clientGone(s: LogSession): void {
    if (!this.sessions.has(s.uuid)) return;
    log.debug("log client disconnected", { agent: s.agent, uuid: s.uuid });
    this.remove(s);
    s.call?.done(grpcError(status.CANCELLED, "client disconnected"), null);
  }

  private arm(s: LogSession, ms: number, why: string): void {
    this.disarm(s);
    s.timer = setTimeout(() => {
      log.info("log stream ended", { agent: s.agent, uuid: s.uuid, reason: why });
      this.end(s, why);
      s.call?.done(grpcError(status.CANCELLED, "client detached timeout"), null);
    }, ms);
    s.timer.unref();
  }

  private disarm(s: LogSession): void {
    clearTimeout(s.timer);
    s.timer = undefined;
  }

  private add(s: LogSession): void {
    this.sessions.set(s.uuid, s);
    this.perAgent.set(s.agent, (this.perAgent.get(s.agent) ?? 0) + 1);
    this.o.metrics?.logStreams(s.agent, this.perAgent.get(s.agent)!);
  }

  private remove(s: LogSession): void {
    this.disarm(s);
    if (!this.sessions.delete(s.uuid)) return;
    const n = (this.perAgent.get(s.agent) ?? 1) - 1;
    if (n) this.perAgent.set(s.agent, n);
    else this.perAgent.delete(s.agent);
    this.o.metrics?.logStreams(s.agent, n);
  }

  close(): void {
    for (const s of [...this.sessions.values()]) {
      this.end(s, "principal shutting down");
      s.call?.done(grpcError(status.UNAVAILABLE, "principal shutting down"), null);
    }
  }
}
