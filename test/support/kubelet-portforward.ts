/**
 * The kubelet's WebSocket port-forward (`/portForward/{ns}/{pod}?port=N`,
 * subprotocol `v4.channel.k8s.io`), for the kubelet stand-in: what the API
 * server's `pods/portforward` reaches when a client (e.g.
 * @kubernetes/client-node's PortForward) opens it as a WebSocket. Channel
 * 2i carries port i's data, 2i+1 its errors; the first frame on each is the
 * port number (uint16 little-endian), as the kubelet sends it. The pod's
 * network is stood in for by a table "pod port → 127.0.0.1:<port>": a pod
 * port with no entry, or a target that refuses, gets the kubelet's error
 * text on the error channel and the socket closed.
 */
import { connect, type Socket } from "node:net";
import type { WebSocket } from "ws";

export interface PortForwardRecord {
  path: string;
  ports: number[];
  protocol: string;
  closed: boolean;
}

/** `targets` maps `<ns>/<pod>:<podPort>` to a local TCP port. */
export function servePortForward(ws: WebSocket, url: URL, targets: Map<string, number>, records: PortForwardRecord[]): void {
  const [, , ns, pod] = url.pathname.split("/");
  const ports = [...url.searchParams.getAll("port"), ...url.searchParams.getAll("ports")].flatMap((p) => p.split(",")).map(Number);
  const rec: PortForwardRecord = { path: url.pathname, ports, protocol: ws.protocol, closed: false };
  records.push(rec);
  const frame = (channel: number, data: Buffer | string) => ws.send(Buffer.concat([Buffer.from([channel]), Buffer.from(data)]));
  const sockets: Socket[] = [];
  ws.on("close", () => {
    rec.closed = true;
    for (const s of sockets) s.destroy();
  });
  if (!ports.length || ports.some((p) => !Number.isInteger(p) || p <= 0 || p > 65535)) {
    ws.close(1008, "invalid port");
    return;
  }
  ports.forEach((port, i) => {
    const portBytes = Buffer.alloc(2);
    portBytes.writeUInt16LE(port);
    frame(2 * i, portBytes);
    frame(2 * i + 1, portBytes);
    const target = targets.get(`${ns}/${pod}:${port}`);
    const fail = (why: string) => {
      frame(2 * i + 1, `error forwarding port ${port} to pod ${pod}, uid : failed to connect to localhost:${port} inside namespace ${ns}: ${why}`);
      ws.close(1000);
    };
    if (target === undefined) return fail("connection refused");
    const socket = connect({ host: "127.0.0.1", port: target });
    sockets.push(socket);
    socket.on("data", (d: Buffer) => frame(2 * i, d));
    socket.on("error", (err) => fail(err.message));
    socket.on("end", () => ws.close(1000));
    ws.on("message", (data: Buffer) => {
      if (data[0] === 2 * i) socket.write(data.subarray(1));
    });
  });
}
