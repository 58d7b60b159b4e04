/**
 * Profiling behind upstream's `--pprof-port` (operations.md §6.2), with Node's
 * equivalents of Go's pprof handlers, on 127.0.0.1 only as upstream binds it:
 * `/debug/pprof/heap` streams a V8 heap snapshot (.heapsnapshot, open it in
 * Chrome DevTools → Memory), `/debug/pprof/profile?seconds=N` records a CPU
 * profile for N seconds (default 30, as Go; .cpuprofile for DevTools →
 * Performance or speedscope), `/debug/pprof/allocs?seconds=N` a sampling heap
 * profile (.heapprofile), `/debug/pprof/cmdline` the command line, and
 * `/debug/pprof/` lists them. The inspector is loaded on the first profile
 * request only; one recording runs at a time. A heap snapshot stops the process
 * while it is written (as in Go, do not take them in a tight loop).
 *
 * @example
 *   const pprof = await startProfilingServer({ port: 6060 });
 *   // curl -o heap.heapsnapshot http://127.0.0.1:6060/debug/pprof/heap
 *   // curl -o cpu.cpuprofile 'http://127.0.0.1:6060/debug/pprof/profile?seconds=10'
 *   await pprof.close();
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { getHeapSnapshot } from "node:v8";
import { getLogger } from "./log.ts";

export const PPROF_PREFIX = "/debug/pprof/";
/** Go's default for /profile. */
const DEFAULT_SECONDS = 30;
const MAX_SECONDS = 600;

export interface ProfilingServer {
  port: number;
  close(): Promise<void>;
}

const INDEX = `argocd-agent profiling (Node's equivalents of Go's net/http/pprof)

/debug/pprof/heap                V8 heap snapshot (.heapsnapshot; Chrome DevTools > Memory > Load)
/debug/pprof/profile?seconds=N   CPU profile over N seconds, default ${DEFAULT_SECONDS} (.cpuprofile; DevTools > Performance, speedscope)
/debug/pprof/allocs?seconds=N    sampling heap profile over N seconds, default ${DEFAULT_SECONDS} (.heapprofile; DevTools > Memory)
/debug/pprof/cmdline             the command line, NUL-separated
`;

/** seconds=N as Go parses it: an integer; here 1..MAX_SECONDS. */
function parseSeconds(url: URL): number | string {
  const raw = url.searchParams.get("seconds");
  if (raw === null || raw === "") return DEFAULT_SECONDS;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1 || n > MAX_SECONDS) return `seconds must be an integer from 1 to ${MAX_SECONDS}, got ${JSON.stringify(raw)}`;
  return n;
}

function fileName(kind: string): string {
  return `argocd-agent-${process.pid}-${new Date().toISOString().replace(/[:.]/g, "")}.${kind}`;
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { "content-type": "text/plain; charset=utf-8" }).end(body);
}

/** Resolves after `ms`, or earlier when the client went away (the response closes unanswered). */
function recordFor(res: ServerResponse, ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      res.off("close", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    res.once("close", done);
  });
}

type Recording = "cpu" | "allocs";
const recordings = new Set<Recording>();

/** Runs one inspector recording (CPU or sampling heap profiler) for `seconds`. */
async function record(kind: Recording, res: ServerResponse, seconds: number): Promise<unknown> {
  const { Session } = await import("node:inspector/promises");
  const session = new Session();
  session.connect();
  try {
    if (kind === "cpu") {
      await session.post("Profiler.enable");
      await session.post("Profiler.start");
      await recordFor(res, seconds * 1000);
      return (await session.post("Profiler.stop")).profile;
    }
    await session.post("HeapProfiler.enable");
    await session.post("HeapProfiler.startSampling");
    await recordFor(res, seconds * 1000);
    return (await session.post("HeapProfiler.stopSampling")).profile;
  } finally {
    session.disconnect();
  }
}

async function serveRecording(kind: Recording, url: URL, res: ServerResponse): Promise<void> {
  const seconds = parseSeconds(url);
  if (typeof seconds === "string") return text(res, 400, seconds + "\n");
  if (recordings.has(kind)) return text(res, 409, `a ${kind === "cpu" ? "CPU" : "heap sampling"} profile is already being recorded; try again later\n`);
  recordings.add(kind);
  try {
    const profile = await record(kind, res, seconds);
    if (res.destroyed) return;
    res.writeHead(200, {
      "content-type": "application/json",
      "content-disposition": `attachment; filename="${fileName(kind === "cpu" ? "cpuprofile" : "heapprofile")}"`,
    });
    res.end(JSON.stringify(profile));
  } finally {
    recordings.delete(kind);
  }
}

function serveHeap(res: ServerResponse): void {
  const snapshot = getHeapSnapshot();
  res.writeHead(200, { "content-type": "application/json", "content-disposition": `attachment; filename="${fileName("heapsnapshot")}"` });
  snapshot.pipe(res);
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== "GET") return void res.writeHead(405, { allow: "GET" }).end();
  const url = new URL(req.url ?? "/", "http://localhost");
  const path = url.pathname === "/debug/pprof" ? PPROF_PREFIX : url.pathname;
  switch (path) {
    case PPROF_PREFIX:
      return text(res, 200, INDEX);
    case `${PPROF_PREFIX}heap`:
      return serveHeap(res);
    case `${PPROF_PREFIX}profile`:
      return serveRecording("cpu", url, res);
    case `${PPROF_PREFIX}allocs`:
      return serveRecording("allocs", url, res);
    case `${PPROF_PREFIX}cmdline`:
      return text(res, 200, process.argv.join("\x00"));
    default:
      return text(res, 404, `not found; see ${PPROF_PREFIX}\n`);
  }
}

/** Serves the profiling endpoints on host (default 127.0.0.1, as upstream) and port. */
export async function startProfilingServer(opts: { port: number; host?: string }): Promise<ProfilingServer> {
  const log = getLogger("observability");
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      log.warn("profiling request failed", { path: req.url, error: err.message });
      if (!res.headersSent) text(res, 500, `profiling failed: ${err.message}\n`);
      else res.destroy();
    });
  });
  const host = opts.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", (err: Error) => reject(new Error(`--pprof-port ${opts.port}: cannot listen on ${host}: ${err.message}`)));
    server.listen(opts.port, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info("profiling endpoint listening", { address: `${host}:${port}`, path: PPROF_PREFIX });
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
