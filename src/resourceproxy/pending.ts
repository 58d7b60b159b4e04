/**
 * Requests the principal sent to an agent and is waiting on, by request UUID.
 * Bounded: at most `maxPerAgent` open requests per agent (the caller answers
 * 429 beyond that), each with its own deadline; an agent's disconnect fails
 * its open requests at once instead of letting them run into the timeout.
 *
 * @example
 *   const pending = new PendingRequests<ResourceResponse>({ maxPerAgent: 64 });
 *   const wait = pending.open("agent-a", uuid, 30_000);  // undefined when full
 *   // ... when the agent's response event arrives:
 *   pending.settle("agent-a", uuid, payload);
 *   const outcome = await wait; // { ok: true, value } | { ok: false, reason: "timeout" | "disconnected" | "closed" }
 */

export type PendingOutcome<T> = { ok: true; value: T } | { ok: false; reason: "timeout" | "disconnected" | "closed" };

interface Entry<T> {
  agent: string;
  resolve: (o: PendingOutcome<T>) => void;
  timer: NodeJS.Timeout;
}

export class PendingRequests<T> {
  private readonly entries = new Map<string, Entry<T>>();
  private readonly perAgent = new Map<string, number>();
  readonly maxPerAgent: number;

  constructor(opts: { maxPerAgent: number }) {
    if (!(opts.maxPerAgent >= 1)) throw new RangeError("maxPerAgent must be at least 1");
    this.maxPerAgent = opts.maxPerAgent;
  }

  /** Starts waiting for `uuid`; undefined when the agent already has `maxPerAgent` open requests. */
  open(agent: string, uuid: string, timeoutMs: number): Promise<PendingOutcome<T>> | undefined {
    const n = this.perAgent.get(agent) ?? 0;
    if (n >= this.maxPerAgent || this.entries.has(uuid)) return undefined;
    this.perAgent.set(agent, n + 1);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.finish(uuid, { ok: false, reason: "timeout" }), timeoutMs);
      timer.unref();
      this.entries.set(uuid, { agent, resolve, timer });
    });
  }

  /** Delivers a response; false when nothing waits for it from this agent (late, duplicate or foreign). */
  settle(agent: string, uuid: string, value: T): boolean {
    const e = this.entries.get(uuid);
    if (!e || e.agent !== agent) return false;
    return this.finish(uuid, { ok: true, value });
  }

  /** Stops waiting (the HTTP client went away); nothing is delivered. */
  cancel(uuid: string): void {
    this.finish(uuid, { ok: false, reason: "closed" });
  }

  /** Fails every open request of an agent (it disconnected). */
  failAgent(agent: string): number {
    let n = 0;
    for (const [uuid, e] of this.entries) if (e.agent === agent && this.finish(uuid, { ok: false, reason: "disconnected" })) n++;
    return n;
  }

  /** Open requests, in total or for one agent. */
  size(agent?: string): number {
    return agent === undefined ? this.entries.size : (this.perAgent.get(agent) ?? 0);
  }

  closeAll(): void {
    for (const uuid of [...this.entries.keys()]) this.finish(uuid, { ok: false, reason: "closed" });
  }

  private finish(uuid: string, outcome: PendingOutcome<T>): boolean {
    const e = this.entries.get(uuid);
    if (!e) return false;
    this.entries.delete(uuid);
    clearTimeout(e.timer);
    const n = (this.perAgent.get(e.agent) ?? 1) - 1;
    if (n > 0) this.perAgent.set(e.agent, n);
    else this.perAgent.delete(e.agent);
    e.resolve(outcome);
    return true;
  }
}
