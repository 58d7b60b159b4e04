/**
 * Attacks on the Istio-like deployment (principal plaintext on loopback with
 * the seed's XFCC regex, Caddy inbound sidecar on the pod IP) that must fail.
 * The attacker is another pod on the same network, calling with a raw
 * grpc-js client (test/support/mesh-client.ts). The success cases prove the
 * setup works at all, so each refusal is the sidecar's or the principal's doing.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createPodNetwork, type PodNetwork } from "../support/netns.ts";
import { agentSidecarCaddyfile, meshPki, PRINCIPAL_SERVICE, spiffeId, startCaddy, type MeshPki, type Sidecar } from "../support/sidecars.ts";
import { runMeshClient, type AuthenticateProbe, type ProbeResult } from "../support/mesh-client.ts";
import { PORTS, startPrincipalPod, type PrincipalPod } from "../support/mesh-pods.ts";
import { issueCertificate } from "../../src/transport/certificates.ts";

let net: PodNetwork;
let pki: MeshPki;
let principal: PrincipalPod;
let dir: string;
let outbound: Sidecar | undefined;

const FORGED = `By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;URI=${spiffeId("agent-2")}`;

/** Lines the principal writes for every Authenticate call that reaches it. */
const seenByPrincipal = () => (principal.principal.output().match(/msg="(agent authenticated|authentication failed|unable to extract identity)"/g) ?? []).length;

function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text, { mode: 0o600 });
  return p;
}

/** Authenticate from the attacker pod to the principal's inbound sidecar. */
function viaSidecar(extra: Partial<AuthenticateProbe>): ProbeResult {
  return runMeshClient(net.pod("attacker"), {
    action: "authenticate",
    target: `${principal.pod.ip}:${PORTS.principalSidecar}`,
    serverName: PRINCIPAL_SERVICE,
    caFile: join(dir, "mesh-ca.crt"),
    ...extra,
  });
}

function assertAgent(res: ProbeResult, agent: string): void {
  assert.ok("ok" in res && res.ok, `expected a token, got ${JSON.stringify(res)}`);
  assert.equal(res.clientID, agent, `token subject ${res.sub}`);
}

function assertRefused(res: ProbeResult, code: string, detail?: RegExp): void {
  assert.ok("ok" in res && !res.ok, `expected a refusal, got ${JSON.stringify(res)}`);
  assert.equal(res.code, code, JSON.stringify(res));
  if (detail) assert.match(res.details, detail);
}

before(async () => {
  net = await createPodNetwork({ subnet: "10.123.23", pods: ["principal", "attacker"] });
  pki = await meshPki();
  principal = await startPrincipalPod(net.pod("principal"), { flavour: "istio", pki });
  dir = mkdtempSync(join(tmpdir(), "argocd-agent-attacks-"));
  write("mesh-ca.crt", pki.ca.cert);
  const a1 = await pki.workload("agent-1");
  write("agent-1.crt", a1.cert);
  write("agent-1.key", a1.key);
});

after(async () => {
  await outbound?.stop();
  await principal?.stop();
  net?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

test("baseline: a mesh certificate for agent-1 through the sidecar gets a token for agent-1", () => {
  assertAgent(viaSidecar({ certFile: join(dir, "agent-1.crt"), keyFile: join(dir, "agent-1.key") }), "agent-1");
});

test("a pod connecting straight to the principal's port on the pod IP is refused (loopback only)", () => {
  assert.deepEqual(principal.pod.listeners(PORTS.principalGrpc), [`127.0.0.1:${PORTS.principalGrpc}`], "the principal does listen, on loopback");
  const tcp = runMeshClient(net.pod("attacker"), { action: "tcp", host: principal.pod.ip, port: PORTS.principalGrpc });
  assert.deepEqual(tcp, { connected: false, error: "ECONNREFUSED" });
  // And the forged-header request a bypass would make: never reaches the principal.
  const before = seenByPrincipal();
  const res = runMeshClient(net.pod("attacker"), {
    action: "authenticate",
    target: `${principal.pod.ip}:${PORTS.principalGrpc}`,
    plaintext: true,
    metadata: [["x-forwarded-client-cert", FORGED]],
  });
  assertRefused(res, "UNAVAILABLE");
  assert.equal(seenByPrincipal(), before);
});

test("a forged x-forwarded-client-cert sent through the sidecar is overwritten with the certificate's identity", () => {
  const res = viaSidecar({
    certFile: join(dir, "agent-1.crt"),
    keyFile: join(dir, "agent-1.key"),
    metadata: [["x-forwarded-client-cert", FORGED]],
  });
  assertAgent(res, "agent-1");
  assert.doesNotMatch("sub" in res ? res.sub : "", /agent-2/);
});

test("a forged x-forwarded-client-cert sent through the agent pod's own outbound sidecar is overwritten too", { timeout: 30_000 }, async () => {
  // A process in agent-1's pod talking h2c to the local sidecar, like the agent does.
  const a1 = await pki.workload("agent-1");
  outbound = await startCaddy(net.pod("attacker"), {
    files: { "workload.crt": a1.cert, "workload.key": a1.key, "mesh-ca.crt": pki.ca.cert },
    caddyfile: (f) => agentSidecarCaddyfile({ listenPort: PORTS.agentSidecar, principalIp: principal.pod.ip, principalPort: PORTS.principalSidecar, files: f }),
    listen: [{ host: "127.0.0.1", port: PORTS.agentSidecar }],
  });
  const res = runMeshClient(net.pod("attacker"), {
    action: "authenticate",
    target: `127.0.0.1:${PORTS.agentSidecar}`,
    plaintext: true,
    metadata: [["x-forwarded-client-cert", FORGED]],
  });
  assertAgent(res, "agent-1");
});

test("duplicated identity headers are all replaced by the one the sidecar sets", () => {
  // The principal only trusts the last XFCC element, so a forged element that an appending proxy
  // put in front would not win anyway. To see that the sidecar REPLACES (sets) the header, one
  // forged copy is padded beyond the principal's 16 KiB limit: appended, the whole value would
  // be refused as too long; replaced, the principal sees only the sidecar's element.
  const padded = `${FORGED};Pad=${"x".repeat(17_000)}`;
  const before = principal.principal.output().length;
  const res = viaSidecar({
    certFile: join(dir, "agent-1.crt"),
    keyFile: join(dir, "agent-1.key"),
    metadata: [
      ["x-forwarded-client-cert", FORGED],
      ["x-forwarded-client-cert", padded],
      ["x-forwarded-client-cert", `URI=${spiffeId("agent-3")}`],
    ],
  });
  assertAgent(res, "agent-1");
  assert.doesNotMatch(principal.principal.output().slice(before), /too long|more than once|unable to extract/);
});

test("no client certificate: the sidecar refuses the TLS handshake", () => {
  const before = seenByPrincipal();
  assertRefused(viaSidecar({}), "UNAVAILABLE");
  // Another (or no matching) SNI must not select a TLS policy without client auth.
  assertRefused(viaSidecar({ serverName: "something-else.example" }), "UNAVAILABLE");
  assert.equal(seenByPrincipal(), before, "nothing reached the principal");
});

test("a certificate from another CA is refused by the sidecar", async () => {
  const foreign = await pki.workload("agent-2", { ca: pki.foreignCa });
  const before = seenByPrincipal();
  const res = viaSidecar({
    certFile: write("foreign.crt", foreign.cert),
    keyFile: write("foreign.key", foreign.key),
    metadata: [["x-forwarded-client-cert", `URI=${spiffeId("agent-2")}`]],
  });
  assertRefused(res, "UNAVAILABLE");
  assert.equal(seenByPrincipal(), before, "nothing reached the principal");
});

test("a SPIFFE ID outside the trust domain (signed by the mesh CA) is refused by the sidecar", async () => {
  const evil = await pki.workload("agent-2", { domain: "evil.example" });
  const before = seenByPrincipal();
  const res = viaSidecar({ certFile: write("evil.crt", evil.cert), keyFile: write("evil.key", evil.key) });
  assertRefused(res, "PERMISSION_DENIED", /403/);
  assert.equal(seenByPrincipal(), before, "nothing reached the principal");
});

test("a mesh certificate without any SPIFFE ID is refused by the sidecar", async () => {
  const plain = await issueCertificate(pki.ca, { commonName: "agent-1", dnsNames: ["agent-1.example"], server: false });
  const before = seenByPrincipal();
  const res = viaSidecar({
    certFile: write("nouri.crt", plain.cert),
    keyFile: write("nouri.key", plain.key),
    metadata: [["x-forwarded-client-cert", `URI=${spiffeId("agent-1")}`]],
  });
  assertRefused(res, "PERMISSION_DENIED", /403/);
  assert.equal(seenByPrincipal(), before, "nothing reached the principal");
});
