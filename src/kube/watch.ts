/**
 * One watch request (`?watch=true`) over http-transport.ts: each newline-delimited JSON event
 * goes to `onEvent`, and `onDone` is called exactly once when the stream ends (null), fails, is
 * aborted, or stays silent for `idleMs` (an error named "TimeoutError", as client-node's Watch
 * reports it: the informer treats it as an idle watch and resumes). A line longer than
 * `maxLineBytes` ends the watch with an error instead of growing a buffer without bound.
 *
 * @example
 *   const ac = await watchOnce(kc, "/api/v1/namespaces/argocd/configmaps", { resourceVersion: "42" },
 *     (type, obj) => console.log(type, obj), (err) => console.log("done", err));
 *   ac.abort(); // stops it (onDone(null) follows)
 */
import type { KubeConfig } from "@kubernetes/client-node";
import { STATUS_CODES } from "node:http";
import { openKubeRequest, readBody, type KubeHttpRequest } from "./http-transport.ts";

/** Silence after which the watch is closed and resumed by its caller (client-node uses 30 s too). */
export const WATCH_IDLE_MS = 30_000;
/** Longest event line: an object is at most ~1.5 MiB in etcd; far above that is not an API server. */
export const MAX_WATCH_LINE_BYTES = 16 * 1024 * 1024;

export interface WatchOptions {
  idleMs?: number;
  maxLineBytes?: number;
}

/** Starts the watch; resolves with a controller that stops it once the request is sent. */
export async function watchOnce(
  kc: KubeConfig,
  path: string,
  query: KubeHttpRequest["query"],
  onEvent: (type: string, obj: unknown) => void,
  onDone: (err: unknown) => void,
  opts: WatchOptions = {},
): Promise<AbortController> {
  const controller = new AbortController();
  const idleMs = opts.idleMs ?? WATCH_IDLE_MS;
  const maxLine = opts.maxLineBytes ?? MAX_WATCH_LINE_BYTES;
  let finished = false;
  let timer: NodeJS.Timeout | undefined;
  const finish = (err: unknown) => {
    if (finished) return;
    finished = true;
    clearTimeout(timer);
    controller.abort();
    onDone(err);
  };
  const idle = () => {
    clearTimeout(timer);
    timer = setTimeout(() => finish(Object.assign(new Error(`watch silent for ${idleMs} ms`), { name: "TimeoutError" })), idleMs);
    timer.unref();
  };
  controller.signal.addEventListener("abort", () => finish(null), { once: true });
  idle();
  try {
    const res = await openKubeRequest(kc, { method: "GET", path, query: { ...query, watch: "true" }, signal: controller.signal });
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const body = await readBody(res, 64 * 1024).catch(() => Buffer.alloc(0));
      let message = res.statusMessage || STATUS_CODES[status] || "Internal Server Error";
      try {
        message = (JSON.parse(body.toString("utf8")) as { message?: string }).message ?? message;
      } catch {
        // not a Status object
      }
      finish(Object.assign(new Error(message), { statusCode: status }));
      return controller;
    }
    idle();
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    res.on("data", (chunk: Buffer) => {
      if (finished) return;
      idle();
      let start = 0;
      for (let nl = chunk.indexOf(10); nl !== -1; nl = chunk.indexOf(10, start)) {
        const part = chunk.subarray(start, nl);
        const line = pendingBytes ? Buffer.concat([...pending, part]) : part;
        pending = [];
        pendingBytes = 0;
        start = nl + 1;
        if (line.length > maxLine) return finish(new RangeError(`watch event of ${line.length} bytes is larger than ${maxLine}`));
        deliver(line, onEvent);
        if (finished) return;
      }
      if (start < chunk.length) {
        pending.push(chunk.subarray(start));
        pendingBytes += chunk.length - start;
        if (pendingBytes > maxLine) finish(new RangeError(`watch event larger than ${maxLine} bytes`));
      }
    });
    res.on("end", () => finish(null));
    res.on("close", () => finish(null));
    res.on("error", (err) => finish(err));
  } catch (err) {
    finish(controller.signal.aborted ? null : err);
  }
  return controller;
}

function deliver(line: Buffer, onEvent: (type: string, obj: unknown) => void): void {
  if (line.length === 0 || (line.length === 1 && line[0] === 13)) return;
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line.toString("utf8")) as typeof event;
  } catch {
    return; // not JSON: skipped, as client-node does
  }
  if (typeof event?.type === "string") onEvent(event.type, event.object);
}
