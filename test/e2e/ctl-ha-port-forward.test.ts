/**
 * `argocd-agent ctl ha` WITHOUT --address: the CLI finds the principal Pod
 * (app.kubernetes.io/name=argocd-agent-principal in --principal-namespace)
 * on a real kube-apiserver and reaches the Pod's port 8405 through the
 * API's pods/portforward (a WebSocket, @kubernetes/client-node's
 * PortForward), behind which sits a real principal started with
 * --ha-enabled. Stands in: the kubelet (test/support/kubelet-standin.ts,
 * which serves the kubelet's WebSocket port-forward and maps the Pod's port
 * 8405 to the principal's admin port on 127.0.0.1 — there is no container
 * runtime here), so what is proven is our client, the API server's routing
 * and the admin API over the tunnel; a real kubelet's SPDY/WebSocket
 * port-forward itself is not exercised.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { RbacAuthorizationV1Api } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { createKubeClient, type KubeClient } from "../support/kube-client.ts";
import { ensureNamespace } from "../../src/kube/crud.ts";
import { ctlAsync, startHaPrincipal, type HaPrincipal } from "../support/ctl-ha.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { startKubeletStandIn, type KubeletStandIn } from "../support/kubelet-standin.ts";

const NODE = "stand-in-node";
const POD = "argocd-agent-principal-5d8f7c9b4-x2x7q";

let env: KubeEnv;
let kube: KubeClient;
let kubeconfig: string;
let kubelet: KubeletStandIn;
let principal: HaPrincipal;

const ha = (ns: string, args: string[], input = "") =>
  ctlAsync(["--kubeconfig", kubeconfig, "--principal-namespace", ns, "ha", ...args], input);

const hubRbac = () => env.cluster("hub").kubeConfig.makeApiClient(RbacAuthorizationV1Api);

async function principalPod(ns: string, name: string, phase: "Running" | "Pending"): Promise<void> {
  await ensureNamespace(kube, ns);
  await kube.core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name, labels: { "app.kubernetes.io/name": "argocd-agent-principal" } },
      spec: { nodeName: NODE, containers: [{ name: "argocd-agent-principal", image: "stand-in" }] },
    },
  });
  if (phase === "Running") await kubelet.markRunning(env.cluster("hub").kubeConfig, ns, name, ["argocd-agent-principal"]);
}

before(async () => {
  env = await startKubeEnv({ clusters: ["hub"], crds: false });
  assert.ok(env.pki, "the test API server's PKI (a kubelet stand-in needs it)");
  const hub = env.cluster("hub");
  kubeconfig = hub.kubeconfigPath;
  kube = createKubeClient(hub.kubeConfig);
  kubelet = await startKubeletStandIn(env.pki);
  await kubelet.registerNode(hub.kubeConfig, NODE);
  principal = await startHaPrincipal();
  await principalPod("argocd", POD, "Running");
  kubelet.forwardPort("argocd", POD, 8405, principal.adminPort);
}, { timeout: 180_000 });

after(async () => {
  await principal?.stop();
  await kubelet?.close();
  await env?.stop();
});

describe("ctl ha through a port-forward to the principal pod", () => {
  it("status reaches the admin API of the pod's port 8405 through pods/portforward", async () => {
    const before = kubelet.portForwards.length;
    const r = await ha("argocd", ["status"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HA Status\n---------\nState: {13}active\nPreferred Role: {4}primary\n/);
    const used = kubelet.portForwards.slice(before);
    assert.ok(used.length >= 1, "at least one port-forward stream");
    for (const f of used) {
      assert.equal(f.path, `/portForward/argocd/${POD}`);
      assert.deepEqual(f.ports, [8405], "upstream's fixed admin port");
      assert.equal(f.protocol, "v4.channel.k8s.io");
    }
  });

  it("demote and promote through the tunnel change the real principal's state", async () => {
    const d = await ha("argocd", ["demote"], "y\n");
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /Demoted\. State is now: replicating\n$/);
    const refused = await ha("argocd", ["promote"], "y\n");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /promote refused by the principal: /);
    const p = await ha("argocd", ["promote", "--force"]);
    assert.equal(p.code, 0, p.stderr);
    assert.equal(p.stdout, "Promoted. State is now: active\n");
    const s = await ha("argocd", ["status", "-o", "json"]);
    assert.equal((JSON.parse(s.stdout) as { state: string }).state, "active");
  });

  it("a pod whose port 8405 refuses: the kubelet's port-forward error is in the message, exit 1", async () => {
    await principalPod("no-admin", "argocd-agent-principal-0", "Running"); // nothing forwarded: "connection refused" inside the pod
    const r = await ha("no-admin", ["status", "-t", "20s"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /HA admin API at pod no-admin\/argocd-agent-principal-0 port 8405 \(port-forward\)/);
    assert.match(r.stderr, /failed to connect to localhost:8405 inside namespace no-admin: connection refused/);
    assert.match(r.stderr, /\(is the principal running with --ha-enabled\?\)\n$/);
  });

  it("no principal pod, or none running: says so and exits 1 without dialling", async () => {
    await ensureNamespace(kube, "empty");
    const none = await ha("empty", ["status"]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no principal pod with label app\.kubernetes\.io\/name=argocd-agent-principal in namespace empty/);
    await principalPod("pending", "argocd-agent-principal-0", "Pending");
    const pending = await ha("pending", ["demote", "--force"]);
    assert.equal(pending.code, 1);
    assert.match(pending.stderr, /no running principal pod .* in namespace pending \(found argocd-agent-principal-0: (Pending|unknown)\)/);
  });

  it("RBAC: pods list without pods/portforward — the API server's refusal is shown", async () => {
    // A ServiceAccount token (TokenRequest) for an operator who may list pods but not port-forward.
    const rbac = hubRbac();
    await kube.core.createNamespacedServiceAccount({ namespace: "argocd", body: { metadata: { name: "ops" } } });
    await rbac.createNamespacedRole({ namespace: "argocd", body: { metadata: { name: "ops" }, rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }] } });
    await rbac.createNamespacedRoleBinding({
      namespace: "argocd",
      body: { metadata: { name: "ops" }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "ops" }, subjects: [{ kind: "ServiceAccount", name: "ops", namespace: "argocd" }] },
    });
    const token = (await kube.core.createNamespacedServiceAccountToken({ name: "ops", namespace: "argocd", body: { spec: { audiences: [] } } })).status!.token;
    const path = join(dirname(kubeconfig), "kubeconfig-ops.yaml");
    writeFileSync(path, stringify({
      apiVersion: "v1", kind: "Config", "current-context": "ops",
      clusters: [{ name: "hub", cluster: { server: env.cluster("hub").server, "certificate-authority-data": Buffer.from(env.pki!.pem.ca).toString("base64") } }],
      users: [{ name: "ops", user: { token } }],
      contexts: [{ name: "ops", context: { cluster: "hub", user: "ops" } }],
    }), { mode: 0o600 });
    const forwardsBefore = kubelet.portForwards.length;
    const r = await ctlAsync(["--kubeconfig", path, "--principal-namespace", "argocd", "ha", "status"]);
    assert.equal(r.code, 1);
    // A WebSocket port-forward is a GET: the verb is get (kubectl's SPDY POST needs create).
    assert.match(r.stderr, /cannot reach the HA admin API at pod argocd\/\S+ port 8405 \(port-forward\): the Kubernetes API refused the port-forward \(HTTP 403\): .*cannot get resource "pods\/portforward"/);
    assert.doesNotMatch(r.stderr, /--ha-enabled/, "not the principal's fault");
    assert.equal(kubelet.portForwards.length, forwardsBefore, "nothing reached the kubelet");
  });
});
