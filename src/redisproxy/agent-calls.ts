/**
 * The principal's side of the redis request/response events (live-resources.md
 * §1.1, §3.3): a `redis-request` to an agent waits, bounded in count and time,
 * for the `redis-response` whose payload `uuid` matches; pushes from an agent's
 * subscription carry the `connectionUuid` of the proxy connection that
 * subscribed and go to that connection. Each request has its own resourceid,
 * so a slow answer never holds up another key in the agent's send queue.
 *
 * @example
 *   const calls = new AgentRedisCalls({ agents, timeoutMs: 60_000 });
 *   const r = await calls.call("agent-a", connUuid, { get: { key } }); // { ok: true, body } | { ok: false, error }
 *   laneRouter({ live: { redis: calls.responseHandler("agent-a") } });
 */
import { randomUUID } from "node:crypto";
import { requestEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../events/event-types.ts";
import type { RedisRequest, RedisResponse } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { PendingRequests } from "../resourceproxy/pending.ts";
import type { ProxyAgents } from "../resourceproxy/server.ts";

const log = getLogger("redis-proxy");

export type RedisCommandBody = RedisRequest["body"];
export type RedisResponseBody = RedisResponse["body"];
export type CallOutcome = { ok: true; body: RedisResponseBody } | { ok: false; error: string };

export interface AgentRedisCallsOptions {
  agents: ProxyAgents;
  /** How long to wait for an agent's answer (upstream: 60 s). */
  timeoutMs: number;
  /** Open requests per agent; more are refused at once (upstream: unbounded). */
  maxPendingPerAgent?: number;
}

/** Receives the channel names an agent pushes for one proxy connection. */
export type PushReceiver = (agent: string, channel: string) => void;

export const DEFAULT_MAX_PENDING_PER_AGENT = 4096;

export class AgentRedisCalls {
  readonly pending: PendingRequests<RedisResponseBody>;
  private readonly receivers = new Map<string, { agents: Set<string>; deliver: PushReceiver }>();
  private readonly opts: AgentRedisCallsOptions;

  constructor(opts: AgentRedisCallsOptions) {
    this.opts = opts;
    this.pending = new PendingRequests({ maxPerAgent: opts.maxPendingPerAgent ?? DEFAULT_MAX_PENDING_PER_AGENT });
  }

  /** Sends one command to an agent and waits for its answer; never rejects. */
  async call(agent: string, connectionUuid: string, body: RedisCommandBody): Promise<CallOutcome> {
    if (!this.opts.agents.connected(agent)) return { ok: false, error: `agent '${agent}' is not connected to the principal` };
    const uuid = randomUUID();
    const wait = this.pending.open(agent, uuid, this.opts.timeoutMs);
    if (!wait) return { ok: false, error: `too many open redis requests to agent '${agent}' (limit ${this.pending.maxPerAgent})` };
    const payload: RedisRequest = { uuid, connectionUuid, body };
    if (!this.opts.agents.send(agent, requestEvent(EventTypes.redisRequest, EventTargets.redis, payload, EventSources.principal, uuid))) {
      this.pending.cancel(uuid);
      return { ok: false, error: `no send queue for agent '${agent}'` };
    }
    const outcome = await wait;
    if (outcome.ok) return { ok: true, body: outcome.value };
    this.opts.agents.discard(agent, uuid);
    const why =
      outcome.reason === "timeout"
        ? `no answer from agent '${agent}' within ${Math.round(this.opts.timeoutMs / 1000)}s`
        : outcome.reason === "disconnected"
          ? `agent '${agent}' disconnected`
          : "the redis proxy is shutting down";
    return { ok: false, error: why };
  }

  /** Lets `deliver` receive pushes for a proxy connection from `agent` (it subscribed there). */
  track(connectionUuid: string, agent: string, deliver: PushReceiver): void {
    const r = this.receivers.get(connectionUuid);
    if (r) r.agents.add(agent);
    else this.receivers.set(connectionUuid, { agents: new Set([agent]), deliver });
  }

  untrack(connectionUuid: string): void {
    this.receivers.delete(connectionUuid);
  }

  /** The live-lane handler for `redis` events from one agent. */
  responseHandler(agent: string): EventHandler {
    return async (_ev, payload) => {
      const res = payload as unknown as RedisResponse | undefined;
      if (!res || typeof res.connectionUuid !== "string" || !res.connectionUuid || typeof res.body !== "object" || res.body === null) {
        log.warn("redis response without a connection UUID or body", { agent });
        return { rejected: true };
      }
      const push = res.body.pushFromSubscribe;
      if (push) {
        const r = this.receivers.get(res.connectionUuid);
        if (!r) return log.debug("push for a proxy connection that is gone", { agent, connectionUUID: res.connectionUuid });
        if (!r.agents.has(agent)) {
          log.warn("push from an agent the proxy connection did not subscribe at", { agent, connectionUUID: res.connectionUuid });
          return { rejected: true };
        }
        if (typeof push.channelName === "string" && push.channelName) r.deliver(agent, push.channelName);
        return;
      }
      if (typeof res.uuid !== "string" || !this.pending.settle(agent, res.uuid, res.body)) {
        log.debug("redis response for a request that is not tracked", { agent, uuid: res.uuid });
      }
    };
  }

  /** Fails an agent's open requests at once (it disconnected). */
  agentGone(agent: string): void {
    const n = this.pending.failAgent(agent);
    if (n) log.info("agent disconnected with open redis requests", { agent, requests: n });
  }

  close(): void {
    this.pending.closeAll();
    this.receivers.clear();
  }
}
