/**
 * The web terminal on the agent (live-resources.md §5.4): a `terminal-request`
 * event opens a StreamTerminal call to the principal (first message: the
 * session UUID only) and an exec in the pod through this cluster's API server
 * with client-node's `Exec` (WebSocket, `v5.channel.k8s.io` first; Node has no
 * SPDY client, so the SPDY fallback upstream has is not available).
 *
 * Principal → agent: `stdin` data, resizes (initial size 80×24), `eof` closes
 * stdin, `error` stops the exec. Agent → principal: output as `stdout` (the
 * TTY merges stderr), then `eof` when the command ends with success, or
 * `error` with the reason (a non-zero exit, a missing shell: Argo CD then tries
 * its next shell). The principal's side ending closes stdin, and the exec is
 * stopped 5 s later if the command has not ended by then.
 * Flow control: output waits for the gRPC call to drain; above 1 MiB of
 * unsent output the exec WebSocket is paused.
 */
import { Writable, PassThrough } from "node:stream";
import type { KubeConfig, V1Status } from "@kubernetes/client-node";
import { credentials, status, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import type WebSocket from "ws";
import type { ContainerTerminalRequest } from "../events/payloads.ts";
import type { EventHandler } from "../transport/event-session.ts";
import { getLogger } from "../observability/log.ts";
import { TerminalStreamServiceClient, type TerminalStreamData } from "../proto/gen/terminalstream.ts";
import type { LiveChannel } from "./agent-logs.ts";

const log = getLogger("terminalstream");

const MAX_UNSENT_BYTES = 1 << 20;
const STOP_AFTER_STDIN_CLOSE_MS = 5_000;

type Call = ClientDuplexStream<TerminalStreamData, TerminalStreamData>;

const msg = (requestUuid: string, d: Partial<TerminalStreamData>): TerminalStreamData => ({
  requestUuid, data: Buffer.alloc(0), streamType: "", resize: false, rows: 0, cols: 0, eof: false, error: "", ...d,
});

/** Output of the exec into the gRPC call; resizable, so client-node sends its size on channel 4. */
class TerminalOutput extends Writable {
  rows = 24;
  columns = 80;
  private readonly call: Call;
  private readonly uuid: string;
  constructor(call: Call, uuid: string) {
    super({ highWaterMark: 64 * 1024 });
    this.call = call;
    this.uuid = uuid;
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    if (this.call.writableEnded || this.call.destroyed) return cb();
    if (this.call.write(msg(this.uuid, { data: chunk, streamType: "stdout" }))) cb();
    else this.call.once("drain", () => cb());
  }
  resize(cols: number, rows: number): void {
    this.columns = cols;
    this.rows = rows;
    this.emit("resize");
  }
}

export interface AgentTerminalsOptions {
  kc: KubeConfig;
  channel: LiveChannel;
}

export class AgentTerminals {
  private readonly inflight = new Map<string, () => void>();
  private readonly o: AgentTerminalsOptions;

  constructor(o: AgentTerminalsOptions) {
    this.o = o;
  }

  get active(): number {
    return this.inflight.size;
  }

  readonly handler: EventHandler = async (_ev, payload) => {
    const req = payload as unknown as ContainerTerminalRequest | undefined;
    if (!req || typeof req.uuid !== "string" || !req.uuid || !req.namespace || !req.podName) return { rejected: true };
    if (this.inflight.has(req.uuid)) {
      log.warn("duplicate terminal request; already processing", { session_uuid: req.uuid });
      return;
    }
    this.inflight.set(req.uuid, () => {});
    void this.run(req)
      .catch((err: Error) => log.warn("terminal session failed", { session_uuid: req.uuid, error: err }))
      .finally(() => this.inflight.delete(req.uuid));
  };

  private async run(req: ContainerTerminalRequest): Promise<void> {
    const live = this.o.channel();
    if (!live) throw new Error("not connected to the principal");
    // Loaded with the first session: client-node's exec brings ws with it (issue #19). WebSocketHandler
    // is not re-exported by the package index; it gives Exec our own streams.
    const [{ Exec }, { WebSocketHandler }] = await Promise.all([
      import("@kubernetes/client-node/dist/exec.js"),
      import("@kubernetes/client-node/dist/web-socket-handler.js"),
    ]);
    const client = new TerminalStreamServiceClient("principal", credentials.createInsecure(), { channelOverride: live.channel });
    const call = client.streamTerminal(live.metadata);
    const uuid = req.uuid;
    const ctx = { session_uuid: uuid, namespace: req.namespace, pod: req.podName, container: req.containerName, command: req.command };
    log.info("processing terminal request", ctx);
    let execWs: WebSocket | undefined;
    let finished = false;
    let stopTimer: NodeJS.Timeout | undefined;
    const stdin = new PassThrough();
    const stdout = new TerminalOutput(call, uuid);
    const stderr = new TerminalOutput(call, uuid);
    const done = new Promise<void>((resolve) => {
      const finish = (last: Partial<TerminalStreamData> | undefined, why: string) => {
        if (finished) return;
        finished = true;
        clearTimeout(stopTimer);
        if (last && !call.writableEnded) call.write(msg(uuid, last));
        if (!call.writableEnded) call.end();
        execWs?.close();
        stdin.destroy();
        log.info("terminal session ended", { ...ctx, reason: why });
        resolve();
      };
      this.inflight.set(uuid, () => finish(undefined, "agent shutting down"));
      call.on("data", (m: TerminalStreamData) => {
        if (m.error) return finish(undefined, `principal: ${m.error}`);
        if (m.eof) return void stdin.end();
        if (m.resize) return stdout.resize(m.cols, m.rows);
        if (m.data.length && m.streamType === "stdin") stdin.write(m.data);
      });
      const principalGone = (why: string) => {
        if (finished) return;
        stdin.end();
        stopTimer ??= setTimeout(() => finish(undefined, `${why}; exec stopped`), STOP_AFTER_STDIN_CLOSE_MS);
        stopTimer.unref();
      };
      call.on("end", () => principalGone("principal closed the session"));
      call.on("error", (err: ServiceError) => {
        if (err.code === status.UNAUTHENTICATED || err.code === status.PERMISSION_DENIED) log.warn("terminal stream refused by the principal", { ...ctx, error: err.details });
        principalGone(`terminal stream failed: ${err.details ?? err.message}`);
      });
      call.write(msg(uuid, {}));
      const exec = new Exec(this.o.kc, new WebSocketHandler(this.o.kc, undefined, { stdin, stdout, stderr }));
      let exitStatus: V1Status | undefined;
      exec
        .exec(req.namespace, req.podName, req.containerName, req.command ?? [], stdout, req.stderr ? stderr : null, req.stdin ? stdin : null, req.tty, (s) => {
          exitStatus = s;
        })
        .then((ws) => {
          execWs = ws as unknown as WebSocket;
          if (finished) return execWs.close();
          const pauseIfBehind = () => {
            if (stdout.writableLength + stderr.writableLength > MAX_UNSENT_BYTES) {
              execWs!.pause();
              const go = () => execWs!.resume();
              stdout.once("drain", go);
            }
          };
          execWs.on("message", pauseIfBehind);
          execWs.on("close", async () => {
            // Let buffered output reach the call before the last message.
            await Promise.all([stdout, stderr].map((w) => (w.writableLength ? new Promise((r) => w.once("drain", r)) : undefined)));
            if (!exitStatus) return finish({ error: "exec connection closed before the command ended" }, "exec connection closed");
            if (exitStatus.status === "Success") return finish({ eof: true }, "command ended");
            const why = exitStatus.message ?? exitStatus.reason ?? "command failed";
            finish({ error: why }, why);
          });
        })
        .catch((err: Error) => {
          const why = execErrorText(err);
          if (!/executable file not found|no such file or directory/.test(why)) log.warn("exec failed", { ...ctx, error: why });
          finish({ error: why }, why);
        });
    });
    await done;
  }

  close(): void {
    for (const stop of this.inflight.values()) stop();
  }
}

/** client-node rejects with the WebSocket's error event; keep its message. */
function execErrorText(err: unknown): string {
  const e = err as { message?: string; error?: { message?: string } };
  return e?.message ?? e?.error?.message ?? String(err);
}
