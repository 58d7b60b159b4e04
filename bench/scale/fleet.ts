/**
 * N simulated agents in this process: grows and shrinks the fleet with a
 * bounded number of connection set-ups in flight, and records what the
 * scenarios measure (Authenticate attempts per second, stream establishment
 * times, ack and apply times).
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { AgentEvent, JsonObject } from "../../src/events/cloudevent.ts";
import { SimAgent, type SimAgentHooks, type SimAgentOptions } from "./sim-agent.ts";

export interface FleetOptions {
  host: string;
  port: number;
  heartbeatMs: number;
  /** Connection set-ups in flight while growing. */
  rampConcurrency: number;
}

export interface AuthRecord {
  agent: string;
  at: number;
  ok?: boolean;
  /** When the answer came. */
  doneAt?: number;
}

export class Fleet implements SimAgentHooks {
  readonly agents: SimAgent[] = [];
  readonly opts: FleetOptions;
  /** Authenticate attempts (and outcomes) while recording is on. */
  authLog: AuthRecord[] | undefined;
  private readonly pendingAuth = new Map<SimAgent, AuthRecord>();
  readonly authErrors = new Map<string, number>();
  /** Per-scenario listeners, set and cleared by the scenarios. */
  established?: (agent: SimAgent, at: number) => void;
  applied?: (agent: SimAgent, ev: AgentEvent, payload: JsonObject | undefined, at: number, existed: boolean) => void;
  resyncDone?: (agent: SimAgent, at: number) => void;
  ackReceived?: (agent: SimAgent, ack: AgentEvent, at: number) => void;
  ackQueued?: (agent: SimAgent, ack: AgentEvent) => void;
  private readonly waiters = new Map<SimAgent, () => void>();
  agentOptions: Partial<SimAgentOptions> = {};

  constructor(opts: FleetOptions) {
    this.opts = opts;
  }

  get size(): number {
    return this.agents.length;
  }

  onAuthAttempt(agent: SimAgent, at: number): void {
    if (!this.authLog) return;
    const rec: AuthRecord = { agent: agent.name, at };
    this.authLog.push(rec);
    this.pendingAuth.set(agent, rec);
  }

  onAuthResult(agent: SimAgent, ok: boolean, code: string | undefined): void {
    const rec = this.pendingAuth.get(agent);
    if (rec) {
      rec.ok = ok;
      rec.doneAt = Date.now();
    }
    this.pendingAuth.delete(agent);
    if (!ok && code) this.authErrors.set(code, (this.authErrors.get(code) ?? 0) + 1);
  }

  onEstablished(agent: SimAgent, at: number): void {
    this.waiters.get(agent)?.();
    this.established?.(agent, at);
  }

  onApplied(agent: SimAgent, ev: AgentEvent, payload: JsonObject | undefined, at: number, existed: boolean): void {
    this.applied?.(agent, ev, payload, at, existed);
  }

  onResyncDone(agent: SimAgent, at: number): void {
    this.resyncDone?.(agent, at);
  }

  onAckQueued(agent: SimAgent, ack: AgentEvent): void {
    this.ackQueued?.(agent, ack);
  }

  onAckReceived(agent: SimAgent, ack: AgentEvent, at: number): void {
    this.ackReceived?.(agent, ack, at);
  }

  /** Adds agents agent-<size>… until there are n, each connected before it counts. Returns ms taken. */
  async grow(n: number, timeoutMs = 300_000): Promise<number> {
    const t0 = performance.now();
    const deadline = Date.now() + timeoutMs;
    let next = this.agents.length;
    const worker = async () => {
      while (next < n) {
        const i = next++;
        const agent = new SimAgent({
          name: `agent-${i}`,
          host: this.opts.host,
          port: this.opts.port,
          heartbeatMs: this.opts.heartbeatMs,
          hooks: this,
          ...this.agentOptions,
        });
        this.agents[i] = agent;
        const up = new Promise<void>((resolve) => this.waiters.set(agent, resolve));
        agent.start();
        const left = deadline - Date.now();
        const ok = await Promise.race([up.then(() => true), sleep(Math.max(0, left)).then(() => false)]);
        this.waiters.delete(agent);
        if (!ok) throw new Error(`agent-${i} did not connect in time (${[...agent.errors].map(([k, v]) => `${k}×${v}`).join(", ")})`);
      }
    };
    await Promise.all(Array.from({ length: this.opts.rampConcurrency }, worker));
    return performance.now() - t0;
  }

  /** Stops agents beyond the first n. */
  async shrink(n: number): Promise<void> {
    const gone = this.agents.splice(n);
    await Promise.all(gone.map((a) => a.stop()));
  }

  setHeartbeat(ms: number): void {
    this.opts.heartbeatMs = ms;
    for (const a of this.agents) a.setHeartbeat(ms);
  }

  connectedCount(): number {
    return this.agents.filter((a) => a.state === "connected").length;
  }

  /** Sum of a numeric per-agent figure. */
  sum(fn: (a: SimAgent) => number): number {
    let s = 0;
    for (const a of this.agents) s += fn(a);
    return s;
  }
}

/** Server-side ESTABLISHED TCP connections on a local port, from /proc/net/tcp{,6}. */
export async function establishedConnections(port: number): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const hex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  let n = 0;
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    const text = await readFile(file, "utf8").catch(() => "");
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(hex) && f[3] === "01") n++;
    }
  }
  return n;
}
