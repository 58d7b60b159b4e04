/**
 * The principal's bound on concurrent event processing (`--event-processors`,
 * behavior.md §6.4): at most `limit` events from all agents are being applied
 * at once, so a reconnect storm or a resync of thousands of resources cannot
 * flood the control-plane API server.
 *
 * Ordering is not this class's job and it cannot break it: each event session
 * already hands one resource's events to the handler strictly one after the
 * other (the next one is only submitted once the previous finished), so a slot
 * is taken per event *in that order*. Different resources never had an order.
 *
 * Fairness: waiting events are queued per agent and slots are handed out
 * round-robin across agents, so one agent with a burst of 1,000 events delays
 * another agent's next event by at most one event per busy agent, not by the
 * whole burst. (Upstream: a global semaphore plus a per-agent try-lock, which
 * serialises each agent completely; we keep per-resource order only, which
 * lets one agent's independent resources proceed in parallel.)
 *
 * @example
 *   const slots = new EventProcessors(10);
 *   await slots.run("agent-a", () => applyEvent(ev));
 */
export class EventProcessors {
  readonly limit: number;
  private active = 0;
  /** Waiters by agent; Map order is the round-robin order. */
  private readonly waiting = new Map<string, (() => void)[]>();
  private waitingCount = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`event processors must be a positive integer, got ${limit}`);
    this.limit = limit;
  }

  /** Runs `fn` once a slot is free; the slot is released when it settles. */
  async run<T>(agent: string, fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit && this.waitingCount === 0) this.active++;
    else await new Promise<void>((resolve) => this.enqueue(agent, resolve));
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  stats(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waitingCount };
  }

  private enqueue(agent: string, wake: () => void): void {
    const q = this.waiting.get(agent);
    if (q) q.push(wake);
    else this.waiting.set(agent, [wake]);
    this.waitingCount++;
  }

  /** Hands the slot to the next agent in turn (the slot stays taken), or frees it. */
  private release(): void {
    const next = this.waiting.entries().next();
    if (next.done) {
      this.active--;
      return;
    }
    const [agent, q] = next.value;
    const wake = q.shift()!;
    this.waitingCount--;
    this.waiting.delete(agent);
    if (q.length) this.waiting.set(agent, q); // to the back of the round
    wake();
  }
}
