/**
 * How `ctl ha` reaches a principal's HA admin API without `--address`
 * (operations.md §1.2 "HA port-forward"): find the principal Pod
 * (`app.kubernetes.io/name=argocd-agent-principal` in the principal
 * namespace), open a listener on 127.0.0.1:<random>, and carry every TCP
 * connection made to it through the Kubernetes API's `pods/portforward`
 * to the Pod's port 8405 (fixed, as upstream: a non-default
 * `--ha-admin-port` is not followed). Each connection is its own
 * port-forward WebSocket (@kubernetes/client-node's PortForward); what the
 * API server or kubelet says when it refuses one (HTTP status and body, or
 * the port-forward error channel) is kept for the error message.
 *
 * @example
 *   const tunnel = await openPrincipalPortForward(ctx.kube(), "argocd");
 *   const admin = haAdminClient(tunnel.address, tunnel.description, tunnel);
 *   …; admin.close(); await tunnel.close();
 */
import { createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { PortForward, type V1Pod } from "@kubernetes/client-node";
import { WebSocketHandler } from "@kubernetes/client-node/dist/web-socket-handler.js";
import WebSocket from "ws";
import type { TypedKubeClient as KubeClient } from "../kube/typed-apis.ts";
import { CtlError } from "./ctl-context.ts";
import type { DialContext } from "./ha-admin-client.ts";

export const PRINCIPAL_POD_SELECTOR = "app.kubernetes.io/name=argocd-agent-principal";
/** Upstream's hard-coded HA admin port inside the principal Pod. */
export const HA_ADMIN_POD_PORT = 8405;
/** Bound on the remembered refusal text (a misbehaving server cannot grow it). */
const MAX_ERROR_CHARS = 2000;

export interface PortForwardTunnel extends DialContext {
  /** Where to dial: 127.0.0.1:<local port>. */
  address: string;
  pod: string;
  /** `pod <ns>/<name> port 8405 (port-forward)`, for messages. */
  description: string;
  close(): Promise<void>;
}

/** The principal Pod to forward to: the first Running one (upstream takes the first listed). */
async function principalPod(kube: KubeClient, namespace: string): Promise<string> {
  let pods: V1Pod[];
  try {
    pods = (await kube.core.listNamespacedPod({ namespace, labelSelector: PRINCIPAL_POD_SELECTOR })).items;
  } catch (err) {
    throw new CtlError(`cannot list principal pods in namespace ${namespace}: ${(err as Error).message}`);
  }
  const where = `with label ${PRINCIPAL_POD_SELECTOR} in namespace ${namespace}`;
  if (!pods.length) throw new CtlError(`no principal pod ${where} (give --principal-context/--principal-namespace, or --address)`);
  const running = pods.find((p) => p.status?.phase === "Running" && !p.metadata?.deletionTimestamp);
  if (!running) throw new CtlError(`no running principal pod ${where} (found ${pods.map((p) => `${p.metadata?.name}: ${p.status?.phase ?? "unknown"}`).join(", ")})`);
  return running.metadata!.name!;
}

export async function openPrincipalPortForward(kube: KubeClient, namespace: string): Promise<PortForwardTunnel> {
  const pod = await principalPod(kube, namespace);
  let lastError = "";
  /** False once the API server refused an upgrade: nothing reached the pod. */
  let reachedPod = true;
  const remember = (s: string, atPod = true) => {
    const t = s.trim();
    if (!t) return;
    lastError = t.slice(0, MAX_ERROR_CHARS);
    reachedPod = atPod;
  };
  // A WebSocket that reports why an upgrade was refused (status and body) instead of only "Unexpected server response".
  const handler = new WebSocketHandler(kube.kubeConfig, (uri, protocols, opts) => {
    const ws = new WebSocket(uri, protocols, opts as WebSocket.ClientOptions);
    ws.on("unexpected-response", (req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (body = (body + c).slice(0, MAX_ERROR_CHARS)));
      res.on("end", () => {
        remember(`the Kubernetes API refused the port-forward (HTTP ${res.statusCode}): ${statusMessage(body)}`, false);
        ws.terminate();
      });
      res.on("error", () => ws.terminate());
    });
    return ws as never;
  });
  const forward = new PortForward(kube.kubeConfig, true, handler);
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    const errors = new Writable({
      write(chunk: Buffer, _enc, done) {
        remember(`port-forward to pod ${namespace}/${pod} port ${HA_ADMIN_POD_PORT}: ${chunk.toString("utf8")}`);
        done();
      },
    });
    forward.portForward(namespace, pod, [HA_ADMIN_POD_PORT], socket, errors, socket).then(
      (ws) => {
        const w = ws as unknown as WebSocket;
        w.on("close", () => socket.end());
        w.on("error", (err) => {
          remember(`port-forward to pod ${namespace}/${pod}: ${err.message}`);
          socket.destroy();
        });
        socket.on("close", () => w.close());
      },
      (err: unknown) => {
        const msg = (err as { message?: string }).message;
        // An API refusal was already recorded (with its body) by the unexpected-response handler.
        if (reachedPod) remember(`port-forward to pod ${namespace}/${pod}: ${msg || String(err)}`, false);
        socket.destroy();
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    address: `127.0.0.1:${port}`,
    pod,
    description: `pod ${namespace}/${pod} port ${HA_ADMIN_POD_PORT} (port-forward)`,
    reason: () => lastError,
    reachedPod: () => reachedPod,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A Kubernetes Status body's message, or the body itself. */
function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: string };
    if (s.message) return s.message;
  } catch {
    // not JSON
  }
  return body.trim() || "(no body)";
}
