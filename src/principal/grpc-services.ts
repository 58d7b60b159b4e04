/**
 * The principal's gRPC services, wire-compatible with upstream:
 * authapi.Authentication (Authenticate, RefreshToken), versionapi.Version and
 * eventstreamapi.EventStream (Subscribe; Push and Ping answer UNIMPLEMENTED as
 * the Go principal's do). Identity comes from the configured auth method during
 * Authenticate only; every other call carries the JWT in `authorization`.
 */
import { Metadata, status, type ServerDuplexStream, type ServerUnaryCall, type sendUnaryData, type ServiceError } from "@grpc/grpc-js";
import type { AuthenticationServer, AuthRequest, AuthResponse, RefreshTokenRequest } from "../proto/gen/auth.ts";
import type { VersionServer } from "../proto/gen/version.ts";
import type { Event, EventStreamServer } from "../proto/gen/eventstream.ts";
import { getLogger } from "../observability/log.ts";
import type { AgentMode } from "./agent-registry.ts";
import type { PeerIdentityInput, PrincipalAuth } from "./principal-auth.ts";
import { bridgedPeerOf } from "../transport/websocket/bridged-peer.ts";

const log = getLogger("principal");

export interface SubscribeContext {
  agent: string;
  mode: AgentMode;
  stream: ServerDuplexStream<Event, Event>;
}

export interface PrincipalServiceOptions {
  auth: PrincipalAuth;
  /** Our protocol version string (AuthResponse.version; Version returns "argocd-agent-" + it). */
  protocolVersion: string;
  principalNamespace: string;
  /** Called with the agent's namespace after a successful Authenticate. */
  onAuthenticated?: (agent: string, mode: AgentMode, agentNamespace: string) => void;
  onAuthFailure?: (reason: string) => void;
  /**
   * Runs after authentication and before tokens are issued (self cluster
   * registration, src/registration/); when it throws, the agent is refused.
   */
  registerAgent?: (agent: string) => Promise<unknown>;
  /** Takes over an authenticated Subscribe stream; resolves when the stream is done. */
  subscribe: (ctx: SubscribeContext) => Promise<void>;
  /** Principal HA: undefined while agents are accepted, else why not (Subscribe answers UNAVAILABLE with it). */
  accepting?: () => string | undefined;
}

function grpcError(code: status, details: string): ServiceError {
  return Object.assign(new Error(details), { code, details, metadata: new Metadata() }) as ServiceError;
}

/** Metadata as a map of lower-cased names to every value received. */
export function metadataValues(md: Metadata): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [key, values] of Object.entries(md.toJSON())) {
    out.set(key.toLowerCase(), (values as (string | Buffer)[]).map((v) => (typeof v === "string" ? v : v.toString("utf8"))));
  }
  return out;
}

export type PeerCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getPeer" | "getAuthContext">;

/** Who called: metadata, the verified TLS peer certificate (native or bridged from a WebSocket), address. */
export function peerInput(call: PeerCall): PeerIdentityInput {
  // A call bridged from a WebSocket: the outer connection's peer, as the bridge verified it.
  const bridged = bridgedPeerOf(call);
  if (bridged) {
    return {
      metadata: metadataValues(call.metadata),
      peerCertificate: bridged.peerCertificate,
      remoteAddress: `${bridged.remoteAddress}:${bridged.remotePort}`,
    };
  }
  const authCtx = call.getAuthContext?.();
  return {
    metadata: metadataValues(call.metadata),
    peerCertificate: authCtx?.sslPeerCertificate,
    remoteAddress: call.getPeer(),
  };
}

/**
 * The access-token check of Subscribe, for the principal's other streaming
 * services (pod logs, web terminal): the caller's agent, or why not.
 */
export function callVerifier(auth: PrincipalAuth) {
  return async (call: PeerCall) => {
    const token = call.metadata.get("authorization")[0];
    if (typeof token !== "string") return { ok: false as const, reason: "no authorization metadata" };
    const identity = await auth.verifyCall(token, peerInput(call));
    if (!identity.ok) log.info("stream call refused", { reason: identity.reason, client: call.getPeer() });
    return identity;
  };
}

export function authenticationService(opts: PrincipalServiceOptions): AuthenticationServer {
  return {
    authenticate(call: ServerUnaryCall<AuthRequest, AuthResponse>, callback: sendUnaryData<AuthResponse>) {
      const req = call.request;
      void (async () => {
        if (req.mode !== "managed" && req.mode !== "autonomous") {
          opts.onAuthFailure?.("bad-mode");
          return callback(grpcError(status.UNKNOWN, `unknown or missing operation mode: '${req.mode}'`));
        }
        const result = await opts.auth.authenticate(req.method, req.credentials ?? {}, peerInput(call));
        if (!result.ok) {
          log.warn("authentication failed", { reason: result.reason, method: req.method, client: call.getPeer() });
          opts.onAuthFailure?.(result.code);
          return callback(grpcError(status.UNAUTHENTICATED, "authentication failed"));
        }
        if (!req.version) {
          opts.onAuthFailure?.("no-version");
          return callback(grpcError(status.INVALID_ARGUMENT, "agent version is required"));
        }
        if (req.version !== opts.protocolVersion) {
          // Upstream refuses any difference; we accept it so Go and TS agents of
          // neighbouring releases can connect, and say so.
          log.info("agent reports a different protocol version", { agent: result.agentId, agentVersion: req.version, ours: opts.protocolVersion });
        }
        if (opts.registerAgent) {
          try {
            await opts.registerAgent(result.agentId);
          } catch (err) {
            log.error("self cluster registration failed; agent refused", { agent: result.agentId, error: err as Error });
            opts.onAuthFailure?.("registration");
            return callback(grpcError(status.UNAUTHENTICATED, "authentication failed"));
          }
        }
        const tokens = await opts.auth.issueTokens(result.agentId, req.mode);
        opts.onAuthenticated?.(result.agentId, req.mode, req.agentNamespace);
        log.info("agent authenticated", { agent: result.agentId, mode: req.mode, method: req.method });
        callback(null, {
          accessToken: tokens.accessToken,
          refreshToken: tokens.refreshToken,
          version: opts.protocolVersion,
          principalNamespace: opts.principalNamespace,
        });
      })().catch((err: Error) => {
        log.error("authentication error", { error: err });
        callback(grpcError(status.UNAUTHENTICATED, "authentication failed"));
      });
    },
    refreshToken(call: ServerUnaryCall<RefreshTokenRequest, AuthResponse>, callback: sendUnaryData<AuthResponse>) {
      void opts.auth
        .refresh(call.request.refreshToken)
        .then((res) => {
          if (!res.ok) {
            log.info("token refresh refused", { reason: res.reason });
            return callback(grpcError(status.UNAUTHENTICATED, "authentication failed"));
          }
          callback(null, { accessToken: res.accessToken, refreshToken: res.refreshToken ?? "", version: "", principalNamespace: "" });
        })
        .catch(() => callback(grpcError(status.UNAUTHENTICATED, "authentication failed")));
    },
  };
}

export function versionService(opts: Pick<PrincipalServiceOptions, "protocolVersion">): VersionServer {
  return {
    version(_call, callback) {
      callback(null, { version: `argocd-agent-${opts.protocolVersion}` });
    },
  };
}

export function eventStreamService(opts: PrincipalServiceOptions): EventStreamServer {
  return {
    subscribe(stream: ServerDuplexStream<Event, Event>) {
      void (async () => {
        const token = stream.metadata.get("authorization")[0];
        const identity = typeof token === "string" ? await opts.auth.verifyCall(token, peerInput(stream)) : undefined;
        if (!identity?.ok) {
          log.info("subscribe refused", { reason: identity?.reason ?? "no authorization metadata", client: stream.getPeer() });
          stream.emit("error", grpcError(status.UNAUTHENTICATED, "invalid authentication data"));
          return;
        }
        const refusal = opts.accepting?.();
        if (refusal !== undefined) {
          log.info("subscribe refused", { agent: identity.agent, reason: refusal });
          stream.emit("error", grpcError(status.UNAVAILABLE, refusal));
          return;
        }
        // Send response headers now: Subscribe has no hello message, and the
        // agent takes the headers as the sign that the stream is established.
        stream.sendMetadata(new Metadata());
        try {
          await opts.subscribe({ agent: identity.agent, mode: identity.mode, stream });
          stream.end();
        } catch (err) {
          log.info("event stream ended", { agent: identity.agent, error: err as Error });
          stream.end();
        }
      })();
    },
    push(_call, callback) {
      callback(grpcError(status.UNIMPLEMENTED, "Push is not used by agents; use Subscribe"));
    },
    ping(_call, callback) {
      callback(grpcError(status.UNIMPLEMENTED, "method Ping not implemented"));
    },
  };
}
