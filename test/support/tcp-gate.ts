/**
 * A TCP forwarder in front of a kube-apiserver that tests can close and
 * reopen, to play an API server that is down (connections refused, open ones
 * reset) or not up yet, without stopping the real one. `kubeconfigPath` is a
 * copy of the cluster's kubeconfig pointing at the gate (same certificates:
 * both listen on 127.0.0.1).
 *
 * @example
 *   const gate = await startTcpGate(env.cluster("control-plane"), { open: false });
 *   await h.startPrincipal({ kubeconfig: gate.kubeconfigPath });
 *   await gate.open();
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import type { KubeClusterHandle } from "./kube-env.ts";
import { freePort } from "./processes.ts";

export interface TcpGate {
  kubeconfigPath: string;
  /** Starts accepting (the API server is "up"). */
  open(): Promise<void>;
  /** Refuses new connections and resets open ones (the API server is "down"). */
  close(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTcpGate(cluster: KubeClusterHandle, opts: { open?: boolean } = {}): Promise<TcpGate> {
  const target = new URL(cluster.server);
  const port = await freePort();
  const kubeconfigPath = cluster.kubeconfigPath.replace(/\.yaml$/, `-gate-${port}.yaml`);
  writeFileSync(kubeconfigPath, readFileSync(cluster.kubeconfigPath, "utf8").replace(cluster.server, `https://127.0.0.1:${port}`), { mode: 0o600 });
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const gate: TcpGate = {
    kubeconfigPath,
    async open() {
      if (server) return;
      server = createServer((client) => {
        const upstream = createConnection({ host: target.hostname, port: Number(target.port) });
        track(client);
        track(upstream);
        client.pipe(upstream).pipe(client);
        client.on("close", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
      });
      const s = server;
      await new Promise<void>((resolve, reject) => {
        s.once("error", reject);
        s.listen(port, "127.0.0.1", () => resolve());
      });
    },
    async close() {
      const s = server;
      server = undefined;
      for (const sock of sockets) sock.destroy();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    async stop() {
      await gate.close();
    },
  };
  if (opts.open ?? true) await gate.open();
  return gate;
}
