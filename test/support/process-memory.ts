/**
 * Resident memory of another process, read from /proc (Linux), for the tests
 * and benches that bound what a misbehaving peer can make the principal hold.
 */
import { readFileSync } from "node:fs";

/** VmRSS of a process in MiB. */
export function rssMiB(pid: number): number {
  const m = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
  if (!m) throw new Error(`no VmRSS for pid ${pid}`);
  return Math.round(Number(m[1]) / 1024);
}

/** Samples VmRSS every `everyMs` until stopped; reports the peak. */
export function watchRss(pid: number, everyMs = 200): { peak(): number; stop(): number } {
  let peak = rssMiB(pid);
  const timer = setInterval(() => {
    try {
      peak = Math.max(peak, rssMiB(pid));
    } catch {
      /* process gone */
    }
  }, everyMs);
  return {
    peak: () => peak,
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

/**
 * What a Node process holds after a full garbage collection, read through its
 * inspector (start it with NODE_OPTIONS=--inspect=127.0.0.1:<port>). Unlike RSS,
 * which keeps pages the allocator got earlier, this is what is still reachable:
 * JS heap plus Buffers and other memory outside it, in MiB.
 */
export async function heldAfterGcMiB(inspectPort: number): Promise<{ heapUsed: number; external: number; total: number }> {
  const { WebSocket } = await import("ws");
  const list = (await (await fetch(`http://127.0.0.1:${inspectPort}/json/list`)).json()) as { webSocketDebuggerUrl: string }[];
  const ws = new WebSocket(list[0]!.webSocketDebuggerUrl);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  let id = 0;
  const call = (method: string, params: object = {}) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((resolve, reject) => {
      const my = ++id;
      const onMessage = (data: Buffer) => {
        const msg = JSON.parse(data.toString()) as { id?: number; error?: unknown };
        if (msg.id !== my) return;
        ws.off("message", onMessage);
        if (msg.error) reject(new Error(`${method}: ${JSON.stringify(msg.error)}`));
        else resolve(msg as { result?: { result?: { value?: unknown } } });
      };
      ws.on("message", onMessage);
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  try {
    // Twice: the first collection may leave finalizers that free more on the second.
    await call("HeapProfiler.collectGarbage");
    await call("HeapProfiler.collectGarbage");
    const r = await call("Runtime.evaluate", { expression: "JSON.stringify(process.memoryUsage())", returnByValue: true });
    const m = JSON.parse(String(r.result?.result?.value)) as { heapUsed: number; external: number };
    const mib = (n: number) => Math.round((n / 1048576) * 10) / 10;
    return { heapUsed: mib(m.heapUsed), external: mib(m.external), total: mib(m.heapUsed + m.external) };
  } finally {
    ws.close();
  }
}
