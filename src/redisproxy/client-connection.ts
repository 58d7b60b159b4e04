/**
 * One client connection of the redis proxy (live-resources.md §3.2–§3.3): its
 * own connection to the hub's redis, whose bytes are copied back unchanged;
 * the client's commands, parsed by `redis-parser`, are forwarded there except
 * GET/SUBSCRIBE on agent keys, which go to the agent as redis-request events
 * and are answered in upstream's bytes. Commands are handled in order; while
 * one waits for an agent the client is not read (upstream's synchronous loop),
 * which also bounds what a client can queue. Every failure upstream treats as
 * fatal for the connection (agent gone, no answer, agent error, malformed key
 * or RESP) closes only this connection, after an error reply that says why.
 */
import { randomUUID } from "node:crypto";
import type { Socket } from "node:net";
import RedisParser from "redis-parser";
import { getLogger } from "../observability/log.ts";
import type { AgentRedisCalls } from "./agent-calls.ts";
import type { RedisProxyCommand, RedisProxyMetrics } from "./metrics.ts";
import { CACHE_MISS, encodeCommand, errorReply, getHit, pushMessage, subscribeAck } from "./replies.ts";

const log = getLogger("redis-proxy");

export interface ConnectionDeps {
  calls: AgentRedisCalls;
  /** Which agent (if any) answers a key; `error` for a malformed agent key. */
  route(key: string): { agent?: string; error?: string };
  /** Opens the connection to the hub's redis (plain or TLS). */
  connectBackend(): Promise<Socket>;
  /** Interval of the liveness pings to each agent this connection uses (upstream: 1 min). */
  pingIntervalMs: number;
  /** Largest command a client may send (bytes of RESP). */
  maxCommandBytes: number;
  /** Bytes written to the client but not yet sent before we give up on it. */
  maxClientBacklogBytes: number;
  metrics?: RedisProxyMetrics;
  onClose(conn: ClientConnection): void;
}

type Part = Buffer;

interface AgentCommand {
  command: RedisProxyCommand;
  key: string;
  agent: string;
}

export class ClientConnection {
  readonly uuid = randomUUID();
  private backend: Socket | undefined;
  private readonly queue: Part[][] = [];
  private busy = false;
  private closed = false;
  private unparsed = 0;
  /** The client switched to RESP3 with HELLO 3 (go-redis does); RESP2 until then. */
  private resp3 = false;
  private readonly pings = new Map<string, NodeJS.Timeout>();
  private readonly parser: RedisParser;

  private readonly client: Socket;
  private readonly deps: ConnectionDeps;

  constructor(client: Socket, deps: ConnectionDeps) {
    this.client = client;
    this.deps = deps;
    this.parser = new RedisParser({
      returnBuffers: true,
      returnReply: (reply: unknown) => this.onCommand(reply),
      returnError: (err) => this.fail(`malformed request: ${err.message}`, "debug"),
      returnFatalError: (err) => this.fail(`malformed RESP: ${err.message}`, "debug"),
    });
  }

  /** Connects to the hub's redis, then starts reading the client. */
  async start(): Promise<void> {
    this.client.pause();
    this.client.on("error", (err) => this.close(`client error: ${err.message}`));
    this.client.on("close", () => this.close("client closed"));
    this.client.on("drain", () => this.backend?.resume());
    try {
      this.backend = await this.deps.connectBackend();
    } catch (err) {
      log.error("cannot connect to the hub's redis", { connectionUUID: this.uuid, error: (err as Error).message });
      return this.fail(`cannot connect to redis: ${(err as Error).message}`, "none");
    }
    if (this.closed) return void this.backend.destroy();
    this.backend.on("data", (chunk: Buffer) => this.toClient(chunk, this.backend));
    this.backend.on("error", (err) => log.debug("hub redis connection error", { connectionUUID: this.uuid, error: err.message }));
    this.backend.on("close", () => this.closeAfterFlush("the hub's redis closed the connection"));
    this.backend.on("drain", () => this.resumeClient());
    this.client.on("data", (chunk: Buffer) => this.onData(chunk));
    this.client.resume();
  }

  /** Closes at once (client gone, proxy shutting down). */
  close(reason: string): void {
    this.shutdown(reason, "debug");
  }

  private onData(chunk: Buffer): void {
    this.unparsed += chunk.length;
    if (this.unparsed > this.deps.maxCommandBytes) {
      return this.fail(`request larger than ${this.deps.maxCommandBytes} bytes`, "warn");
    }
    this.parser.execute(chunk);
  }

  private onCommand(reply: unknown): void {
    if (this.closed) return;
    this.unparsed = 0;
    if (!Array.isArray(reply)) return this.fail("malformed request: a command must be a RESP array of bulk strings", "debug");
    const parts: Part[] = [];
    for (const p of reply as unknown[]) {
      if (Buffer.isBuffer(p)) parts.push(p);
      else if (typeof p === "number" || typeof p === "string") parts.push(Buffer.from(String(p)));
      else return this.fail("malformed request: a command must be a RESP array of bulk strings", "debug");
    }
    this.queue.push(parts);
    this.drain();
  }

  /** Handles queued commands in order; an agent command stops reading the client until it is answered. */
  private drain(): void {
    while (!this.busy && !this.closed && this.queue.length) {
      const split = this.splitCommand(this.queue.shift()!);
      if (!split) return; // failed and closed
      if (split.rest && !this.backend!.write(encodeCommand(split.rest))) this.client.pause();
      if (!split.agent.length) continue;
      this.busy = true;
      this.client.pause();
      void (async () => {
        for (const c of split.agent) if (!this.closed) await this.runAgentCommand(c);
      })().finally(() => {
        this.busy = false;
        this.resumeClient();
        this.drain();
      });
    }
  }

  /**
   * What goes to agents and what to the hub's redis. `get <key>` on an agent
   * key goes to the agent; so does `subscribe` for each agent channel, the
   * other channels of the same command go to the hub (upstream routes only a
   * one-channel subscribe and sends a multi-channel one, e.g. a client's
   * resubscribe after a reconnect, to the hub whole). Undefined when a
   * malformed agent key closed the connection.
   */
  private splitCommand(parts: Part[]): { agent: AgentCommand[]; rest?: Part[] } | undefined {
    const name = parts[0]?.toString("latin1").toLowerCase();
    if (name === "hello" && parts[1]) this.resp3 = parts[1].toString("latin1") === "3";
    const isGet = name === "get" && parts.length === 2;
    if (!isGet && !(name === "subscribe" && parts.length >= 2)) return { agent: [], rest: parts };
    const agent: AgentCommand[] = [];
    const hub: Part[] = [];
    for (const p of parts.slice(1)) {
      const key = p.toString("utf8");
      const r = this.deps.route(key);
      if (r.error) return void this.fail(r.error, "warn");
      if (r.agent) agent.push({ command: isGet ? "get" : "subscribe", key, agent: r.agent });
      else hub.push(p);
    }
    return { agent, ...(hub.length ? { rest: [parts[0]!, ...hub] } : {}) };
  }

  private async runAgentCommand(c: AgentCommand): Promise<void> {
    const { calls, metrics } = this.deps;
    metrics?.request(c.agent, c.command);
    this.startPings(c.agent);
    if (c.command === "subscribe") calls.track(this.uuid, c.agent, (_agent, channel) => this.toClient(pushMessage(channel, this.resp3)));
    const started = performance.now();
    const r = await calls.call(c.agent, this.uuid, c.command === "get" ? { get: { key: c.key } } : { subscribe: { channel: c.key } });
    if (this.closed) return;
    metrics?.latency(c.agent, (performance.now() - started) / 1000);
    const failed = (why: string) => {
      metrics?.error(c.agent, c.command);
      this.fail(`${c.command} '${c.key}': ${why}`, "warn", c.agent);
    };
    if (!r.ok) return failed(r.error);
    if (c.command === "subscribe") {
      const err = r.body.subscribeResponse?.error;
      if (err) return failed(`the agent could not subscribe: ${err}`);
      return this.toClient(subscribeAck(c.key, this.resp3));
    }
    const get = r.body.get;
    if (!get) return failed("the agent's answer has no get body");
    if (get.error) return failed(`the agent's redis answered: ${get.error}`);
    this.toClient(get.cacheHit ? getHit(Buffer.from(get.bytes ?? "", "base64")) : CACHE_MISS);
  }

  /** Upstream's liveness check: a ping per agent every minute; no answer closes the connection. */
  private startPings(agent: string): void {
    if (this.pings.has(agent)) return;
    const timer = setInterval(() => {
      void this.deps.calls.call(agent, this.uuid, { ping: {} }).then((r) => {
        if (!r.ok && !this.closed) this.fail(`liveness ping: ${r.error}`, "warn", agent);
      });
    }, this.deps.pingIntervalMs);
    timer.unref();
    this.pings.set(agent, timer);
  }

  /** Writes to the client with backpressure on the hub's redis; a client that stops reading is dropped. */
  private toClient(bytes: Buffer, from?: Socket): void {
    if (this.closed) return;
    if (!this.client.write(bytes)) {
      from?.pause();
      if (this.client.writableLength > this.deps.maxClientBacklogBytes) this.close("the client does not read its replies");
    }
  }

  private resumeClient(): void {
    if (!this.closed && !this.busy && !this.backend?.writableNeedDrain) this.client.resume();
  }

  /** Sends an error reply saying why, then closes; `level` is the log level of the message. */
  private fail(message: string, level: "debug" | "warn" | "none", agent?: string): void {
    if (this.closed) return;
    if (level !== "none") log[level]("closing redis proxy connection", { connectionUUID: this.uuid, agent, reason: message });
    this.shutdown(message, undefined, errorReply(`argocd-agent redis proxy: ${message}`));
  }

  /** Ends after the client got what the hub's redis sent (e.g. after QUIT). */
  private closeAfterFlush(reason: string): void {
    this.shutdown(reason, "debug", Buffer.alloc(0));
  }

  /** Closes once: `lastWords` are flushed before the socket ends, otherwise it is destroyed at once. */
  private shutdown(reason: string, level: "debug" | undefined, lastWords?: Buffer): void {
    if (this.closed) return;
    this.closed = true;
    if (level) log.debug("redis proxy connection closed", { connectionUUID: this.uuid, reason });
    for (const t of this.pings.values()) clearInterval(t);
    this.pings.clear();
    this.queue.length = 0;
    this.deps.calls.untrack(this.uuid);
    this.backend?.destroy();
    if (lastWords) {
      this.client.end(lastWords);
      // A client that never reads must not keep the socket: give the last words a moment.
      setTimeout(() => this.client.destroy(), 1000).unref();
    } else this.client.destroy();
    this.deps.onClose(this);
  }
}
