/**
 * Istio-like mesh, end to end (seed guide "Istio Configuration"): the principal
 * runs plaintext on 127.0.0.1 in its pod with the seed's XFCC regex; a Caddy
 * sidecar on the pod IP terminates mTLS, admits only SPIFFE IDs of the trust
 * domain and sets x-forwarded-client-cert from the verified client
 * certificate's URI SAN. The agent, `--creds header:`, talks h2c to its own
 * Caddy sidecar on loopback, which originates mTLS with the agent's SPIFFE
 * certificate (spiffe://cluster.local/ns/argocd/sa/agent-1).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createPodNetwork, type PodNetwork } from "../support/netns.ts";
import { meshPki, spiffeId } from "../support/sidecars.ts";
import { PORTS, startAgentPod, startPrincipalPod, type AgentPod, type PrincipalPod } from "../support/mesh-pods.ts";

let net: PodNetwork;
let principal: PrincipalPod;
let agent: AgentPod;

before(async () => {
  net = await createPodNetwork({ subnet: "10.123.21", pods: ["principal", "agent-1"] });
  const pki = await meshPki();
  principal = await startPrincipalPod(net.pod("principal"), { flavour: "istio", pki });
  agent = await startAgentPod(net.pod("agent-1"), { sa: "agent-1", pki, principal });
});

after(async () => {
  await agent?.stop();
  await principal?.stop();
  net?.destroy();
});

test("the principal listens on loopback only and the sidecar on the pod IP", () => {
  const pod = net.pod("principal");
  assert.deepEqual(pod.listeners(PORTS.principalGrpc), [`127.0.0.1:${PORTS.principalGrpc}`], "the principal's gRPC port is on loopback only");
  assert.deepEqual(pod.listeners(PORTS.principalSidecar), [`${pod.ip}:${PORTS.principalSidecar}`], "the sidecar is on the pod IP");
});

test("the agent connects through both sidecars as agent-1, named after its SPIFFE ID", { timeout: 120_000 }, async () => {
  await agent.waitReady(90_000);
  await principal.principal.waitFor(/msg="agent connected" agent=agent-1 mode=managed/, 10_000);
  const out = principal.principal.output();
  // The header the principal saw came from the sidecar, and the regex took the SA name from it.
  assert.match(out, /component=auth msg="extracted agent identity from header" header=x-forwarded-client-cert agent=agent-1/);
  assert.match(out, /msg="agent authenticated" agent=agent-1 mode=managed method=header/);
  assert.doesNotMatch(out, /authentication failed/);
  // The agent's log arrives through a pipe: wait for the line rather than read what has come so far.
  await agent.agent.waitFor(/msg="authenticated to principal" agent=agent-1/, 10_000);
  assert.equal(spiffeId("agent-1"), "spiffe://cluster.local/ns/argocd/sa/agent-1");
  // The connection really went through the sidecars: the principal saw a loopback peer only.
  assert.doesNotMatch(out, new RegExp(net.pod("agent-1").ip.replaceAll(".", "\\.")));
});

test("the connection stays up (the event stream is long-lived through the sidecars)", { timeout: 30_000 }, async () => {
  await agent.waitReady(30_000);
  const before = principal.connects("agent-1");
  await new Promise((r) => setTimeout(r, 4_000));
  assert.equal(agent.readyz(), 200);
  assert.equal(principal.connects("agent-1"), before, "no reconnects while idle for 4 s");
  assert.doesNotMatch(agent.agent.output(), /reconnecting/);
});
