/**
 * The agent's connection loop: Authenticate → Version → Subscribe, then the
 * event session until the stream ends, then reconnect with full-jitter backoff.
 * The event writer outlives connections, so unacknowledged events are re-sent
 * on the next stream. The access token is refreshed before it expires.
 */
import { Client, Metadata, status, type ChannelInterface, type ChannelCredentials, type ChannelOptions, type ServiceError } from "@grpc/grpc-js";
import { AuthenticationClient, type AuthRequest, type AuthResponse, type RefreshTokenRequest } from "../proto/gen/auth.ts";
import { VersionClient, type VersionRequest, type VersionResponse } from "../proto/gen/version.ts";
import { EventStreamClient } from "../proto/gen/eventstream.ts";
import { EventWriter } from "../events/event-writer.ts";
import { startHeartbeat } from "../events/heartbeat.ts";
import type { AgentEvent } from "../events/cloudevent.ts";
import { getLogger } from "../observability/log.ts";
import { FullJitterBackoff, RECONNECT_BACKOFF, sleep, type BackoffOptions } from "../transport/backoff.ts";
import { EventSession, type EventHandler } from "../transport/event-session.ts";
import type { AgentCredentials } from "../auth/method.ts";
import { grpcClientInterceptors } from "../tracing/tracing.ts";

const log = getLogger("agent");

/** The CloudEvent source the Go agent uses for everything it sends. */
export const AGENT_EVENT_SOURCE = "agent://agent-managed";
/** Refresh the access token when less than this is left (upstream: 30 s). */
const REFRESH_MARGIN_MS = 30_000;
/** After a failed refresh, try again this much later (upstream retries before every call). */
const REFRESH_RETRY_MS = 5_000;

export type ConnectionStatus =
  | { state: "connecting"; attempt: number }
  | { state: "connected"; agent: string; principalNamespace: string; since: Date }
  | { state: "disconnected"; reason: string; retryInMs: number };

export interface AgentConnectionOptions {
  address: string;
  port: number;
  credentials: ChannelCredentials;
  creds: AgentCredentials;
  mode: "managed" | "autonomous";
  namespace: string;
  protocolVersion: string;
  maxMessageSize: number;
  keepAlivePingIntervalMs: number;
  compression: boolean;
  heartbeatIntervalMs: number;
  handler: EventHandler;
  /**
   * Dial this target instead of address:port, with these extra channel options: the
   * in-process WebSocket proxy of --enable-websocket (src/transport/websocket/agent-proxy.ts).
   */
  via?: { target: string; channelOptions: ChannelOptions };
  /** Persists across connections; created if omitted. */
  writer?: EventWriter;
  backoff?: BackoffOptions;
  /** Called after each successful subscribe (e.g. to start a resync). */
  onConnected?: (info: { agent: string; principalNamespace: string }) => void;
  onStatus?: (s: ConnectionStatus) => void;
  /** Every event received from the principal, acks included (metrics). */
  onEvent?: (ev: AgentEvent) => void;
}

interface Tokens {
  access: string;
  refresh: string;
}

/** Reads `exp` (ms since epoch) from a JWT without verifying it, as the Go agent does. */
export function tokenExpiry(token: string): number | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { exp?: number };
    return typeof payload.exp === "number" ? payload.exp * 1000 : undefined;
  } catch {
    return undefined;
  }
}

/** The agent name the principal put into the token's subject ({"clientID":…,"mode":…}). */
export function tokenAgentName(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split(".")[1] ?? "", "base64url").toString("utf8")) as { sub?: string };
    return (JSON.parse(payload.sub ?? "{}") as { clientID?: string }).clientID;
  } catch {
    return undefined;
  }
}

/** Promise form of a generated unary method (request, metadata, callback). */
function unary<Req, Res>(
  fn: (req: Req, md: Metadata, cb: (err: ServiceError | null, res: Res) => void) => unknown,
  req: Req,
  md = new Metadata(),
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, md, (err, res) => (err ? reject(err) : resolve(res))));
}

export class AgentConnection {
  readonly writer: EventWriter;
  private readonly opts: AgentConnectionOptions;
  private tokens: Tokens | undefined;
  private refreshTimer: NodeJS.Timeout | undefined;
  private currentStatus: ConnectionStatus = { state: "connecting", attempt: 0 };
  /** Sessions completed (for tests and metrics). */
  connects = 0;
  session: EventSession | undefined;
  /** The current connection's channel, shared by the log and terminal streams. */
  private channel: ChannelInterface | undefined;

  constructor(opts: AgentConnectionOptions) {
    this.opts = opts;
    this.writer = opts.writer ?? new EventWriter({ name: "principal" });
  }

  status(): ConnectionStatus {
    return this.currentStatus;
  }

  private setStatus(s: ConnectionStatus): void {
    this.currentStatus = s;
    this.opts.onStatus?.(s);
  }

  private channelOptions(): ChannelOptions {
    const o = this.opts;
    const opts: ChannelOptions = {
      "grpc.max_receive_message_length": o.maxMessageSize,
      "grpc.max_send_message_length": o.maxMessageSize,
      "grpc.primary_user_agent": "argocd-agent/v0.0.1",
      // Our own loop reconnects; a channel must not hide failures behind its retries.
      "grpc.enable_retries": 0,
    };
    if (o.keepAlivePingIntervalMs > 0) {
      opts["grpc.keepalive_time_ms"] = o.keepAlivePingIntervalMs;
      opts["grpc.keepalive_timeout_ms"] = 20_000;
    }
    if (o.compression) opts["grpc.default_compression_algorithm"] = 2; // gzip
    return { ...opts, ...o.via?.channelOptions };
  }

  /** Runs until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const backoff = new FullJitterBackoff(this.opts.backoff ?? RECONNECT_BACKOFF);
    const server = `${this.opts.address}:${this.opts.port}`;
    const target = this.opts.via?.target ?? server;
    let attempt = 0;
    while (!signal.aborted) {
      this.setStatus({ state: "connecting", attempt: ++attempt });
      const channelOpts = this.channelOptions();
      // CLIENT spans per call while tracing is on (src/tracing/grpc-spans.ts); none otherwise.
      const interceptors = grpcClientInterceptors();
      const auth = new AuthenticationClient(target, this.opts.credentials, { ...channelOpts, interceptors });
      const channel = auth.getChannel();
      const shared = { channelOverride: channel, interceptors };
      const version = new VersionClient(target, this.opts.credentials, shared);
      const events = new EventStreamClient(target, this.opts.credentials, shared);
      let reason = "stream ended";
      let streamed = false;
      // Ends this connection's token refreshes, including one still in flight when it drops.
      const connectionDone = new AbortController();
      try {
        const res = await unary<AuthRequest, AuthResponse>(auth.authenticate.bind(auth), {
          method: this.opts.creds.method,
          credentials: this.opts.creds.credentials,
          mode: this.opts.mode,
          version: this.opts.protocolVersion,
          agentNamespace: this.opts.namespace,
        });
        this.tokens = { access: res.accessToken, refresh: res.refreshToken };
        this.channel = channel;
        const agent = tokenAgentName(res.accessToken) ?? "?";
        this.scheduleRefresh(auth, connectionDone.signal);
        const md = new Metadata();
        md.set("authorization", res.accessToken);
        const v = await unary<VersionRequest, VersionResponse>(version.version.bind(version), {}, md);
        log.info("authenticated to principal", { agent, principalVersion: v.version, principalNamespace: res.principalNamespace });
        streamed = true;
        backoff.reset(); // here, not after subscribe(): that only returns by throwing, so a reset there never ran
        await this.subscribe(events, md, res, agent, signal);
      } catch (err) {
        const e = err as ServiceError;
        reason = e.code !== undefined ? `${status[e.code]}: ${e.details ?? e.message}` : e.message;
        if (signal.aborted) break;
        if (e.code === status.UNAUTHENTICATED) {
          // The principal never says why (as upstream); point at what to check.
          log.error("authentication failed", {
            server,
            error: reason,
            creds: this.opts.creds.method,
            hint: streamed
              ? "the principal refused our token; it logs the reason"
              : "the principal refused our identity: check that --creds uses the principal's --auth method and that the identity " +
                "(client certificate, header injected by the mesh sidecar, or user) is accepted; the principal logs the exact reason",
          });
        } else log.warn(streamed ? "event stream failed" : "could not connect to principal", { server, error: reason });
      } finally {
        connectionDone.abort();
        this.channel = undefined;
        clearTimeout(this.refreshTimer);
        for (const c of [events, version, auth] as Client[]) c.close();
      }
      if (signal.aborted) break;
      const wait = backoff.next();
      this.setStatus({ state: "disconnected", reason, retryInMs: wait });
      log.info("reconnecting", { in: `${wait}ms`, reason });
      await sleep(wait, signal);
    }
    this.writer.close();
  }

  private async subscribe(client: EventStreamClient, md: Metadata, auth: AuthResponse, agent: string, signal: AbortSignal): Promise<void> {
    const stream = client.subscribe(md);
    const session = new EventSession({
      peer: "principal",
      source: AGENT_EVENT_SOURCE,
      writer: this.writer,
      handler: this.opts.handler,
      maxPayloadBytes: this.opts.maxMessageSize,
      onEvent: this.opts.onEvent,
      disconnect: () => stream.cancel(),
    });
    this.session = session;
    const streamDone = new AbortController();
    const onAbort = () => stream.cancel();
    // An abort that landed between Authenticate and here fires no event any more.
    if (signal.aborted) onAbort();
    else signal.addEventListener("abort", onAbort, { once: true });
    const stopHeartbeat = startHeartbeat({
      intervalMs: this.opts.heartbeatIntervalMs,
      source: AGENT_EVENT_SOURCE,
      emit: (ev) => this.writer.add(ev),
      signal: streamDone.signal,
    });
    const running = session.run(stream);
    // gRPC sends the headers with the first message; Subscribe has no hello, so
    // wait for the server's response headers (or an error) to call it connected.
    stream.once("metadata", () => {
      this.connects++;
      this.setStatus({ state: "connected", agent, principalNamespace: auth.principalNamespace, since: new Date() });
      this.opts.onConnected?.({ agent, principalNamespace: auth.principalNamespace });
    });
    try {
      await running;
      if (!signal.aborted) throw Object.assign(new Error("principal ended the event stream"), { code: status.UNAVAILABLE, details: "principal ended the event stream" });
    } finally {
      stopHeartbeat();
      streamDone.abort();
      signal.removeEventListener("abort", onAbort);
    }
  }

  /** Refreshes the access token before it expires, for as long as this connection's signal is live. */
  private scheduleRefresh(auth: AuthenticationClient, signal: AbortSignal, delayMs?: number): void {
    clearTimeout(this.refreshTimer);
    const exp = this.tokens ? tokenExpiry(this.tokens.access) : undefined;
    if (!exp || signal.aborted) return;
    const wait = delayMs ?? Math.max(1000, exp - Date.now() - REFRESH_MARGIN_MS);
    this.refreshTimer = setTimeout(() => {
      const tokens = this.tokens;
      if (!tokens || signal.aborted) return;
      unary<RefreshTokenRequest, AuthResponse>(auth.refreshToken.bind(auth), { refreshToken: tokens.refresh })
        .then((res) => {
          if (signal.aborted) return;
          this.tokens = { access: res.accessToken, refresh: res.refreshToken || tokens.refresh };
          log.debug("access token refreshed", { expires: new Date(tokenExpiry(res.accessToken) ?? 0).toISOString() });
          this.scheduleRefresh(auth, signal);
        })
        .catch((err: Error) => {
          if (signal.aborted) return;
          // The stream does not need a fresh token (it is checked once, at its start),
          // but the next connection's calls might; keep trying.
          log.warn("token refresh failed; keeping the old token", { error: err, retryIn: `${REFRESH_RETRY_MS}ms` });
          this.scheduleRefresh(auth, signal, REFRESH_RETRY_MS);
        });
    }, wait);
    this.refreshTimer.unref();
  }

  /**
   * The authenticated channel and call metadata for the principal's other
   * services (log and terminal streams); undefined between connections.
   * Calls already running keep their channel when it is replaced.
   */
  liveChannel(): { channel: ChannelInterface; metadata: Metadata } | undefined {
    if (!this.channel || !this.tokens || this.currentStatus.state !== "connected") return undefined;
    const metadata = new Metadata();
    metadata.set("authorization", this.tokens.access);
    return { channel: this.channel, metadata };
  }

  /** The current access token (for tests: it must be refreshed on long streams). */
  accessToken(): string | undefined {
    return this.tokens?.access;
  }
}
