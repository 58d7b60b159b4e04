/**
 * The web terminal on the principal (live-resources.md §5.1–5.3). Argo CD
 * opens a WebSocket on the resource proxy's `…/pods/{pod}/exec` path; the
 * principal sends a `terminal-request` event to the agent, and the agent's
 * StreamTerminal call carries stdin/resize one way and output the other.
 *
 * Rules as upstream: managed agents only (400), agent connected (502),
 * subprotocols v5…v1 `channel.k8s.io` in that order of preference, any Origin,
 * a 30-minute limit per session, agent `eof` → close 1000, agent `error` →
 * a text frame with the message. Either side ending ends the other: the
 * WebSocket closing ends the agent's stream (the agent then closes stdin and
 * stops the exec); the agent's stream ending closes the WebSocket.
 * Flow control: up to 100 messages wait for the agent's stream (then the
 * WebSocket is paused, as upstream's 100-message channel blocks); output to a
 * slow client pauses the agent's stream above 1 MiB of unsent frames.
 */
import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { WebSocket, WebSocketServer } from "ws";
import { requestEvent } from "../events/cloudevent.ts";
import { EventSources, EventTargets, EventTypes } from "../events/event-types.ts";
import type { ContainerTerminalRequest } from "../events/payloads.ts";
import { getLogger } from "../observability/log.ts";
import type { TerminalStreamData, TerminalStreamServiceServer } from "../proto/gen/terminalstream.ts";
import type { ProxyAgents, ProxyCall } from "../resourceproxy/server.ts";
import { grpcError, type StreamMetrics, type VerifyCall } from "./stream-common.ts";
import { classifyInbound, outboundFrame } from "./terminal-frames.ts";

const log = getLogger("terminalstream");

export const TERMINAL_SUBPROTOCOLS = ["v5.channel.k8s.io", "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io"];
export const TERMINAL_SESSION_LIMIT_MS = 30 * 60_000;
const QUEUE_LIMIT = 100;
const MAX_UNSENT_BYTES = 1 << 20;
/** Largest frame read from the client (stdin pastes, resizes). */
const MAX_FRAME_BYTES = 1 << 20;

type Call = ServerDuplexStream<TerminalStreamData, TerminalStreamData>;

interface TerminalSession {
  uuid: string;
  agent: string;
  ws: WebSocket;
  call?: Call;
  /** Messages for the agent before its stream is there. */
  queue: TerminalStreamData[];
  timer: NodeJS.Timeout;
  closed: boolean;
}

export interface TerminalSessionsOptions {
  agents: ProxyAgents;
  verify: VerifyCall;
  sessionLimitMs?: number;
  metrics?: StreamMetrics;
}

function refuse(socket: Duplex, code: number, reason: string, body = ""): void {
  socket.end(`HTTP/1.1 ${code} ${reason}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

export class TerminalSessions {
  private readonly sessions = new Map<string, TerminalSession>();
  /** Made with the first session: ws is loaded only for the web terminal or --enable-websocket (issue #19). */
  private wss: Promise<WebSocketServer> | undefined;
  private closed = false;

  private readonly o: TerminalSessionsOptions;

  constructor(o: TerminalSessionsOptions) {
    this.o = o;
  }

  get size(): number {
    return this.sessions.size;
  }

  /** The resource proxy's hook for a WebSocket upgrade on …/pods/{pod}/exec. */
  readonly upgradeHook = (call: ProxyCall, req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const { agent } = call;
    if (this.o.agents.mode(agent) !== "managed") return refuse(socket, 400, "Bad Request", "web terminal is only supported for managed agents\n");
    if (!this.o.agents.connected(agent)) {
      this.o.metrics?.proxyError(agent, "agent_disconnected");
      return refuse(socket, 502, "Bad Gateway");
    }
    void this.server().then((wss) => {
      if (this.closed) return refuse(socket, 503, "Service Unavailable");
      this.upgrade(wss, req, socket, head, agent, call);
    }, (err: unknown) => {
      log.error("web terminal: cannot load the WebSocket server", { error: (err as Error).message });
      refuse(socket, 500, "Internal Server Error");
    });
  };

  private server(): Promise<WebSocketServer> {
    this.wss ??= import("ws").then(({ WebSocketServer }) => new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      handleProtocols: (offered) => TERMINAL_SUBPROTOCOLS.find((p) => offered.has(p)) ?? false,
    }));
    return this.wss;
  }

  private upgrade(wss: WebSocketServer, req: IncomingMessage, socket: Duplex, head: Buffer, agent: string, call: ProxyCall): void {
    const { path, query } = call;
    wss.handleUpgrade(req, socket, head, (ws) => this.open(ws, agent, {
      uuid: randomUUID(),
      namespace: path.namespace ?? "",
      podName: path.name,
      containerName: query.get("container") ?? "",
      ...(query.getAll("command").length ? { command: query.getAll("command") } : {}),
      tty: true,
      stdin: true,
      stdout: true,
      stderr: true,
    }));
  }

  private open(ws: WebSocket, agent: string, req: ContainerTerminalRequest): void {
    const s: TerminalSession = {
      uuid: req.uuid,
      agent,
      ws,
      queue: [],
      closed: false,
      timer: setTimeout(() => {
        log.warn("web terminal session reached its time limit", { agent, session_uuid: req.uuid });
        this.finish(s, 1000, "session time limit reached");
      }, this.o.sessionLimitMs ?? TERMINAL_SESSION_LIMIT_MS),
    };
    s.timer.unref();
    this.sessions.set(s.uuid, s);
    this.count(agent);
    ws.on("message", (data: Buffer, isBinary: boolean) => this.fromClient(s, isBinary ? data : Buffer.from(data)));
    ws.on("close", () => this.finish(s));
    ws.on("error", () => this.finish(s));
    log.info("web terminal session opened", { agent, session_uuid: s.uuid, namespace: req.namespace, pod: req.podName, container: req.containerName, command: req.command, protocol: ws.protocol });
    if (!this.o.agents.send(agent, requestEvent(EventTypes.terminalRequest, EventTargets.terminal, req, EventSources.principal, req.uuid))) {
      this.o.metrics?.proxyError(agent, "queue_missing");
      this.finish(s, 1001, "agent disconnected");
    }
  }

  private fromClient(s: TerminalSession, data: Buffer): void {
    const what = classifyInbound(data);
    const base = { requestUuid: s.uuid, data: Buffer.alloc(0), streamType: "", resize: false, rows: 0, cols: 0, eof: false, error: "" };
    const msg: TerminalStreamData = "resize" in what
      ? { ...base, resize: true, rows: what.resize.rows, cols: what.resize.cols }
      : "stdin" in what
        ? { ...base, data: what.stdin, streamType: "stdin" }
        : { ...base, eof: true };
    this.toAgent(s, msg);
  }

  private toAgent(s: TerminalSession, msg: TerminalStreamData): void {
    if (s.closed) return;
    if (!s.call) {
      s.queue.push(msg);
      if (s.queue.length >= QUEUE_LIMIT) s.ws.pause();
      return;
    }
    if (!s.call.write(msg)) {
      s.ws.pause();
      s.call.once("drain", () => s.ws.resume());
    }
  }

  /** gRPC TerminalStreamService (the agent calls it per session). */
  readonly service: TerminalStreamServiceServer = {
    streamTerminal: (call: Call) => {
      let s: TerminalSession | undefined;
      const identity = this.o.verify(call);
      const fail = (code: status, details: string) => {
        call.removeAllListeners("data");
        call.emit("error", grpcError(code, details));
      };
      call.on("data", (msg: TerminalStreamData) => {
        if (s) return this.fromAgent(s, msg);
        call.pause();
        void identity.then((who) => {
          if (!who.ok) return fail(status.UNAUTHENTICATED, "invalid authentication data");
          const found = msg.requestUuid ? this.sessions.get(msg.requestUuid) : undefined;
          if (!msg.requestUuid) return fail(status.UNKNOWN, "handshake message contains empty session UUID");
          if (!found || found.agent !== who.agent || found.closed || found.call) return fail(status.UNKNOWN, `session ${msg.requestUuid} not found`);
          s = found;
          s.call = call;
          log.info("web terminal session attached by the agent", { agent: s.agent, session_uuid: s.uuid });
          for (const q of s.queue.splice(0)) call.write(q);
          s.ws.resume();
          this.fromAgent(s, msg);
          call.resume();
        });
      });
      call.on("end", () => {
        if (s) this.finish(s, 1000, "");
        call.end();
      });
      const broken = () => {
        if (s) this.finish(s, 1011, "agent stream broke off");
      };
      call.on("cancelled", broken);
      call.on("error", broken);
    },
  };

  private fromAgent(s: TerminalSession, msg: TerminalStreamData): void {
    if (s.closed) return;
    if (msg.error) {
      log.info("agent reported a terminal error", { agent: s.agent, session_uuid: s.uuid, error: msg.error });
      s.ws.send(msg.error, { binary: false });
      return this.finish(s, 1011, msg.error);
    }
    if (msg.eof) return this.finish(s, 1000, "");
    if (!msg.data.length) return;
    s.ws.send(outboundFrame(msg.streamType, msg.data), { binary: true });
    if (s.ws.bufferedAmount > MAX_UNSENT_BYTES && s.call && !s.call.isPaused()) {
      const call = s.call;
      call.pause();
      const wait = setInterval(() => {
        if (s.closed || s.ws.bufferedAmount <= MAX_UNSENT_BYTES / 2) {
          clearInterval(wait);
          call.resume();
        }
      }, 20);
    }
  }

  /** Ends a session once: closes the WebSocket (code/reason when given) and the agent's stream. */
  private finish(s: TerminalSession, code?: number, reason = ""): void {
    if (s.closed) return;
    s.closed = true;
    clearTimeout(s.timer);
    this.sessions.delete(s.uuid);
    this.count(s.agent);
    if (s.ws.readyState === s.ws.OPEN) {
      // A close reason is at most 123 bytes.
      const r = Buffer.from(reason).subarray(0, 123).toString();
      s.ws.close(code ?? 1000, r);
      setTimeout(() => s.ws.terminate(), 5000).unref();
    }
    // Ending our side of the stream tells the agent to close stdin and stop the exec.
    if (s.call && !s.call.writableEnded) s.call.end();
    log.info("web terminal session closed", { agent: s.agent, session_uuid: s.uuid, code: code ?? "client" });
  }

  private count(agent: string): void {
    let n = 0;
    for (const x of this.sessions.values()) if (x.agent === agent) n++;
    this.o.metrics?.terminalSessions(agent, n);
  }

  close(): void {
    this.closed = true;
    for (const s of [...this.sessions.values()]) this.finish(s, 1001, "principal shutting down");
    void this.wss?.then((wss) => wss.close(), () => undefined);
  }
}
