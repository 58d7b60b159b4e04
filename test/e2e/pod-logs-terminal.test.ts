/**
 * Pod logs and the web terminal through the principal, used as Argo CD and
 * users use them: kubectl and HTTPS/WebSocket clients with client
 * certificates → our principal's resource proxy (real TLS) → the agent over
 * real gRPC (event stream, LogStreamService, TerminalStreamService) → the
 * agent's real kube-apiserver → the pod's kubelet.
 *
 * Real: kube-apiserver + etcd, the principal, the agents, kubectl, TLS and
 * gRPC everywhere. Stands in: the kubelet (test/support/kubelet-standin.ts, a
 * loopback HTTPS server behind a Node object, serving containerLogs and a
 * WebSocket exec with a tiny shell), since a bare API server has none. The
 * API servers run with TranslateStreamCloseWebsocketRequests=false: with the
 * gate on (the default) the API server answers a v5 WebSocket exec by
 * speaking SPDY/3.1 to the kubelet, which the stand-in does not; with it off
 * the API server passes the WebSocket through and the kubelet's own
 * WebSocket protocol (v4.channel.k8s.io) is used, as with older clients.
 * Also a TCP forwarder between the managed agent and the principal, to cut
 * the agent's connection without stopping it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { request as httpsRequest } from "node:https";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { after, before, test } from "node:test";
import type { IncomingMessage } from "node:http";
import { status as grpcStatus, credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import WebSocket from "ws";
import { ensureNamespace } from "../../src/kube/crud.ts";
import { LogStreamServiceClient } from "../../src/proto/gen/logstream.ts";
import { TerminalStreamServiceClient } from "../../src/proto/gen/terminalstream.ts";
import { createTestPki, type PemFiles, type TestPki } from "../support/pki.ts";
import { findKubectl, kubectl, writeClientKubeconfig } from "../support/kubectl.ts";
import { startKubeletStandIn, type KubeletStandIn } from "../support/kubelet-standin.ts";
import { freePort } from "../support/processes.ts";
import { AUTO, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const NS = "guestbook";
const POD = "web";
const REATTACH_S = 10;

let h: Harness;
let pki: TestPki;
let tmp: string;
let rpPort: number;
let kubelet: KubeletStandIn;
let gate: Forwarder;
const certs = new Map<string, PemFiles>();

async function certFor(cn: string): Promise<PemFiles> {
  let c = certs.get(cn);
  if (!c) certs.set(cn, (c = await pki.agent(cn)));
  return c;
}

/** A TCP forwarder to the principal's gRPC port whose connections can be cut. */
interface Forwarder {
  port: number;
  cut(): void;
  close(): Promise<void>;
}

async function forwarder(targetPort: number): Promise<Forwarder> {
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
  };
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    track(client);
    track(upstream);
    client.pipe(upstream).pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", () => r()));
  return {
    port,
    cut: () => {
      for (const s of sockets) s.destroy();
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function kubeconfig(cn: string, cert: PemFiles): string {
  return writeClientKubeconfig(tmp, cn, { server: `https://127.0.0.1:${rpPort}`, caFile: pki.caFile, certFile: cert.certFile, keyFile: cert.keyFile });
}

async function kc(args: string[], cn = MANAGED) {
  return kubectl(kubeconfig(cn, await certFor(cn)), args);
}

/** A streaming GET on the resource proxy: the response as it arrives. */
async function openLog(query: string, o: { cn?: string; headers?: Record<string, string> } = {}) {
  const client = await certFor(o.cn ?? MANAGED);
  return new Promise<{ res: IncomingMessage; text: () => string; ended: Promise<void>; destroy(): void }>((resolve, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port: rpPort, path: `/api/v1/namespaces/${NS}/pods/${POD}/log?${query}`, ca: [pki.ca.cert], cert: client.cert, key: client.key, agent: false, headers: o.headers },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        const ended = new Promise<void>((r) => {
          res.on("end", () => r());
          res.on("close", () => r());
        });
        resolve({ res, text: () => body, ended, destroy: () => req.destroy() });
      },
    );
    req.on("error", reject);
    req.end();
  });
}

async function metric(name: string, agent: string): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${h.principal()!.metricsPort}/metrics`);
  const line = (await res.text()).split("\n").find((l) => l.startsWith(`${name}{agent_name="${agent}"}`));
  return line ? Number(line.split(" ").pop()) : 0;
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "pod-logs-terminal-e2e-"));
  pki = await createTestPki();
  h = await startHarness({ apiserverFlags: ["--feature-gates=TranslateStreamCloseWebsocketRequests=false"] });
  await h.startPrincipal({
    enableResourceProxy: "true", resourceProxyPort: "0", resourceProxyTimeout: `${REATTACH_S}s`,
    resourceProxyCertPath: pki.server.certFile, resourceProxyKeyPath: pki.server.keyFile, resourceProxyCaPath: pki.caFile,
    metricsPort: String(await freePort()),
  });
  rpPort = h.principal()!.resourceProxyPort!;
  gate = await forwarder(h.port);
  await h.startAgent(MANAGED, { serverPort: String(gate.port) });
  await h.startAgent(AUTO);
  assert.ok(h.env.pki, "the test API servers' PKI");
  kubelet = await startKubeletStandIn(h.env.pki);
  const kubeConfig = h.kube(MANAGED).kubeConfig;
  await ensureNamespace(h.kube(MANAGED), NS);
  await kubelet.registerNode(kubeConfig, "stand-in-node");
  await kubelet.runningPod(kubeConfig, NS, POD, "stand-in-node", ["app", "sidecar", "follow-a", "follow-b", "flood"]);
}, { timeout: 180_000 });

after(async () => {
  await h?.stop();
  await kubelet?.close();
  await gate?.close();
  pki?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("kubectl logs returns the container's lines in order, with the options applied", async () => {
  const app = kubelet.container(NS, POD, "app");
  app.append(...Array.from({ length: 20 }, (_, i) => `line ${i + 1}`));
  kubelet.container(NS, POD, "app").previous.push({ ts: "2020-01-01T00:00:00.000000001Z", text: "from the previous run" });
  const all = await kc(["logs", POD, "-n", NS, "-c", "app"]);
  assert.equal(all.code, 0, all.stderr);
  assert.deepEqual(all.stdout.trimEnd().split("\n"), Array.from({ length: 20 }, (_, i) => `line ${i + 1}`));
  const tail = await kc(["logs", POD, "-n", NS, "-c", "app", "--tail=3", "--timestamps"]);
  assert.equal(tail.code, 0, tail.stderr);
  const lines = tail.stdout.trimEnd().split("\n");
  assert.equal(lines.length, 3);
  for (const [i, l] of lines.entries()) assert.match(l, new RegExp(`^\\d{4}-\\d\\d-\\d\\dT\\S+Z line ${18 + i}$`));
  const limited = await kc(["logs", POD, "-n", NS, "-c", "app", "--limit-bytes=14"]);
  assert.equal(limited.stdout, "line 1\nline 2\n");
  const since = await kc(["logs", POD, "-n", NS, "-c", "app", "--since=1h"]);
  assert.equal(since.stdout.trimEnd().split("\n").length, 20);
  const previous = await kc(["logs", POD, "-n", NS, "-c", "app", "--previous"]);
  assert.equal(previous.stdout, "from the previous run\n");
  // What reached the kubelet: the options, as the API server passes them on.
  const seen = kubelet.requests.filter((r) => r.path === `/containerLogs/${NS}/${POD}/app`).map((r) => Object.fromEntries(r.query));
  assert.ok(seen.some((q) => q["tailLines"] === "3" && q["timestamps"] === "true"), JSON.stringify(seen));
  assert.ok(seen.some((q) => q["limitBytes"] === "14"));
  assert.ok(seen.some((q) => q["sinceSeconds"] === "3600"));
  assert.ok(seen.some((q) => q["previous"] === "true"));
  // A missing container: the API server's error, as the last line of the 200 stream.
  const bad = await openLog("container=nope");
  await bad.ended;
  assert.equal(bad.res.statusCode, 200);
  assert.match(bad.text(), /container nope is not valid for pod web/);
});

test("kubectl logs -f streams new lines as they come and ends when the container does", async () => {
  const c = kubelet.container(NS, "web", "sidecar");
  c.append("first");
  const cfg = kubeconfig(MANAGED, await certFor(MANAGED));
  const child = spawn(findKubectl(), ["--kubeconfig", cfg, "logs", "-f", POD, "-n", NS, "-c", "sidecar"], { env: { PATH: process.env.PATH ?? "", HOME: "/nonexistent" } });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  await eventually("first line", () => out.includes("first\n"), 20_000);
  for (let i = 1; i <= 5; i++) {
    c.append(`live ${i}`);
    await eventually(`live ${i}`, () => out.includes(`live ${i}\n`));
  }
  c.end();
  assert.equal(await exited, 0, err);
  assert.equal(out, ["first", "live 1", "live 2", "live 3", "live 4", "live 5", ""].join("\n"));
  await eventually("principal forgot the stream", async () => (await metric("argocd_principal_log_streams", MANAGED)) === 0);
});

test("a followed log survives the agent's reconnect: no line lost, none repeated", async () => {
  const c = kubelet.container(NS, POD, "follow-a");
  c.append("before 1", "before 2");
  const log = await openLog("container=follow-a&follow=true");
  await eventually("initial lines", () => log.text() === "before 1\nbefore 2\n");
  const reconnectsBefore = h.agent(MANAGED)!.connection.connects;
  gate.cut();
  c.append("during 1", "during 2");
  await eventually("agent reconnected", () => h.agent(MANAGED)!.connection.connects > reconnectsBefore, 20_000);
  c.append("after 1");
  await eventually("resumed", () => log.text().includes("after 1\n"), 20_000);
  assert.equal(log.text(), ["before 1", "before 2", "during 1", "during 2", "after 1", ""].join("\n"));
  // The client leaves: the agent stops reading from the API server (the kubelet's follower goes).
  log.destroy();
  await eventually("kubelet follower gone", () => c.followerCount === 0);
  await eventually("agent log streams ended", () => h.agent(MANAGED)!.live.streams!.logs.active === 0);
});

test("a followed log whose agent does not come back ends with a clear last line", async () => {
  const c = kubelet.container(NS, POD, "follow-b");
  c.append("only line");
  const log = await openLog("container=follow-b&follow=true&timestamps=true");
  await eventually("line", () => log.text().includes("only line\n"));
  await h.stopAgent(MANAGED);
  try {
    const t0 = Date.now();
    await log.ended;
    const waited = Date.now() - t0;
    assert.match(log.text(), new RegExp(`Z agent ${MANAGED} did not resume the log stream within ${REATTACH_S}s\\n$`));
    assert.ok(waited > (REATTACH_S - 2) * 1000 && waited < (REATTACH_S + 10) * 1000, `ended after ${waited} ms`);
  } finally {
    await h.startAgent(MANAGED, { serverPort: String(gate.port) });
  }
});

test("a client that stops reading does not grow memory: backpressure reaches the kubelet", { timeout: 120_000 }, async () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const used = () => {
    gc();
    const m = process.memoryUsage();
    return m.heapUsed + m.arrayBuffers;
  };
  const flood = kubelet.container(NS, POD, "flood");
  flood.floodBytes = 512 * 1024 * 1024;
  const base = used();
  const log = await openLog("container=flood&follow=true");
  log.res.pause();
  log.res.removeAllListeners("data");
  // Sample each second until the kubelet has been stuck for 3 s (or 40 s pass).
  const plateau: number[] = [];
  const stuck = () => plateau.length >= 4 && plateau.at(-1)! - plateau.at(-4)! < 64 * 1024;
  while (plateau.length < 40 && !stuck()) {
    await new Promise((r) => setTimeout(r, 1000));
    plateau.push(flood.floodWritten);
  }
  const grown = used() - base;
  const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
  console.log(`# non-reading client: the kubelet wrote ${mib(flood.floodWritten)} of ${mib(flood.floodBytes)}; process memory grew ${mib(grown)}; per second: ${plateau.map(mib).join(", ")}`);
  assert.ok(flood.floodWritten > 1024 * 1024, `the stream never flowed: kubelet wrote ${mib(flood.floodWritten)}`);
  assert.ok(flood.floodWritten < 64 * 1024 * 1024, `kubelet wrote ${mib(flood.floodWritten)}`);
  assert.ok(stuck(), `still flowing: ${plateau.map(mib).join(", ")}`);
  assert.ok(grown < 32 * 1024 * 1024, `memory grew ${mib(grown)}`);
  log.destroy();
  await eventually("flood follower gone", () => flood.followerCount === 0);
});

test("the log and terminal gRPC services check the caller's token and the request's owner", async () => {
  const auto = h.agent(AUTO)!.connection.liveChannel();
  assert.ok(auto);
  const logs = new LogStreamServiceClient("principal", credentials.createInsecure(), { channelOverride: auto.channel });
  const streamOnce = (md: Metadata, uuid: string) =>
    new Promise<ServiceError | null>((resolve) => {
      const call = logs.streamLogs(md, (err) => resolve(err));
      call.write({ requestUuid: uuid, data: Buffer.alloc(0), eof: false, error: "" });
    });
  const noToken = await streamOnce(new Metadata(), "x");
  assert.equal(noToken?.code, grpcStatus.UNAUTHENTICATED);
  const unknown = await streamOnce(auto.metadata, "00000000-0000-0000-0000-000000000000");
  assert.equal(unknown?.code, grpcStatus.NOT_FOUND);
  assert.equal(unknown?.details, "unknown request id");
  // A session of MANAGED is not AUTO's to attach to.
  const open = await openLog("container=app&follow=true");
  await eventually("managed stream attached", () => open.text().length > 0);
  const terminals = new TerminalStreamServiceClient("principal", credentials.createInsecure(), { channelOverride: auto.channel });
  const t = terminals.streamTerminal(auto.metadata);
  const tErr = new Promise<ServiceError>((r) => t.on("error", r));
  t.on("data", () => {});
  t.write({ requestUuid: "nope", data: Buffer.alloc(0), streamType: "", resize: false, rows: 0, cols: 0, eof: false, error: "" });
  assert.equal((await tErr).code, grpcStatus.UNKNOWN);
  open.destroy();
});

/** A WebSocket terminal on the resource proxy, as Argo CD's server opens it. */
async function terminal(o: { cn?: string; command?: string; headers?: Record<string, string> } = {}) {
  const client = await certFor(o.cn ?? MANAGED);
  const url = `wss://127.0.0.1:${rpPort}/api/v1/namespaces/${NS}/pods/${POD}/exec?container=app&command=${o.command ?? "sh"}&stdin=true&stdout=true&tty=true`;
  const ws = new WebSocket(url, ["v5.channel.k8s.io", "v4.channel.k8s.io"], { ca: pki.ca.cert, cert: client.cert, key: client.key, headers: o.headers });
  let out = "";
  const texts: string[] = [];
  ws.on("message", (d: Buffer, binary: boolean) => {
    if (!binary) texts.push(d.toString());
    else if (d[0] === 1 || d[0] === 2) out += d.subarray(1).toString();
  });
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  const failed = new Promise<{ status?: number; body: string }>((r) =>
    ws.on("unexpected-response", (_req, res) => {
      let body = "";
      res.on("data", (c: Buffer) => (body += c.toString()));
      res.on("end", () => r({ status: res.statusCode, body }));
    }),
  );
  const opened = new Promise<void>((r, j) => {
    ws.on("open", () => r());
    ws.on("error", j);
    void failed.then((f) => j(new Error(`upgrade refused: ${f.status} ${f.body}`)));
  });
  opened.catch(() => {});
  return { ws, out: () => out, texts, closed, failed, opened };
}

test("web terminal: open, type, get output, resize, close; both sides clean up", async () => {
  const t = await terminal();
  await t.opened;
  assert.equal(t.ws.protocol, "v5.channel.k8s.io");
  await eventually("prompt", () => t.out().includes("$ "));
  t.ws.send(Buffer.from('\x04{"Width":100,"Height":30}'));
  t.ws.send(Buffer.from("\x00echo hello terminal\r"));
  await eventually("echo output", () => t.out().includes("hello terminal\r\n$ "));
  t.ws.send(Buffer.from('{"operation":"resize","cols":120,"rows":40}'));
  t.ws.send(Buffer.from("\x00stty size\r"));
  await eventually("stty size", () => t.out().includes("40 120\r\n"));
  const rec = kubelet.execs.at(-1)!;
  assert.deepEqual(rec.command, ["sh"]);
  assert.deepEqual(rec.resizes.slice(-2), [{ width: 100, height: 30 }, { width: 120, height: 40 }]);
  // The client closes: the agent stops the exec, both sides forget the session.
  t.ws.close(1000);
  await eventually("exec closed at the kubelet", () => rec.closed);
  await eventually("agent session gone", () => h.agent(MANAGED)!.live.streams!.terminals.active === 0);
  await eventually("principal session gone", async () => (await metric("argocd_principal_terminal_sessions", MANAGED)) === 0);
});

test("web terminal: the command ending closes the WebSocket normally; a missing shell is reported", async () => {
  const t = await terminal();
  await t.opened;
  await eventually("prompt", () => t.out().includes("$ "));
  t.ws.send(Buffer.from("\x00exit\r"));
  assert.equal((await t.closed).code, 1000);
  const z = await terminal({ command: "zsh" });
  await z.opened;
  const closed = await z.closed;
  assert.match(z.texts.join(""), /executable file not found/);
  assert.equal(closed.code, 1011);
  await eventually("agent sessions gone", () => h.agent(MANAGED)!.live.streams!.terminals.active === 0);
});

test("web terminal refusals: autonomous agent 400, unknown agent, bad token, no certificate", async () => {
  const auto = await terminal({ cn: AUTO });
  const a = await auto.failed;
  assert.equal(a.status, 400);
  assert.equal(a.body, "web terminal is only supported for managed agents\n");
  const nobody = await terminal({ cn: "nobody" });
  assert.equal((await nobody.failed).status, 400);
  const bad = await terminal({ headers: { Authorization: "Bearer not-a-token" } });
  assert.equal((await bad.failed).status, 401);
  const noCert = new WebSocket(`wss://127.0.0.1:${rpPort}/api/v1/namespaces/${NS}/pods/${POD}/exec?command=sh`, { ca: pki.ca.cert });
  await assert.rejects(new Promise((_r, j) => noCert.on("error", j)).then(() => undefined));
  assert.equal(h.agent(MANAGED)!.live.streams!.terminals.active, 0);
});
