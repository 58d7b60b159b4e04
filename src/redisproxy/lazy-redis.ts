/**
 * A redis client whose ioredis is loaded and created on the first command (issue #19):
 * ioredis costs ~2 MiB of heap in every process that evaluates it, and many never send a
 * command: a principal whose agents have no cluster secret, an autonomous agent nobody asks
 * for a resource tree, a managed agent before its first cluster cache report. `RedisClient`
 * is the part of ioredis's API the redis rooms use; ioredis's own `Redis` satisfies it too
 * (tests pass one directly). Listeners added before the client exists are attached to it
 * when it is made; `disconnect()` before that just means it is never connected.
 *
 * @example
 *   const client = new LazyRedis(async () => new (await import("ioredis")).Redis({ lazyConnect: true }));
 *   client.on("error", log);            // nothing loaded yet
 *   await client.getBuffer("key");       // loads ioredis, connects, runs GET
 */
import type { Redis } from "ioredis";

type Listener = (...args: never[]) => void;

/** The ioredis commands and events the redis rooms use. */
export interface RedisClient {
  getBuffer(key: string): Promise<Buffer | null>;
  set(key: string, value: Buffer | string, expiry: "EX", seconds: number): Promise<unknown>;
  subscribe(channel: string): Promise<unknown>;
  unsubscribe(channel: string): Promise<unknown>;
  /** A second connection with the same settings (for subscriptions); listeners are not copied. */
  duplicate(): RedisClient;
  on(event: "error", listener: (err: Error) => void): unknown;
  on(event: "ready", listener: () => void): unknown;
  on(event: "messageBuffer", listener: (channel: Buffer, message: Buffer) => void): unknown;
  disconnect(): void;
}

export class LazyRedis implements RedisClient {
  private client: Redis | undefined;
  private making: Promise<Redis> | undefined;
  private closed = false;
  private readonly listeners: [string, Listener][] = [];
  private readonly make: () => Promise<Redis>;

  constructor(make: () => Promise<Redis>) {
    this.make = make;
  }

  /** Whether ioredis has been asked for a client yet (tests, diagnostics). */
  get created(): boolean {
    return this.making !== undefined;
  }

  private redis(): Promise<Redis> {
    this.making ??= this.make().then((c) => {
      for (const [event, fn] of this.listeners) c.on(event, fn as (...args: unknown[]) => void);
      this.client = c;
      if (this.closed) c.disconnect();
      return c;
    });
    return this.making;
  }

  async getBuffer(key: string): Promise<Buffer | null> {
    return (await this.redis()).getBuffer(key);
  }

  async set(key: string, value: Buffer | string, expiry: "EX", seconds: number): Promise<unknown> {
    return (await this.redis()).set(key, value, expiry, seconds);
  }

  async subscribe(channel: string): Promise<unknown> {
    return (await this.redis()).subscribe(channel);
  }

  async unsubscribe(channel: string): Promise<unknown> {
    // Nothing can be subscribed on a client that was never made.
    return this.making ? (await this.redis()).unsubscribe(channel) : 0;
  }

  duplicate(): RedisClient {
    return new LazyRedis(async () => (await this.redis()).duplicate());
  }

  on(event: "error", listener: (err: Error) => void): this;
  on(event: "ready", listener: () => void): this;
  on(event: "messageBuffer", listener: (channel: Buffer, message: Buffer) => void): this;
  on(event: string, listener: Listener): this {
    this.listeners.push([event, listener]);
    this.client?.on(event, listener as (...args: unknown[]) => void);
    return this;
  }

  disconnect(): void {
    this.closed = true;
    this.client?.disconnect();
  }
}
