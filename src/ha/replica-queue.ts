/**
 * The replica's queue of received, not yet applied events, bounded. At the
 * bound the stream is paused: gRPC stops reading, HTTP/2 flow control holds
 * the primary's writes, and the primary's forwarder queue (1000) fills; past
 * that it disconnects this replica, which reconnects and re-snapshots, so
 * nothing is lost. The queue resumes the stream once it has drained to half.
 * Should items still arrive above the bound (a flow that ignores pause), the
 * queue fails with QueueOverflowError and drops what it holds: the caller
 * ends the connection and re-snapshots.
 *
 * @example
 *   const q = new BoundedEventQueue<Msg>(1000, stream);
 *   stream.on("data", (m) => q.push(m));
 *   stream.on("end", () => q.close(new Error("stream ended")));
 *   for (;;) { const m = await q.next(); if (m === WAKE) continue; handle(m); } // throws once closed
 */

export const WAKE = Symbol("wake");

export class QueueOverflowError extends Error {
  readonly dropped: number;
  constructor(max: number, dropped: number) {
    super(`replica event queue over its bound of ${max} events; dropped ${dropped} and re-syncing`);
    this.name = "QueueOverflowError";
    this.dropped = dropped;
  }
}

export interface Flow {
  pause(): unknown;
  resume(): unknown;
}

export class BoundedEventQueue<T> {
  readonly max: number;
  private readonly flow: Flow;
  private items: T[] = [];
  private head = 0;
  private waiter: ((v: T | typeof WAKE) => void) | undefined;
  private failure: Error | undefined;
  private paused = false;
  /** Most items held at once (tests, logs). */
  peak = 0;
  /** Times the stream was paused at the bound. */
  pauses = 0;

  constructor(max: number, flow: Flow) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`queue bound must be a positive integer, got ${max}`);
    this.max = max;
    this.flow = flow;
  }

  get size(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    if (this.failure) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      this.rejectWaiter = undefined;
      return w(item);
    }
    if (this.size >= this.max) return this.close(new QueueOverflowError(this.max, this.size + 1));
    this.items.push(item);
    this.peak = Math.max(this.peak, this.size);
    if (this.size >= this.max && !this.paused) {
      this.paused = true;
      this.pauses++;
      this.flow.pause();
    }
  }

  /** The next item, or WAKE after wake(); rejects with the close reason once closed. */
  next(): Promise<T | typeof WAKE> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.size > 0) {
      const item = this.items[this.head++]!;
      if (this.head > 1024 && this.head * 2 > this.items.length) {
        this.items = this.items.slice(this.head);
        this.head = 0;
      }
      if (this.paused && this.size <= this.max / 2) {
        this.paused = false;
        this.flow.resume();
      }
      return Promise.resolve(item);
    }
    return new Promise((resolve, reject) => {
      this.waiter = (v) => resolve(v);
      this.rejectWaiter = reject;
    });
  }

  private rejectWaiter: ((err: Error) => void) | undefined;

  /** Makes a pending next() resolve WAKE (a timer wants the loop's attention). */
  wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    this.rejectWaiter = undefined;
    w?.(WAKE);
  }

  /**
   * Fails the queue: held items are dropped (the caller re-snapshots), and
   * next() rejects with `reason`. The first reason wins.
   */
  close(reason: Error): void {
    if (this.failure) return;
    this.failure = reason;
    this.items = [];
    this.head = 0;
    const reject = this.rejectWaiter;
    this.waiter = undefined;
    this.rejectWaiter = undefined;
    reject?.(reason);
  }

  closed(): boolean {
    return this.failure !== undefined;
  }
}
