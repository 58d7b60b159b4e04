/**
 * Server-side validation of the rendered overlays: `kubectl apply --dry-run=server
 * --validate=strict` against a real kube-apiserver (test/support/kube-env.ts), with
 * Istio's own CRDs (crd-all.gen.yaml of the istio.io/istio module, test/support/upstream-crds.ts)
 * and minimal structural CRDs for the Linkerd kinds (test/support/crds/mesh/linkerd.yaml:
 * the module proxy does not serve Linkerd's), so schemas, enums, unknown fields, RBAC
 * objects and the admission policy are all checked by the API server itself (the overlays
 * alone and with components/ha). The Linkerd overlay's ValidatingAdmissionPolicy is also
 * installed for real and must refuse a principal pod without the linkerd-proxy container.
 *
 * Needs kubectl on PATH (the dry run is kubectl's) and the API server binaries
 * (scripts/setup-kube-tools.sh), and the CRD cache (scripts/setup-crds.sh).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { startKubeEnv, type KubeClusterHandle, type KubeEnv } from "../support/kube-env.ts";
import { findKubectl, findObject, OVERLAYS, renderComposition, renderOverlay, type KubeManifest } from "../support/kustomize.ts";
import { istioCrds } from "../support/upstream-crds.ts";

const LINKERD_CRDS = join(import.meta.dirname, "..", "support", "crds", "mesh", "linkerd.yaml");
/** The Istio kinds our overlays use. */
const ISTIO_KINDS = ["peerauthentications.security.istio.io", "destinationrules.networking.istio.io", "sidecars.networking.istio.io"];
const CLUSTER_SCOPED = new Set([
  "ClusterRole", "ClusterRoleBinding", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "CustomResourceDefinition",
]);

let env: KubeEnv;
let cluster: KubeClusterHandle;
let ns: string;
const createdCrds: string[] = [];

interface KubectlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((resolve, reject) => {
    const child = spawn("kubectl", ["--kubeconfig", cluster.kubeconfigPath, ...args], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const res = await kubectl(args, input);
  assert.equal(res.code, 0, `kubectl ${args.join(" ")} failed:\n${res.stderr}${res.stdout}`);
  return res.stdout;
}

/** Moves namespaced objects (and ServiceAccount subjects) into the test namespace. */
function intoTestNamespace(objects: KubeManifest[]): KubeManifest[] {
  const copy = structuredClone(objects);
  for (const o of copy) {
    if (!CLUSTER_SCOPED.has(o.kind)) o.metadata.namespace = ns;
    for (const s of o.subjects ?? []) if (s.kind === "ServiceAccount") s.namespace = ns;
  }
  return copy;
}

const asJsonStream = (objects: KubeManifest[]) => objects.map((o) => JSON.stringify(o)).join("\n");

async function dryRunApply(objects: KubeManifest[]): Promise<KubectlResult> {
  return kubectl(["apply", "--dry-run=server", "--validate=strict", "-f", "-"], asJsonStream(objects));
}

/**
 * `kubectl wait --for=condition=Established` on a CRD created a moment ago can fail at once
 * with ".status.conditions accessor error" (the API server has not written conditions yet):
 * retry that answer until the deadline; any other failure fails at once.
 */
async function waitEstablished(targets: string[]): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const res = await kubectl(["wait", "--for=condition=Established", "--timeout=60s", ...targets]);
    if (res.code === 0) return;
    if (!/status\.conditions accessor error/.test(res.stderr) || Date.now() > deadline) {
      assert.fail(`kubectl wait for ${targets.join(" ")} failed:\n${res.stderr}${res.stdout}`);
    }
    await sleep(200);
  }
}

before(async () => {
  assert.ok(findKubectl(), "kubectl must be on PATH: the server-side dry run is kubectl apply --dry-run=server");
  env = await startKubeEnv({ clusters: ["manifests"], namespaces: ["argocd"] });
  cluster = env.cluster("manifests");
  ns = cluster.ns("argocd");
  // The mesh CRDs, for real (create only what is missing: a shared cluster may run a real mesh).
  const sources: [string, string[], string | undefined][] = [
    ["Istio's crd-all.gen.yaml", ["create", "-f", "-", "-o", "name"], asJsonStream(istioCrds(ISTIO_KINDS) as unknown as KubeManifest[])],
    [LINKERD_CRDS, ["create", "-f", LINKERD_CRDS, "-o", "name"], undefined],
  ];
  for (const [what, args, input] of sources) {
    const res = await kubectl(args, input);
    for (const line of res.stdout.split("\n").filter(Boolean)) createdCrds.push(line);
    assert.ok(res.code === 0 || /AlreadyExists/.test(res.stderr), `installing ${what}:\n${res.stderr}`);
  }
  await waitEstablished(ISTIO_KINDS.map((n) => `crd/${n}`));
  await waitEstablished(["-f", LINKERD_CRDS]);
});

after(async () => {
  if (env?.shared) {
    for (const name of createdCrds) await kubectl(["delete", name, "--wait=false"]);
  }
  await env?.stop();
});

describe("manifests: server-side dry run against a real kube-apiserver", () => {
  for (const overlay of OVERLAYS) {
    it(`kubectl apply --dry-run=server accepts every object of overlays/${overlay}`, async () => {
      const objects = intoTestNamespace(renderOverlay(overlay));
      const res = await dryRunApply(objects);
      assert.equal(res.code, 0, `dry run of overlays/${overlay} failed:\n${res.stderr}`);
      const lines = res.stdout.split("\n").filter(Boolean);
      assert.equal(lines.length, objects.length, `one line per object:\n${res.stdout}`);
      for (const line of lines) assert.match(line, /\(server dry run\)$/);
      for (const o of objects) {
        assert.ok(
          lines.some((l) => {
            const [resource, name] = l.split(" ")[0].split("/");
            return name === o.metadata.name && (resource === o.kind.toLowerCase() || resource.startsWith(`${o.kind.toLowerCase()}.`));
          }),
          `${o.kind}/${o.metadata.name} in the output`,
        );
      }
    });
  }

  it("kubectl apply --dry-run=server accepts every overlay with components/ha (principal HA)", async () => {
    for (const overlay of OVERLAYS) {
      const objects = intoTestNamespace(renderComposition([`overlays/${overlay}`], ["components/ha"]));
      const res = await dryRunApply(objects);
      assert.equal(res.code, 0, `dry run of overlays/${overlay} + components/ha failed:\n${res.stderr}`);
      assert.equal(res.stdout.split("\n").filter(Boolean).length, objects.length, `one line per object:\n${res.stdout}`);
      assert.match(res.stdout, /^configmap\/argocd-agent-ha-params .*\(server dry run\)$/m);
      assert.match(res.stdout, /^networkpolicy\.networking\.k8s\.io\/argocd-agent-principal-healthz .*\(server dry run\)$/m);
    }
  });

  it("rejects what the real API would reject: unknown fields, bad enums, invalid specs", async () => {
    const istio = intoTestNamespace(renderOverlay("istio"));
    const cases: [string, (objects: KubeManifest[]) => void, RegExp][] = [
      ["misspelt DestinationRule field", (o) => {
        const dr = findObject(o, "DestinationRule", "argocd-agent-principal");
        dr.spec.trafficPolicy.connectionPool.http.idleTimeOut = dr.spec.trafficPolicy.connectionPool.http.idleTimeout;
      }, /unknown field/],
      ["PeerAuthentication mode outside the enum", (o) => {
        findObject(o, "PeerAuthentication", "argocd-agent-mtls").spec.mtls.mode = "STRICTER";
      }, /Unsupported value/],
      ["Deployment container port out of range", (o) => {
        findObject(o, "Deployment", "argocd-agent-principal").spec.template.spec.containers[0].ports[0].containerPort = 70000;
      }, /containerPort/],
    ];
    for (const [what, mutate, expected] of cases) {
      const objects = structuredClone(istio);
      mutate(objects);
      const res = await dryRunApply(objects);
      assert.notEqual(res.code, 0, `${what}: the dry run must fail`);
      assert.match(res.stderr, expected, what);
    }
  });

  it("linkerd: the admission policy refuses a principal pod without linkerd-proxy and admits an injected one", async () => {
    const objects = renderOverlay("linkerd");
    const policy = objects.find((o) => o.kind === "ValidatingAdmissionPolicy");
    const binding = objects.find((o) => o.kind === "ValidatingAdmissionPolicyBinding");
    assert.ok(policy && binding);
    // The policy exactly as shipped; the binding narrowed to the test namespace, so it
    // cannot affect anything else on a shared cluster.
    const testBinding = structuredClone(binding);
    testBinding.spec.matchResources = { namespaceSelector: { matchLabels: { "kubernetes.io/metadata.name": ns } } };
    await kubectlOk(["apply", "-f", "-"], asJsonStream([policy, testBinding]));
    try {
      const template = findObject(objects, "Deployment", "argocd-agent-principal").spec.template;
      const pod = (name: string, extra: (spec: KubeManifest) => void, labels = template.metadata.labels): KubeManifest => {
        const spec = structuredClone(template.spec);
        delete spec.serviceAccountName; // ServiceAccounts are not created by a dry run
        extra(spec);
        return { apiVersion: "v1", kind: "Pod", metadata: { name, namespace: ns, labels, annotations: template.metadata.annotations }, spec };
      };
      const proxy = { name: "linkerd-proxy", image: "cr.l5d.io/linkerd/proxy:stable" };
      const tryCreate = (p: KubeManifest) => kubectl(["create", "--dry-run=server", "-f", "-"], JSON.stringify(p));

      // Policies take effect asynchronously: wait until the bare pod is refused.
      const bare = pod("principal-without-proxy", () => {});
      let res = await tryCreate(bare);
      for (let i = 0; res.code === 0 && i < 100; i++) {
        await sleep(100);
        res = await tryCreate(bare);
      }
      assert.notEqual(res.code, 0, "a principal pod without linkerd-proxy is refused");
      assert.match(res.stderr, /argocd-agent-principal-requires-linkerd-proxy/);
      assert.match(res.stderr, /linkerd-proxy/);

      res = await tryCreate(pod("principal-with-proxy", (spec) => spec.containers.push(proxy)));
      assert.equal(res.code, 0, `an injected principal pod is admitted:\n${res.stderr}`);
      res = await tryCreate(pod("principal-native-sidecar", (spec) => (spec.initContainers = [{ ...proxy, restartPolicy: "Always" }])));
      assert.equal(res.code, 0, `a native-sidecar proxy (init container) is admitted:\n${res.stderr}`);
      res = await tryCreate(pod("other-workload", () => {}, { "app.kubernetes.io/name": "something-else" }));
      assert.equal(res.code, 0, `other pods are not affected:\n${res.stderr}`);
    } finally {
      await kubectl(["delete", "-f", "-", "--ignore-not-found"], asJsonStream([testBinding, policy]));
    }
  });
});
