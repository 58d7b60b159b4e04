/**
 * The per-agent example overlays under manifests/examples/ (what docs/add-an-agent.md tells a
 * user to copy): they render with kustomize, and in the mesh overlays the agent's name is the
 * ServiceAccount's, with every reference to it (Deployment, RoleBindings, ClusterRoleBindings,
 * including the components') following the rename, while the principal's stay as they were.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { findObject, kustomizeBuild, MANIFESTS_DIR, parseManifests, type KubeManifest } from "../support/kustomize.ts";

const render = (name: string): KubeManifest[] => parseManifests(kustomizeBuild(join(MANIFESTS_DIR, "examples", name)));
type Binding = KubeManifest & { subjects?: { kind: string; name: string }[] };

function bindingSubjects(objects: KubeManifest[], component: string): string[] {
  return (objects as Binding[])
    .filter((o) => (o.kind === "RoleBinding" || o.kind === "ClusterRoleBinding") && o.metadata.labels?.["app.kubernetes.io/component"] === component)
    .flatMap((o) => (o.subjects ?? []).filter((s) => s.kind === "ServiceAccount").map((s) => `${o.kind}/${o.metadata.name}→${s.name}`));
}

for (const example of ["istio-agent", "linkerd-agent"]) {
  test(`examples/${example}: the agent runs as ServiceAccount prod-1 and every binding follows`, () => {
    const objects = render(example);
    findObject(objects, "ServiceAccount", "prod-1");
    assert.ok(!objects.some((o) => o.kind === "ServiceAccount" && o.metadata.name === "argocd-agent-agent"), "the old ServiceAccount is gone");
    const deploy = findObject(objects, "Deployment", "argocd-agent-agent") as KubeManifest & { spec: { template: { spec: { serviceAccountName: string } } } };
    assert.equal(deploy.spec.template.spec.serviceAccountName, "prod-1");
    const agentBindings = bindingSubjects(objects, "agent");
    assert.ok(agentBindings.length >= 3, `agent bindings: ${agentBindings.join(", ")}`);
    for (const b of agentBindings) assert.match(b, /→prod-1$/);
    assert.ok(agentBindings.some((b) => b.includes("live-resources")), "the live-resources component's binding is renamed too");
    for (const b of bindingSubjects(objects, "principal")) assert.match(b, /→argocd-agent-principal$/);
  });
}

test("examples/mtls-agent: the agent keeps its ServiceAccount (its certificate names it) and dials the given principal address", () => {
  const objects = render("mtls-agent");
  findObject(objects, "ServiceAccount", "argocd-agent-agent");
  const params = findObject(objects, "ConfigMap", "argocd-agent-params") as KubeManifest & { data: Record<string, string> };
  assert.equal(params.data["agent.server.address"], "principal.example.com");
  assert.equal(params.data["agent.creds"], "mtls:any");
});
