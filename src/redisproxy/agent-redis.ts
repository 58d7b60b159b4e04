/**
 * The agent's answers to the principal's redis requests, from the agent's own
 * Argo CD redis (live-resources.md §3.5): `get` reads the key (namespace
 * mapping drops `<ns>_` from the app field first), `subscribe` relays the
 * channel's notifications as pushes, `ping` keeps a proxy connection's
 * subscriptions alive; subscriptions of a connection without a ping for
 * `idleTimeoutMs` (upstream: 10 min) are dropped. Requests are acknowledged at
 * once and answered in the background, never in the replication lane. All
 * subscriptions share one subscriber connection (upstream opens one each).
 *
 * @example
 *   const redis = new AgentRedisRequests({ writer, client: newRedisClient(target, "Argo CD's redis"), destinationBased: false });
 *   laneRouter({ replication, live: { redis: redis.handler } });
 */
import type { RedisClient } from "./lazy-redis.ts";
import { responseEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../events/event-types.ts";
import type { EventWriter } from "../events/event-writer.ts";
import type { RedisRequest, RedisResponse } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { agentLocalKey } from "./keys.ts";
import { redisOutage } from "./redis-settings.ts";
import type { AgentRedisMetrics } from "./metrics.ts";

const log = getLogger("redis-proxy");

export interface AgentRedisOptions {
  writer: EventWriter;
  /** Commands go here; subscriptions use a duplicate of it. */
  client: RedisClient;
  /** --destination-based-mapping: keys already name the app as the agent's Argo CD stores it. */
  destinationBased: boolean;
  metrics?: AgentRedisMetrics;
  idleTimeoutMs?: number;
  sweepIntervalMs?: number;
  /** Commands run against redis at once; more wait in line (ioredis pipelines them on one connection). */
  maxInFlight?: number;
  /** Commands waiting for a slot; beyond this they are answered with an error at once. */
  maxWaiting?: number;
  maxSubscriptions?: number;
  /** Largest value sent back; larger values are answered with an error. */
  maxValueBytes?: number;
}

interface Subscription {
  connectionUuid: string;
  requestUuid: string;
  /** The channel as the principal named it (pushes carry this name). */
  channel: string;
  /** The channel in this redis. */
  local: string;
}

const RECENT_LIMIT = 4096;

export class AgentRedisRequests {
  private readonly opts: Required<Omit<AgentRedisOptions, "metrics">> & { metrics?: AgentRedisMetrics };
  private readonly byLocal = new Map<string, Set<Subscription>>();
  private readonly byConnection = new Map<string, { lastPing: number; subs: Set<Subscription> }>();
  private readonly seen = new Set<string>();
  private subscriber: RedisClient | undefined;
  private inFlight = 0;
  private readonly waiting: (() => void)[] = [];
  private subscriptions = 0;
  private droppedPayloads = 0;
  private readonly sweeper: NodeJS.Timeout;

  constructor(opts: AgentRedisOptions) {
    this.opts = { idleTimeoutMs: 10 * 60_000, sweepIntervalMs: 60_000, maxInFlight: 256, maxWaiting: 8192, maxSubscriptions: 10_000, maxValueBytes: 64 * 1024 * 1024, ...opts };
    this.sweeper = setInterval(() => this.sweep(), this.opts.sweepIntervalMs);
    this.sweeper.unref();
  }

  readonly handler: EventHandler = async (_ev, payload) => {
    const req = payload as unknown as RedisRequest | undefined;
    if (!req || typeof req.uuid !== "string" || !req.uuid || typeof req.connectionUuid !== "string" || typeof req.body !== "object" || req.body === null) {
      log.warn("redis request without uuid, connection UUID or body");
      return { rejected: true };
    }
    if (this.seen.has(req.uuid)) return; // a re-send of a request already answered or running
    this.seen.add(req.uuid);
    if (this.seen.size > RECENT_LIMIT) this.seen.delete(this.seen.values().next().value!);
    void this.run(req);
  };

  /** Subscriptions and connections being tracked (tests, diagnostics). */
  stats(): { subscriptions: number; connections: number; channels: number } {
    return { subscriptions: this.subscriptions, connections: this.byConnection.size, channels: this.byLocal.size };
  }

  close(): void {
    clearInterval(this.sweeper);
    this.subscriber?.disconnect();
    this.opts.client.disconnect();
    this.byLocal.clear();
    this.byConnection.clear();
  }

  private async run(req: RedisRequest): Promise<void> {
    const { body } = req;
    if (body.ping) {
      this.touch(req.connectionUuid);
      return this.reply(req, { pong: {} });
    }
    const command = body.get ? "get" : body.subscribe ? "subscribe" : undefined;
    if (!command) {
      log.warn("redis request with no known command", { uuid: req.uuid });
      return;
    }
    this.opts.metrics?.request(command);
    const fail = (error: string) => {
      this.opts.metrics?.error(command);
      log.warn("redis request failed", { uuid: req.uuid, command, error });
      this.reply(req, command === "get" ? { get: { bytes: null, cacheHit: false, error } } : { subscribeResponse: { error } });
    };
    const name = command === "get" ? body.get!.key : body.subscribe!.channel;
    const local = typeof name !== "string" ? { error: "no key in the request" } : this.opts.destinationBased ? name : agentLocalKey(name);
    if (typeof local !== "string") return fail(`unable to transform ${command.toUpperCase()} key for agent: ${local.error}`);
    if (this.inFlight >= this.opts.maxInFlight) {
      if (this.waiting.length >= this.opts.maxWaiting) return fail(`the agent has ${this.waiting.length} redis requests waiting; try again`);
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
    this.inFlight++;
    try {
      if (command === "get") {
        const value = await this.opts.client.getBuffer(local);
        if (value && value.length > this.opts.maxValueBytes) return fail(`value of ${value.length} bytes is larger than the agent sends (${this.opts.maxValueBytes})`);
        // go-redis/cache leaves an empty value as nil bytes, still a hit.
        this.reply(req, { get: value ? { bytes: value.length ? value.toString("base64") : null, cacheHit: true, error: "" } : { bytes: null, cacheHit: false, error: "" } });
      } else {
        await this.subscribe({ connectionUuid: req.connectionUuid, requestUuid: req.uuid, channel: name, local });
        this.reply(req, { subscribeResponse: { error: "" } });
      }
    } catch (err) {
      fail(redisOutage(this.opts.client) ?? (err as Error).message);
    } finally {
      this.inFlight--;
      this.waiting.shift()?.();
    }
  }

  private async subscribe(sub: Subscription): Promise<void> {
    const conn = this.touch(sub.connectionUuid);
    for (const s of conn.subs) if (s.channel === sub.channel) return; // already relayed to this connection
    if (this.subscriptions >= this.opts.maxSubscriptions) throw new Error(`the agent already relays ${this.subscriptions} subscriptions`);
    let subs = this.byLocal.get(sub.local);
    if (!subs) {
      this.byLocal.set(sub.local, (subs = new Set()));
      try {
        await this.sub().subscribe(sub.local);
      } catch (err) {
        if (!subs.size) this.byLocal.delete(sub.local);
        throw err;
      }
    }
    subs.add(sub);
    conn.subs.add(sub);
    this.subscriptions++;
  }

  private sub(): RedisClient {
    if (!this.subscriber) {
      this.subscriber = this.opts.client.duplicate();
      this.subscriber.on("error", () => undefined); // the command client logs outages
      this.subscriber.on("messageBuffer", (channel: Buffer, message: Buffer) => this.onMessage(channel.toString("utf8"), message));
    }
    return this.subscriber;
  }

  private onMessage(local: string, message: Buffer): void {
    if (message.length) {
      // Argo CD publishes empty notifications; anything else is not for us (upstream drops it too).
      if (this.droppedPayloads++ % 1000 === 0) log.debug("dropped a notification with a payload", { channel: local, bytes: message.length });
      return;
    }
    for (const s of this.byLocal.get(local) ?? []) {
      this.reply({ uuid: s.requestUuid, connectionUuid: s.connectionUuid }, { pushFromSubscribe: { channelName: s.channel } });
    }
  }

  private touch(connectionUuid: string): { lastPing: number; subs: Set<Subscription> } {
    let c = this.byConnection.get(connectionUuid);
    if (!c) this.byConnection.set(connectionUuid, (c = { lastPing: 0, subs: new Set() }));
    c.lastPing = Date.now();
    return c;
  }

  /** Drops connections (and their subscriptions) without a ping for idleTimeoutMs. */
  private sweep(): void {
    const now = Date.now();
    for (const [uuid, c] of this.byConnection) {
      if (now - c.lastPing < this.opts.idleTimeoutMs) continue;
      this.byConnection.delete(uuid);
      for (const s of c.subs) {
        const subs = this.byLocal.get(s.local);
        subs?.delete(s);
        this.subscriptions--;
        if (subs && !subs.size) {
          this.byLocal.delete(s.local);
          this.subscriber?.unsubscribe(s.local).catch(() => undefined);
        }
      }
      if (c.subs.size) log.debug("closed idle redis subscriptions", { connectionUUID: uuid, subscriptions: c.subs.size });
    }
  }

  private reply(req: Pick<RedisRequest, "uuid" | "connectionUuid">, body: RedisResponse["body"]): void {
    const res: RedisResponse = { uuid: req.uuid, connectionUuid: req.connectionUuid, body };
    this.opts.writer.add(responseEvent(EventTypes.redisResponse, EventTargets.redis, res, EventSources.agent, req.uuid));
  }
}
