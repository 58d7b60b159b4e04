/**
 * Who is really on the other end of a call that arrived through the WebSocket bridge.
 * The bridge feeds each WebSocket into the grpc-js server as its own in-process HTTP/2
 * connection (no socket, nothing outside the process can reach it), so grpc-js sees
 * neither the client's address nor its TLS certificate. The bridge records them here,
 * keyed by the internal HTTP/2 session, before the first byte of that session is read;
 * the auth layer asks `bridgedPeerOf(call)`. Only the bridge can add an entry and a
 * session object cannot be named from the network, so no header or frame a client sends
 * can claim an identity: this is the only channel, and it carries only what the outer
 * TLS handshake verified.
 *
 * @example
 *   registerBridgedSession(session, { remoteAddress: "10.0.0.7", remotePort: 51234, peerCertificate });
 *   const peer = bridgedPeerOf(call); // in a grpc-js handler; undefined for native calls
 */
import type { Http2Session } from "node:http2";
import type { PeerCertificate } from "node:tls";
import { http2StreamOf } from "../grpc-internals.ts";

export interface BridgedPeer {
  remoteAddress: string;
  remotePort: number;
  /** The client certificate of the outer TLS connection, only when it was verified (`authorized`). */
  peerCertificate?: PeerCertificate;
}

const peers = new WeakMap<Http2Session, BridgedPeer>();

/** Called by the bridge only, for a session it created itself. */
export function registerBridgedSession(session: Http2Session, peer: BridgedPeer): void {
  peers.set(session, Object.freeze({ ...peer }));
}

/** The outer peer of a grpc-js server call that came through the bridge; undefined for any other call. */
export function bridgedPeerOf(call: object): BridgedPeer | undefined {
  const session = http2StreamOf(call)?.session;
  return session ? peers.get(session) : undefined;
}
