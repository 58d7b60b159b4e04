/**
 * The health endpoint: `/healthz` (the process is alive) and `/readyz` (the
 * component is ready: listening/connected and informers synced), which
 * upstream documents but never serves. Nothing else is served on this port.
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

export async function startHealthServer(opts: { host?: string; port: number; ready: ReadinessCheck }): Promise<HealthServer> {
  const log = getLogger("observability");
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/healthz") {
      res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    } else if (path === "/readyz") {
      const reason = opts.ready();
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
