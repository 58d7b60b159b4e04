/**
 * The agent's pass over followed log bytes. A follow stream always asks the
 * API server for timestamps, because a resumed stream must start where the
 * last one stopped; this filter then
 * - drops the lines a resumed stream repeats (sinceTime has second precision:
 *   lines older than the last one sent, and those at its very instant that
 *   were sent already),
 * - strips the timestamps again when the caller did not ask for them,
 * - enforces limitBytes on what the caller receives, and
 * - remembers the resume point (the newest complete line's instant), once
 *   the caller says the bytes went out (commit()): lines read but not sent
 *   when the connection broke are read again.
 * Memory: one partial line of at most MAX_LINE_BYTES is held back.
 *
 * @example
 *   const f = new LogLineFilter({ strip: true });
 *   send(f.push(chunk)); … send(f.end());
 *   next = new LogLineFilter({ strip: true, resumeAfter: f.resumePoint() });
 */
import { parseTimestampNs } from "./log-request.ts";

export const MAX_LINE_BYTES = 64 * 1024;
/** Lines remembered at one instant (a burst at exactly one nanosecond is rare). */
const MAX_LINES_AT_INSTANT = 1024;
const NL = 0x0a;

export interface ResumePoint {
  ns: bigint;
  /** Full lines (with timestamp) already sent at exactly `ns`. */
  lines: Set<string>;
}

export interface LogLineFilterOptions {
  strip: boolean;
  resumeAfter?: ResumePoint;
  /** Bytes the caller may still receive (limitBytes minus what was sent). */
  limitBytes?: number;
}

export class LogLineFilter {
  private carry: Buffer = Buffer.alloc(0);
  /** Decision for the rest of a line longer than MAX_LINE_BYTES. */
  private midLine: { drop: boolean } | undefined;
  private skipping: boolean;
  private last: ResumePoint | undefined;
  private committed: ResumePoint | undefined;
  private left: number | undefined;
  sent = 0;
  private readonly o: LogLineFilterOptions;

  constructor(o: LogLineFilterOptions) {
    this.o = o;
    this.skipping = o.resumeAfter !== undefined;
    this.last = o.resumeAfter && { ns: o.resumeAfter.ns, lines: new Set(o.resumeAfter.lines) };
    this.committed = o.resumeAfter;
    this.left = o.limitBytes;
  }

  /** limitBytes reached: nothing more will be returned. */
  get exhausted(): boolean {
    return this.left !== undefined && this.left <= 0;
  }

  /** Where a new attempt starts: after the last line of the last committed push. */
  resumePoint(): ResumePoint | undefined {
    return this.committed;
  }

  /** What push() and end() returned so far has been sent. */
  commit(): void {
    this.committed = this.last && { ns: this.last.ns, lines: new Set(this.last.lines) };
  }

  push(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let data = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = Buffer.alloc(0);
    for (;;) {
      const nl = data.indexOf(NL);
      if (nl < 0) break;
      const line = data.subarray(0, nl + 1);
      data = data.subarray(nl + 1);
      if (this.midLine) {
        if (!this.midLine.drop) out.push(line);
        this.midLine = undefined;
      } else {
        out.push(this.line(line, true));
      }
    }
    if (this.midLine) {
      if (!this.midLine.drop) out.push(data);
    } else if (data.length > MAX_LINE_BYTES) {
      out.push(this.line(data, false));
    } else {
      this.carry = Buffer.from(data);
    }
    return this.limit(Buffer.concat(out));
  }

  /** The held-back partial line, at the end of the stream. */
  end(): Buffer {
    const rest = this.carry;
    this.carry = Buffer.alloc(0);
    if (!rest.length || this.midLine) return Buffer.alloc(0);
    return this.limit(this.line(rest, false));
  }

  private limit(b: Buffer): Buffer {
    if (this.left === undefined) return b;
    const part = b.length > this.left ? b.subarray(0, Math.max(0, this.left)) : b;
    this.left -= part.length;
    this.sent += part.length;
    return part;
  }

  /** One line (complete when `whole`); returns what to send of it. */
  private line(line: Buffer, whole: boolean): Buffer {
    const space = line.subarray(0, 41).indexOf(0x20);
    const token = space > 0 ? line.subarray(0, space).toString("latin1") : "";
    const ns = token ? parseTimestampNs(token) : undefined;
    const text = line.toString("latin1").replace(/\r?\n$/, "");
    let drop = false;
    if (this.skipping && ns !== undefined && this.last) {
      if (ns < this.last.ns || (ns === this.last.ns && this.last.lines.has(text))) drop = true;
      else this.skipping = false;
    } else {
      this.skipping = false;
    }
    if (!whole) this.midLine = { drop };
    if (drop) return Buffer.alloc(0);
    if (ns !== undefined && whole) {
      if (!this.last || ns > this.last.ns) this.last = { ns, lines: new Set([text]) };
      else if (ns === this.last.ns && this.last.lines.size < MAX_LINES_AT_INSTANT) this.last.lines.add(text);
    }
    return this.o.strip && ns !== undefined ? line.subarray(space + 1) : line;
  }
}
