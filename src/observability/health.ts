/**
 * The health endpoint: `/healthz` (the process is alive), `/readyz` (the
 * component is ready: listening/connected and informers synced), which
 * upstream documents but never serves, and `/livez` (always 200 while the
 * process serves). Nothing else is served on this port.
 *
 * With principal HA, `/healthz` is what a GSLB checks, as upstream: every
 * answer carries `X-HA-State`, and a principal that is not active answers
 * 503 `HA state: <state> - not accepting traffic`. `/readyz` is 503 then too.
 * Liveness probes must use `/livez` in HA mode: a passive principal is alive
 * but not ready (upstream's liveness probe on `/healthz` restarts it).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { getLogger } from "./log.ts";

export interface ReadinessCheck {
  /** Returns undefined when ready, else the reason it is not. */
  (): string | undefined;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** The HA state as health answers need it (src/ha/). */
export interface HealthHaState {
  state(): string;
  active(): boolean;
}

export async function startHealthServer(opts: { host?: string; port: number; ready: ReadinessCheck; ha?: HealthHaState }): Promise<HealthServer> {
  const log = getLogger("observability");
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    const ha = opts.ha;
    if (path === "/healthz") {
      const haHeaders = ha ? { "X-HA-State": ha.state() } : {};
      if (ha && !ha.active()) {
        res.writeHead(503, { "content-type": "text/plain", ...haHeaders }).end(`HA state: ${ha.state()} - not accepting traffic\n`);
      } else res.writeHead(200, { "content-type": "text/plain", ...haHeaders }).end("ok\n");
    } else if (path === "/livez") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const reason = opts.ready() ?? (ha && !ha.active() ? `HA state ${ha.state()}` : undefined);
      if (reason === undefined) res.writeHead(200, { "content-type": "text/plain" }).end("ready\n");
      else res.writeHead(503, { "content-type": "text/plain" }).end(`not ready: ${reason}\n`);
    } else {
      res.writeHead(404, { "content-type": "text/plain" }).end("not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  log.info("health endpoint listening", { port });
  return {
    port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
