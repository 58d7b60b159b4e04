/**
 * The replicationapi.Replication service on the principal's main gRPC port
 * (operations.md §4.4, §4.5). Always registered: without --ha-enabled every
 * RPC answers UNIMPLEMENTED "replication not enabled". With HA, callers are
 * NOT agents and carry no JWT: the identity comes from the server's own auth
 * method — mtls (from the verified client certificate, as upstream) or, our
 * documented extension for service meshes, header (from the mesh's identity
 * header). userpass → UNAUTHENTICATED. A non-empty
 * --ha-allowed-replication-clients must list the identity (else
 * PERMISSION_DENIED). Only an active principal serves Subscribe, GetSnapshot
 * and ConfirmMissingResources (others: UNAVAILABLE naming the state); Status
 * is always answered.
 *
 * @example
 *   services: [replicationService({ method, allowedClients: [], state: () => sm.state(), forwarder, context: () => repl.context() })]
 */
import { Metadata, status, type ServerDuplexStream, type ServerUnaryCall, type ServiceError, type sendUnaryData } from "@grpc/grpc-js";
import type { AuthMethod } from "../auth/method.ts";
import { peerCertificateFromDer, type PeerCertificate } from "../auth/peer-certificate.ts";
import { getLogger } from "../observability/log.ts";
import { peerInput, type PeerCall } from "../principal/grpc-services.ts";
import {
  ReplicationService,
  type ConfirmMissingResourcesRequest,
  type ConfirmMissingResourcesResponse,
  type ReplicatedEvent,
  type ReplicationAck,
  type ReplicationServer,
  type ReplicationSnapshot,
  type ReplicationStatus,
  type SnapshotRequest,
  type StatusRequest,
} from "../proto/gen/replication.ts";
import type { PrincipalContext } from "../replication/principal/principal-context.ts";
import type { Forwarder } from "./forwarder.ts";
import type { HaState } from "./ha-state.ts";
import { buildSnapshot, confirmMissing } from "./snapshot.ts";

const log = getLogger("ha");

export interface ReplicationServiceOptions {
  /** The principal's --auth method; replication identities come from it. */
  method: AuthMethod;
  /** --ha-allowed-replication-clients; empty: any identity the method accepts. */
  allowedClients: readonly string[];
  state(): HaState;
  forwarder: Forwarder;
  /** The principal's replication context (informer caches); undefined when replication does not run. */
  context(): PrincipalContext | undefined;
}

export function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() }) as ServiceError;
}

function certificateOf(call: PeerCall): PeerCertificate | undefined {
  const raw = peerInput(call).peerCertificate?.raw;
  if (!raw?.length) return undefined;
  try {
    return peerCertificateFromDer(raw);
  } catch {
    return undefined;
  }
}

/** The caller's replication identity, or the status to refuse it with. */
export async function replicationIdentity(
  opts: Pick<ReplicationServiceOptions, "method" | "allowedClients">,
  call: PeerCall,
): Promise<{ ok: true; identity: string } | { ok: false; error: ServiceError }> {
  const client = call.getPeer();
  if (opts.method.name === "userpass") {
    log.warn("replication call refused: the principal uses userpass auth", { client });
    return { ok: false, error: grpcError(status.UNAUTHENTICATED, "replication requires mTLS auth (or header auth behind a service mesh); this principal uses userpass") };
  }
  const input = peerInput(call);
  const res = await opts.method.authenticate({ metadata: input.metadata, peerCertificate: certificateOf(call), credentials: {}, remoteAddress: input.remoteAddress });
  if (!res.ok) {
    log.warn("replication call refused: no identity", { client, method: opts.method.name, reason: res.reason });
    return { ok: false, error: grpcError(status.UNAUTHENTICATED, `replication requires an authenticated peer (${opts.method.name} auth)`) };
  }
  if (opts.allowedClients.length && !opts.allowedClients.includes(res.agentId)) {
    log.warn("replication call refused: identity not in --ha-allowed-replication-clients", { client, identity: res.agentId });
    return { ok: false, error: grpcError(status.PERMISSION_DENIED, `replication client "${res.agentId}" is not allowed`) };
  }
  return { ok: true, identity: res.agentId };
}

const notEnabled = () => grpcError(status.UNIMPLEMENTED, "replication not enabled");

/** Every RPC answers UNIMPLEMENTED: the principal runs without --ha-enabled. */
function disabledService(): ReplicationServer {
  return {
    subscribe: (stream: ServerDuplexStream<ReplicationAck, ReplicatedEvent>) => void stream.emit("error", notEnabled()),
    getSnapshot: (_call: ServerUnaryCall<SnapshotRequest, ReplicationSnapshot>, cb: sendUnaryData<ReplicationSnapshot>) => cb(notEnabled()),
    status: (_call: ServerUnaryCall<StatusRequest, ReplicationStatus>, cb: sendUnaryData<ReplicationStatus>) => cb(notEnabled()),
    confirmMissingResources: (_call: ServerUnaryCall<ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse>, cb: sendUnaryData<ConfirmMissingResourcesResponse>) => cb(notEnabled()),
  };
}

function enabledService(opts: ReplicationServiceOptions): ReplicationServer {
  /** Authenticates and, for `needsActive`, checks the state; answers through `fail` when refused. */
  const admit = async (call: PeerCall, needsActive: boolean, fail: (err: ServiceError) => void): Promise<string | undefined> => {
    const who = await replicationIdentity(opts, call);
    if (!who.ok) return void fail(who.error);
    const s = opts.state();
    if (needsActive && s !== "active") return void fail(grpcError(status.UNAVAILABLE, `not serving replication in state ${s}`));
    return who.identity;
  };
  const unary = <Req, Res>(needsActive: boolean, answer: (req: Req, identity: string) => Res) =>
    (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
      void admit(call, needsActive, (err) => cb(err))
        .then((identity) => {
          if (identity !== undefined) cb(null, answer(call.request, identity));
        })
        .catch((err: Error) => {
          log.error("replication call failed", { method: call.getPath?.(), error: err });
          cb(grpcError(status.INTERNAL, "replication call failed"));
        });
    };
  return {
    subscribe(stream: ServerDuplexStream<ReplicationAck, ReplicatedEvent>) {
      void admit(stream, true, (err) => stream.emit("error", err)).then(async (identity) => {
        if (identity === undefined) return;
        stream.sendMetadata(new Metadata());
        await opts.forwarder.serve(stream, identity);
      });
    },
    getSnapshot: unary<SnapshotRequest, ReplicationSnapshot>(true, (_req, identity) => {
      const snap = buildSnapshot(opts.context(), opts.forwarder.lastSequence());
      log.info("snapshot sent to replica", { identity, agents: snap.agents.length, sequence: snap.lastSequenceNum });
      return snap;
    }),
    status: unary<StatusRequest, ReplicationStatus>(false, () => ({
      currentSequenceNum: String(opts.forwarder.lastSequence()),
      pendingEvents: opts.forwarder.pendingEvents(),
      lastEventUnix: String(opts.forwarder.lastEventUnix()),
      connectedReplicas: opts.forwarder.connectedReplicas(),
    })),
    confirmMissingResources: unary<ConfirmMissingResourcesRequest, ConfirmMissingResourcesResponse>(true, (req) =>
      confirmMissing(opts.context(), req, opts.forwarder.lastSequence())),
  };
}

/** The service for the principal's `services` list; `opts` undefined: HA is off. */
export function replicationService(opts: ReplicationServiceOptions | undefined) {
  return { definition: ReplicationService, implementation: opts ? enabledService(opts) : disabledService() };
}
