/**
 * Linkerd-like mesh, end to end (seed guide "Linkerd Configuration"): as the
 * Istio test, but the inbound sidecar sets `l5d-client-id` to the client
 * certificate's DNS SAN, which has Linkerd's identity form
 * `agent-1.argocd.serviceaccount.identity.linkerd.cluster.local`, and the
 * principal uses the seed's regex `^([^.]+)\..*`.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPodNetwork, type PodNetwork } from "../support/netns.ts";
import { linkerdId, meshPki, PRINCIPAL_SERVICE, type MeshPki } from "../support/sidecars.ts";
import { runMeshClient } from "../support/mesh-client.ts";
import { PORTS, startAgentPod, startPrincipalPod, type AgentPod, type PrincipalPod } from "../support/mesh-pods.ts";

let net: PodNetwork;
let pki: MeshPki;
let principal: PrincipalPod;
let agent: AgentPod;
let files: string;

before(async () => {
  net = await createPodNetwork({ subnet: "10.123.22", pods: ["principal", "agent-1", "other"] });
  pki = await meshPki();
  principal = await startPrincipalPod(net.pod("principal"), { flavour: "linkerd", pki });
  agent = await startAgentPod(net.pod("agent-1"), { sa: "agent-1", pki, principal });
  files = mkdtempSync(join(tmpdir(), "argocd-agent-linkerd-"));
});

after(async () => {
  await agent?.stop();
  await principal?.stop();
  net?.destroy();
  if (files) rmSync(files, { recursive: true, force: true });
});

test("the agent connects as agent-1, taken from its Linkerd identity", { timeout: 120_000 }, async () => {
  assert.deepEqual(net.pod("principal").listeners(PORTS.principalGrpc), [`127.0.0.1:${PORTS.principalGrpc}`]);
  await agent.waitReady(90_000);
  await principal.principal.waitFor(/msg="agent connected" agent=agent-1 mode=managed/, 10_000);
  const out = principal.principal.output();
  assert.match(out, /component=auth msg="extracted agent identity from header" header=l5d-client-id agent=agent-1/);
  assert.doesNotMatch(out, /authentication failed/);
  assert.equal(linkerdId("agent-1"), "agent-1.argocd.serviceaccount.identity.linkerd.cluster.local");
});

test("a forged l5d-client-id (also repeated) is replaced by the sidecar with the certificate's identity", { timeout: 30_000 }, async () => {
  const cert = await pki.workload("agent-1");
  writeFileSync(join(files, "a1.crt"), cert.cert);
  writeFileSync(join(files, "a1.key"), cert.key);
  writeFileSync(join(files, "ca.crt"), pki.ca.cert);
  const res = runMeshClient(net.pod("other"), {
    action: "authenticate",
    target: `${principal.pod.ip}:${PORTS.principalSidecar}`,
    serverName: PRINCIPAL_SERVICE,
    caFile: join(files, "ca.crt"),
    certFile: join(files, "a1.crt"),
    keyFile: join(files, "a1.key"),
    metadata: [
      ["l5d-client-id", linkerdId("agent-2")],
      ["l5d-client-id", linkerdId("admin")],
    ],
  });
  assert.ok("ok" in res && res.ok, `authenticate failed: ${JSON.stringify(res)}`);
  assert.equal(res.clientID, "agent-1");
});
