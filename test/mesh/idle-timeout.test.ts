/**
 * Idle timeouts (seed guide "Connection Drops"): an nginx hop with
 * `grpc_read_timeout 3s` / `grpc_send_timeout 3s` sits in each agent pod
 * between the agent and its Caddy sidecar, so the whole path is
 * agent ─h2c─► nginx ─h2c─► caddy ══mTLS══► caddy ─h2c─► principal.
 *
 * - agent-1, no heartbeats: its quiet Subscribe stream is cut every ~3 s
 *   (RST_STREAM), and each time it reconnects and is connected again.
 * - agent-2, `--heartbeat-interval 1s`: the same stream survives four and more
 *   timeout periods with zero reconnects.
 * Both run at the same time against one principal.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createPodNetwork, type PodNetwork } from "../support/netns.ts";
import { grpcIdleTimeoutNginx, meshPki, startNginx, type Sidecar } from "../support/sidecars.ts";
import { PORTS, startAgentPod, startPrincipalPod, type AgentPod, type PrincipalPod } from "../support/mesh-pods.ts";

const NGINX_PORT = 15002;
const TIMEOUT_S = 3;
/** Four timeout periods and a bit. */
const OBSERVE_MS = 4 * TIMEOUT_S * 1000 + 2_000;

let net: PodNetwork;
let principal: PrincipalPod;
const agents: Record<string, AgentPod> = {};
const nginx: Record<string, Sidecar> = {};

async function agentBehindNginx(sa: string, extraArgs: string[]): Promise<AgentPod> {
  const pod = net.pod(sa);
  return startAgentPod(pod, {
    sa,
    pki,
    principal,
    extraArgs,
    agentTarget: { host: "127.0.0.1", port: NGINX_PORT },
    beforeAgent: async () => {
      nginx[sa] = await startNginx(pod, {
        httpBlock: () => grpcIdleTimeoutNginx({ listen: `127.0.0.1:${NGINX_PORT}`, upstream: `127.0.0.1:${PORTS.agentSidecar}`, timeout: `${TIMEOUT_S}s` }),
        listen: [{ host: "127.0.0.1", port: NGINX_PORT }],
      });
    },
  });
}

let pki: Awaited<ReturnType<typeof meshPki>>;

before(async () => {
  net = await createPodNetwork({ subnet: "10.123.24", pods: ["principal", "agent-1", "agent-2"] });
  pki = await meshPki();
  principal = await startPrincipalPod(net.pod("principal"), { flavour: "istio", pki, logLevel: "info,grpc-event=debug" });
  const [a1, a2] = await Promise.all([agentBehindNginx("agent-1", []), agentBehindNginx("agent-2", ["--heartbeat-interval", "1s"])]);
  agents["agent-1"] = a1;
  agents["agent-2"] = a2;
});

after(async () => {
  await Promise.all(Object.values(agents).map((a) => a.stop()));
  await Promise.all(Object.values(nginx).map((n) => n.stop()));
  await principal?.stop();
  net?.destroy();
});

test("idle streams through a 3 s idle timeout: cut and reconnected without heartbeats, kept with --heartbeat-interval 1s", { timeout: 240_000 }, async () => {
  await Promise.all([agents["agent-1"]!.waitReady(90_000), agents["agent-2"]!.waitReady(90_000)]);
  const p = principal.principal;
  await p.waitFor(/msg="agent connected" agent=agent-1 /, 10_000);
  await p.waitFor(/msg="agent connected" agent=agent-2 /, 10_000);
  assert.equal(principal.connects("agent-2"), 1, "agent-2 connected once");
  const t0 = Date.now();
  const reconnects1 = () => (agents["agent-1"]!.agent.output().match(/msg="reconnecting"/g) ?? []).length;

  // Without heartbeats: cut at least three times, each time reconnected as agent-1. (The wait is
  // bounded but not fixed: the agent's reconnect delays are random, with exponential backoff.)
  while (reconnects1() < 3 || principal.connects("agent-1") < 3) {
    assert.ok(Date.now() - t0 < 60_000, `agent-1 reconnected ${reconnects1()} times, connected ${principal.connects("agent-1")} times in 60 s:\n${agents["agent-1"]!.agent.output()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
  // ...and agent-2 is watched for at least four timeout periods.
  const rest = OBSERVE_MS - (Date.now() - t0);
  if (rest > 0) await new Promise((r) => setTimeout(r, rest));

  const a1 = agents["agent-1"]!.agent.output();
  assert.match(a1, /msg="event stream failed".*RST_STREAM/, "the cut surfaces as a stream reset, as behind Envoy");
  assert.doesNotMatch(a1, /authentication failed/);
  assert.doesNotMatch(p.output(), /authentication failed/);
  assert.match(nginx["agent-1"]!.proc.output(), /upstream timed out .* while reading upstream/, "nginx did the cutting");
  await agents["agent-1"]!.waitReady(45_000);

  // With heartbeats: the same stream all along.
  const a2 = agents["agent-2"]!.agent.output();
  assert.doesNotMatch(a2, /reconnecting|event stream failed/);
  assert.equal(principal.connects("agent-2"), 1, "agent-2 connected exactly once");
  assert.doesNotMatch(p.output(), /msg="agent disconnected" agent=agent-2/);
  assert.equal(agents["agent-2"]!.readyz(), 200);
  assert.doesNotMatch(nginx["agent-2"]!.proc.output(), /timed out/);
  assert.match(nginx["agent-2"]!.readFile("access.log"), /POST \/authapi\.Authentication\/Authenticate HTTP\/2\.0" 200/, "agent-2's traffic did go through nginx");
  const heartbeats = (p.output().match(/msg="heartbeat received" peer=agent-2 /g) ?? []).length;
  assert.ok(heartbeats >= 4 * TIMEOUT_S, `principal received ${heartbeats} heartbeats from agent-2`);
});
