/**
 * One simulated agent: the same connection loop as src/agent/connection.ts
 * (Authenticate → Version → Subscribe, full-jitter reconnect backoff with the
 * real RECONNECT_BACKOFF, an EventWriter that outlives connections, an
 * EventSession that acks everything), minus Kubernetes: received objects are
 * held in a Map. Differences that matter for a load generator:
 *
 * - every connection attempt gets its own channel with a local subchannel
 *   pool, so N agents in one process really open N HTTP/2 connections
 *   (AgentConnection's channels would all share one subchannel here);
 * - Authenticate carries `x-agent-id: <name>`, as a mesh sidecar would add it;
 * - heartbeats start at a random phase, so changing the interval of a whole
 *   fleet at once does not make every agent ping in the same millisecond.
 */
import { credentials, Metadata, status, type ChannelOptions, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { AuthenticationClient, type AuthRequest, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { VersionClient, type VersionRequest, type VersionResponse } from "../../src/proto/gen/version.ts";
import { EventStreamClient, type Event } from "../../src/proto/gen/eventstream.ts";
import { EventWriter } from "../../src/events/event-writer.ts";
import { heartbeatEvent, isAck, isHeartbeat } from "../../src/events/ack.ts";
import { requestEvent, type AgentEvent, type JsonObject } from "../../src/events/cloudevent.ts";
import { EventTargets, EventTypes, ResyncKinds } from "../../src/events/event-types.ts";
import {
  decodeSyncedResource, encodeRequestSyncedResourceList, encodeRequestUpdate, resourceKeyOf, resourceSetChecksum, specChecksum,
} from "../../src/events/resync.ts";
import { FullJitterBackoff, RECONNECT_BACKOFF, sleep } from "../../src/transport/backoff.ts";
import { EventSession } from "../../src/transport/event-session.ts";
import { AGENT_EVENT_SOURCE } from "../../src/agent/connection.ts";

export const PROTOCOL_VERSION = "0.9.0";
const MAX_MESSAGE = 209_715_200;

const CHANNEL_OPTIONS: ChannelOptions = {
  "grpc.max_receive_message_length": MAX_MESSAGE,
  "grpc.max_send_message_length": MAX_MESSAGE,
  "grpc.primary_user_agent": "argocd-agent/v0.0.1",
  "grpc.enable_retries": 0,
  // One HTTP/2 connection per agent, not one shared by the whole process.
  "grpc.use_local_subchannel_pool": 1,
  // Thousands of channels in one process: skip channelz bookkeeping (load generator CPU only).
  "grpc.enable_channelz": 0,
};

/** What a fleet wants to hear about (all optional). */
export interface SimAgentHooks {
  onAuthAttempt?(agent: SimAgent, at: number): void;
  onAuthResult?(agent: SimAgent, ok: boolean, code: string | undefined): void;
  onEstablished?(agent: SimAgent, at: number): void;
  /** A create/spec-update/delete was applied to the agent's in-memory objects; `existed`: it held that resource before. */
  onApplied?(agent: SimAgent, ev: AgentEvent, payload: JsonObject | undefined, at: number, existed: boolean): void;
  /** Every resync request this agent sent since the principal's last request-resource-resync has been acked. */
  onResyncDone?(agent: SimAgent, at: number): void;
  /** This agent queued an ack for an event it received and processed. */
  onAckQueued?(agent: SimAgent, ack: AgentEvent): void;
  /** An ack from the principal for an event this agent sent (heartbeat acks excluded). */
  onAckReceived?(agent: SimAgent, ack: AgentEvent, at: number): void;
}

export interface SimAgentOptions {
  name: string;
  host: string;
  port: number;
  heartbeatMs: number;
  hooks: SimAgentHooks;
  /**
   * "on-connect" resets the reconnect backoff once a connection got through
   * Authenticate and Version; "never" reproduces AgentConnection.run as it was
   * (its reset was unreachable, see bench/results/scale.md).
   */
  backoffReset?: "on-connect" | "never";
  /** Backoff steps already taken, as after earlier disconnects (with backoffReset "never"). */
  priorBackoffSteps?: number;
  /**
   * Play the managed agent's side of resync (src/replication/agent/agent-resync.ts):
   * request-update for every held object on the first stream and on the
   * principal's request-resource-resync, then request-synced-resource-list.
   */
  managedResync?: boolean;
}

interface Held {
  kind: string;
  obj: JsonObject;
}

/** The writer, counting what the session hands it (acks it generates, heartbeats). */
class CountingWriter extends EventWriter {
  acksQueued = 0;
  heartbeatsQueued = 0;
  onAck: ((ack: AgentEvent) => void) | undefined;
  override add(ev: AgentEvent): boolean {
    if (isAck(ev)) {
      this.acksQueued++;
      this.onAck?.(ev);
    }
    else if (isHeartbeat(ev)) this.heartbeatsQueued++;
    return super.add(ev);
  }
}

export type SimAgentState = "idle" | "connecting" | "connected" | "backoff" | "stopped";

export class SimAgent {
  readonly name: string;
  readonly writer: CountingWriter;
  /** Objects received from the principal, by resourceid: the agent's "cluster". */
  readonly objects = new Map<string, Held>();
  /** Resync requests sent and not yet acked. */
  readonly resyncPending = new Set<string>();
  resyncRequestedAt = 0;
  resyncDoneAt = 0;
  private resyncedOnce = false;
  state: SimAgentState = "idle";
  establishedAt = 0;
  connects = 0;
  authAttempts = 0;
  applied = 0;
  received = 0;
  heartbeatAcks = 0;
  readonly errors = new Map<string, number>();
  private readonly opts: SimAgentOptions;
  private readonly abort = new AbortController();
  private done: Promise<void> | undefined;
  private heartbeatMs: number;
  private heartbeatStop: (() => void) | undefined;
  private readonly backoff = new FullJitterBackoff(RECONNECT_BACKOFF);
  private backoffReset: "on-connect" | "never";

  constructor(opts: SimAgentOptions) {
    this.opts = opts;
    this.name = opts.name;
    this.heartbeatMs = opts.heartbeatMs;
    this.backoffReset = opts.backoffReset ?? "on-connect";
    for (let i = 0; i < (opts.priorBackoffSteps ?? 0); i++) this.backoff.next();
    this.writer = new CountingWriter({ name: "principal" });
    this.writer.onAck = (ack) => opts.hooks.onAckQueued?.(this, ack);
  }

  start(): void {
    this.done ??= this.run(this.abort.signal).finally(() => {
      this.state = "stopped";
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }

  /** Changes the heartbeat interval, effective at once on the current stream. */
  setHeartbeat(ms: number): void {
    this.heartbeatMs = ms;
    if (this.heartbeatStop) {
      this.heartbeatStop();
      this.heartbeatStop = this.startHeartbeat();
    }
  }

  /** Switches the backoff behaviour; `priorSteps` replays that many earlier disconnects. */
  setBackoff(reset: "on-connect" | "never", priorSteps = 0): void {
    this.backoffReset = reset;
    this.backoff.reset();
    for (let i = 0; i < priorSteps; i++) this.backoff.next();
  }

  /** Queues one event for the principal (tracked: re-sent until acked). */
  send(ev: AgentEvent): boolean {
    return this.writer.add(ev);
  }

  private count(err: string): void {
    this.errors.set(err, (this.errors.get(err) ?? 0) + 1);
  }

  private async run(signal: AbortSignal): Promise<void> {
    const backoff = this.backoff;
    const target = `${this.opts.host}:${this.opts.port}`;
    const creds = credentials.createInsecure();
    while (!signal.aborted) {
      this.state = "connecting";
      const auth = new AuthenticationClient(target, creds, CHANNEL_OPTIONS);
      const shared = { channelOverride: auth.getChannel() };
      const version = new VersionClient(target, creds, shared);
      const events = new EventStreamClient(target, creds, shared);
      try {
        const md = new Metadata();
        md.set("x-agent-id", this.name);
        this.authAttempts++;
        this.opts.hooks.onAuthAttempt?.(this, Date.now());
        let res: AuthResponse;
        try {
          res = await unary<AuthRequest, AuthResponse>(auth.authenticate.bind(auth), {
            method: "header",
            credentials: {},
            mode: "managed",
            version: PROTOCOL_VERSION,
            agentNamespace: this.name,
          }, md);
        } catch (err) {
          this.opts.hooks.onAuthResult?.(this, false, codeOf(err));
          throw err;
        }
        this.opts.hooks.onAuthResult?.(this, true, undefined);
        const callMd = new Metadata();
        callMd.set("authorization", res.accessToken);
        await unary<VersionRequest, VersionResponse>(version.version.bind(version), {}, callMd);
        if (this.backoffReset === "on-connect") backoff.reset();
        await this.subscribe(events.subscribe(callMd), signal);
      } catch (err) {
        if (!signal.aborted) this.count(codeOf(err));
      } finally {
        for (const c of [events, version, auth]) c.close();
      }
      if (signal.aborted) break;
      this.state = "backoff";
      await sleep(backoff.next(), signal);
    }
    this.writer.close();
  }

  private async subscribe(stream: ClientDuplexStream<Event, Event>, signal: AbortSignal): Promise<void> {
    const session = new EventSession({
      peer: "principal",
      source: AGENT_EVENT_SOURCE,
      writer: this.writer,
      handler: async (ev, payload) => this.apply(ev, payload),
      maxPayloadBytes: MAX_MESSAGE,
      onEvent: (ev) => this.onEvent(ev),
    });
    const onAbort = () => stream.cancel();
    signal.addEventListener("abort", onAbort, { once: true });
    const running = session.run(stream);
    stream.once("metadata", () => {
      this.connects++;
      this.state = "connected";
      this.establishedAt = Date.now();
      this.heartbeatStop = this.startHeartbeat();
      this.opts.hooks.onEstablished?.(this, this.establishedAt);
      if (this.opts.managedResync && !this.resyncedOnce) {
        // As the managed agent does once per process (upstream resyncOnStart).
        this.resyncedOnce = true;
        for (const h of this.objects.values()) this.requestUpdate(h);
        const keys = [...this.objects.values()].map((h) => resourceKeyOf(h.kind, h.obj as never));
        this.sendResync(EventTypes.requestSyncedResourceList, encodeRequestSyncedResourceList({ checksum: resourceSetChecksum(keys) }));
      }
    });
    try {
      await running;
      if (!signal.aborted) throw Object.assign(new Error("principal ended the event stream"), { code: status.UNAVAILABLE });
    } finally {
      this.heartbeatStop?.();
      this.heartbeatStop = undefined;
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Pings through the writer like src/events/heartbeat.ts, first one at a random phase. */
  private startHeartbeat(): () => void {
    const ms = this.heartbeatMs;
    if (!(ms > 0)) return () => {};
    let interval: NodeJS.Timeout | undefined;
    const tick = () => void this.writer.add(heartbeatEvent(AGENT_EVENT_SOURCE));
    const first = setTimeout(() => {
      tick();
      interval = setInterval(tick, ms);
    }, Math.floor(Math.random() * ms));
    return () => {
      clearTimeout(first);
      clearInterval(interval);
    };
  }

  private sendResync(type: (typeof EventTypes)[keyof typeof EventTypes], payload: object): void {
    const ev = requestEvent(type, EventTargets.resourceResync, payload, AGENT_EVENT_SOURCE);
    this.resyncPending.add(ev.eventId);
    this.writer.add(ev);
  }

  private requestUpdate(h: Held): void {
    const key = resourceKeyOf(h.kind, h.obj as never);
    const sum = specChecksum(h.obj, h.kind);
    this.sendResync(EventTypes.requestUpdate, encodeRequestUpdate({ kind: h.kind, name: key.name, namespace: key.namespace, uid: key.uid, checksum: sum.ok ? sum.value : null }));
  }

  private resyncEvent(ev: AgentEvent, payload: JsonObject | undefined): void {
    if (!this.opts.managedResync) return;
    if (ev.type === EventTypes.requestResourceResync) {
      this.resyncRequestedAt = Date.now();
      this.resyncDoneAt = 0;
      for (const h of this.objects.values()) this.requestUpdate(h);
      if (this.resyncPending.size === 0) this.resyncDone();
    } else if (ev.type === EventTypes.responseSyncedResource) {
      const r = decodeSyncedResource(payload);
      if (!r.ok) return;
      const held = [...this.objects.values()].find((h) => h.kind === r.value.kind && (h.obj.metadata as { name?: string })?.name === r.value.name);
      if (held) this.requestUpdate(held);
      else this.sendResync(EventTypes.requestUpdate, encodeRequestUpdate({ ...r.value, uid: "", checksum: null }));
    }
  }

  private resyncDone(): void {
    this.resyncDoneAt = Date.now();
    this.opts.hooks.onResyncDone?.(this, this.resyncDoneAt);
  }

  private onEvent(ev: AgentEvent): void {
    if (!isAck(ev)) {
      this.received++;
      return;
    }
    if (this.resyncPending.delete(ev.eventId)) {
      if (this.resyncPending.size === 0 && this.resyncRequestedAt) this.resyncDone();
      return;
    }
    // Heartbeat acks carry the ping's UUID as resourceid; the writer does not track pings.
    if (this.writer.pending(ev.resourceId).inFlight?.eventId === ev.eventId) this.opts.hooks.onAckReceived?.(this, ev, Date.now());
    else this.heartbeatAcks++;
  }

  private apply(ev: AgentEvent, payload: JsonObject | undefined): void {
    if (ev.target === EventTargets.resourceResync) return this.resyncEvent(ev, payload);
    const kind = ev.target === EventTargets.application ? ResyncKinds.application : ev.target === EventTargets.appProject ? ResyncKinds.appProject : undefined;
    if (!kind) return;
    const existed = this.objects.has(ev.resourceId);
    if (ev.type === EventTypes.delete) this.objects.delete(ev.resourceId);
    else if (payload && (ev.type === EventTypes.create || ev.type === EventTypes.specUpdate || ev.type === EventTypes.statusUpdate)) {
      this.objects.set(ev.resourceId, { kind, obj: payload });
    } else return;
    this.applied++;
    this.opts.hooks.onApplied?.(this, ev, payload, Date.now(), existed);
  }
}

function codeOf(err: unknown): string {
  const e = err as Partial<ServiceError>;
  return e.code !== undefined ? status[e.code] ?? String(e.code) : (e.message ?? String(err)).slice(0, 60);
}

function unary<Req, Res>(
  fn: (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  md: Metadata,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}
