/**
 * Reading a component's Prometheus /metrics in tests, and waiting for a condition.
 *
 * @example
 *   await eventually("agent connected", async () => (await metric(port, "argocd_principal_connected_agents")) === 1);
 */
import { setTimeout as sleep } from "node:timers/promises";

/** Sum of a metric's samples whose label set contains `labels` (0 when the endpoint does not answer). */
export async function metric(port: number, name: string, labels = ""): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => "");
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})? (\S+)$/.exec(line);
    if (m && m[1] === name && (m[2] ?? "").includes(labels)) sum += Number(m[3]);
  }
  return sum;
}

/** Polls `fn` every 200 ms until it is true; throws naming `what` after `timeoutMs`. */
export async function eventually(what: string, fn: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(200);
  }
}
