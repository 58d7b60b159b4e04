/**
 * Replication through an intermediary that speaks only HTTP/1.1 (issue 21): a real nginx
 * terminates TLS (ALPN http/1.1 only, no http2) and proxies to the principal with
 * `proxy_pass https://…`, `proxy_http_version 1.1` and the Upgrade/Connection headers,
 * cutting connections idle for 10 s. Real principal and agent processes, real API
 * servers. An agent without --enable-websocket cannot connect through it (gRPC needs
 * HTTP/2); with --enable-websocket on both sides an Application created on the control
 * plane reaches the agent's cluster and its status comes back, and the agent's
 * heartbeats keep the event stream's WebSocket open past nginx's idle timeout (HTTP/2
 * pings would not cross it).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { after, before, test } from "node:test";
import type { Application } from "../../src/kube/resources.ts";
import { freePort, LIVE_ROOMS_OFF, start, startRaw, type Running } from "../support/processes.ts";
import { startNginx, type Sidecar } from "../support/sidecars.ts";
import type { Pod } from "../support/netns.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";
import { app, apps, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const NS = "argocd";
let h: Harness;
let pki: TestPki;
let nginx: Sidecar | undefined;
let principal: Running | undefined;
let nginxPort: number;
const agents: Running[] = [];

/** nginx runs on the host (no netns): start and listening are all startNginx needs. */
const hostPod = {
  name: "host",
  start: (cmd: string, args: string[], env?: Record<string, string>) => startRaw(cmd, args, env),
  listening: (port: number, host?: string) => {
    const out = spawnSync("ss", ["-Hltn", `sport = :${port}`], { encoding: "utf8" }).stdout ?? "";
    return out.split("\n").some((l) => l.trim() !== "" && (!host || l.includes(`${host}:${port}`)));
  },
} as unknown as Pod;

function http1OnlyNginx(o: { listen: number; upstream: number }): string {
  return `  map $http_upgrade $connection_upgrade { default upgrade; '' close; }
  server {
    listen 127.0.0.1:${o.listen} ssl;
    ssl_certificate ${pki.server.certFile};
    ssl_certificate_key ${pki.server.keyFile};
    location / {
      proxy_pass https://127.0.0.1:${o.upstream};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_ssl_verify on;
      proxy_ssl_trusted_certificate ${pki.caFile};
      proxy_ssl_name localhost;
      proxy_ssl_protocols TLSv1.3;
      proxy_read_timeout 10s;
      proxy_send_timeout 10s;
    }
  }`;
}

before(async () => {
  pki = await createTestPki();
  h = await startHarness({ agents: { [MANAGED]: { cluster: MANAGED, mode: "managed" } } });
  nginxPort = await freePort();
  nginx = await startNginx(hostPod, { httpBlock: () => http1OnlyNginx({ listen: nginxPort, upstream: h.port }), listen: [{ host: "127.0.0.1", port: nginxPort }] });
  principal = start([
    "principal", "-n", NS, "--listen-host", "127.0.0.1", "--listen-port", String(h.port),
    "--tls-cert", pki.server.certFile, "--tls-key", pki.server.keyFile, "--enable-websocket",
    "--auth", `userpass:${join(dirname(h.credsFile(MANAGED)), "passwd")}`, "--insecure-jwt-generate",
    "--kubeconfig", h.env.cluster("control-plane").kubeconfigPath, "--allowed-namespaces", "agent-*",
    "--healthz-port", "0", "--metrics-port", "0", ...LIVE_ROOMS_OFF,
  ]);
  await principal.waitFor(/principal started/, 60_000);
}, { timeout: 180_000 });

after(async () => {
  for (const a of agents) await a.stop();
  await principal?.stop();
  await nginx?.stop();
  await h?.stop();
  pki?.cleanup();
});

async function startAgentProcess(extra: string[]): Promise<{ proc: Running; readyz: () => Promise<number> }> {
  const healthz = await freePort();
  const proc = start([
    "agent", "--server-address", "localhost", "--server-port", String(nginxPort), "--root-ca-path", pki.caFile,
    "--creds", `userpass:${h.credsFile(MANAGED)}`, "--namespace", NS, "--agent-mode", "managed",
    "--kubeconfig", h.env.cluster(MANAGED).kubeconfigPath, "--healthz-port", String(healthz), "--metrics-port", "0", ...extra,
  ]);
  agents.push(proc);
  const readyz = async () => (await fetch(`http://127.0.0.1:${healthz}/readyz`).catch(() => undefined))?.status ?? 0;
  return { proc, readyz };
}

test("plain gRPC cannot pass the HTTP/1.1-only nginx", { timeout: 60_000 }, async () => {
  const agent = await startAgentProcess([]);
  // nginx offers only ALPN http/1.1; gRPC requires h2, so the TLS handshake ends there.
  await agent.proc.waitFor(/could not connect to principal.*no application protocol/, 60_000);
  await sleep(3000);
  assert.equal(await agent.readyz(), 503, "never connected");
  assert.doesNotMatch(principal!.output(), /agent authenticated/);
  assert.equal(await agent.proc.stop(), 0);
});

test("with --enable-websocket an Application and its status replicate through nginx, and heartbeats keep the stream open", { timeout: 150_000 }, async () => {
  const agent = await startAgentProcess(["--enable-websocket", "--heartbeat-interval", "3s"]);
  await eventually("agent ready through nginx", async () => (await agent.readyz()) === 200, 60_000).catch((err: Error) => {
    throw new Error(`${err.message}\nagent:\n${agent.proc.output().slice(-3000)}\nnginx:\n${nginx!.proc.output().slice(-2000)}`);
  });
  assert.match(principal!.output(), /agent authenticated.*agent=agent-managed/);

  await apps(h.cp).create(app("through-nginx", MANAGED) as Application);
  await eventually("the Application on the agent's cluster", () => apps(h.managed).get(NS, "through-nginx"), 30_000);
  await apps(h.managed).patchStatus(NS, "through-nginx", { status: { sync: { status: "Synced", revision: "ws1" }, health: { status: "Healthy" } } });
  await eventually("the status on the control plane", async () => {
    const a = await apps(h.cp).get(MANAGED, "through-nginx");
    return (a?.status?.["health"] as { status?: string } | undefined)?.status === "Healthy";
  }, 30_000);

  // 15 s of quiet, past nginx's 10 s idle timeout: only the 3 s heartbeats cross the WebSocket.
  const connected = (principal!.output().match(/msg="agent connected" agent=agent-managed/g) ?? []).length;
  await sleep(15_000);
  assert.equal((principal!.output().match(/msg="agent connected" agent=agent-managed/g) ?? []).length, connected, "no reconnect while quiet");
  assert.doesNotMatch(nginx!.proc.output(), /upstream timed out/);
  await apps(h.cp).patch(MANAGED, "through-nginx", { spec: { source: { path: "after-quiet" } } });
  await eventually("a change after the quiet period", async () => ((await apps(h.managed).get(NS, "through-nginx"))?.spec["source"] as { path?: string })?.path === "after-quiet", 20_000);

  assert.equal(await agent.proc.stop(), 0);
  // nginx logs a WebSocket when it closes.
  await eventually("nginx logged the event stream", () => /"GET \/eventstreamapi\.EventStream\/Subscribe HTTP\/1\.1" 101 /.test(nginx!.readFile("access.log")), 10_000);
  assert.match(nginx!.readFile("access.log"), /"GET \/authapi\.Authentication\/Authenticate HTTP\/1\.1" 101 /);
});
