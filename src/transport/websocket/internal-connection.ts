/**
 * In-process HTTP/2 connections into the principal's grpc-js server, one per bridged
 * WebSocket. Each is a `stream.duplexPair()`: one end is injected into grpc-js (through
 * its public `createConnectionInjector`, plaintext, since the outer TLS is already
 * terminated), the other end carries an HTTP/2 client session. There is no socket, port
 * or file, so nothing outside the process can open such a connection, and each new
 * server session is tied to the outer peer (bridged-peer.ts) synchronously, before any
 * of its bytes are read; a session that appears without a peer is destroyed.
 *
 * @example
 *   const connector = createInternalConnector(grpcServer);
 *   const session = connector.connect({ remoteAddress: "10.0.0.7", remotePort: 51234 });
 *   const req = session.request({ ":method": "POST", ":path": "/versionapi.Version/Version", … });
 */
import { connect, type ClientHttp2Session, type Http2Server, type Http2Session } from "node:http2";
import { duplexPair } from "node:stream";
import { ServerCredentials, type Server } from "@grpc/grpc-js";
import { grpcHttp2Servers } from "../grpc-internals.ts";
import { registerBridgedSession, type BridgedPeer } from "./bridged-peer.ts";

export interface InternalConnector {
  connect(peer: BridgedPeer): ClientHttp2Session;
  /** Refuses new connections and ends the injector's sessions (grpc-js shutdown does this too). */
  destroy(): void;
}

function http2ServersOf(server: Server): Set<Http2Server> {
  try {
    return new Set(grpcHttp2Servers(server));
  } catch {
    return new Set();
  }
}

export function createInternalConnector(server: Server): InternalConnector {
  const before = http2ServersOf(server);
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  const h2 = [...http2ServersOf(server)].find((s) => !before.has(s));
  if (!h2) throw new Error("grpc-js internals changed: the connection injector has no HTTP/2 server to attach to");
  let pending: BridgedPeer | undefined;
  let destroyed = false;
  // Node emits 'session' synchronously inside injectConnection; run before grpc-js's own listener.
  h2.prependListener("session", (session: Http2Session) => {
    if (!pending) {
      session.destroy();
      return;
    }
    registerBridgedSession(session, pending);
    pending = undefined;
  });
  return {
    connect(peer) {
      if (destroyed) throw new Error("the principal is shutting down");
      const [clientEnd, serverEnd] = duplexPair();
      pending = peer;
      try {
        injector.injectConnection(serverEnd);
      } finally {
        const unclaimed = pending !== undefined;
        pending = undefined;
        if (unclaimed) {
          serverEnd.destroy();
          clientEnd.destroy();
        }
      }
      if (serverEnd.destroyed) throw new Error("grpc-js did not take the internal connection");
      return connect("http://grpc-ws.internal", { createConnection: () => clientEnd });
    },
    destroy() {
      destroyed = true;
      injector.destroy();
    },
  };
}
