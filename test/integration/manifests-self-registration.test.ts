/**
 * manifests/components/self-registration: exactly the RBAC the principal needs
 * to create and update cluster Secrets in its namespace, and the env example in
 * its comment works when pasted into an overlay (the principal then resolves
 * self registration as enabled and passes its start-up checks).
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { selfRegistrationSettings } from "../../src/registration/registration-settings.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { findObject, kustomizeBuild, MANIFESTS_DIR, parseManifests, renderComposition, type KubeManifest } from "../support/kustomize.ts";

const COMPONENT = "components/self-registration";

test("adds create/update on Secrets in the principal namespace for the principal's ServiceAccount, nothing else", () => {
  const objects = renderComposition(["overlays/mtls"], [COMPONENT]);
  const role = findObject(objects, "Role", "argocd-agent-principal-self-registration");
  assert.equal(role.metadata.namespace, "argocd");
  assert.deepEqual(role.rules, [{ apiGroups: [""], resources: ["secrets"], verbs: ["create", "update"] }]);
  const binding = findObject(objects, "RoleBinding", "argocd-agent-principal-self-registration");
  assert.equal(binding.metadata.namespace, "argocd");
  assert.deepEqual(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "argocd-agent-principal-self-registration" });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", name: "argocd-agent-principal", namespace: "argocd" }]);
  const without = renderComposition(["overlays/mtls"]);
  assert.deepEqual(objects.length - without.length, 2, "only the Role and the RoleBinding are added");
});

test("the commented env example, pasted into an overlay, enables self registration on the principal", () => {
  const text = readFileSync(join(MANIFESTS_DIR, COMPONENT, "kustomization.yaml"), "utf8");
  const lines = text.split("\n");
  const start = lines.findIndex((l) => l.trim() === "#   patches:");
  assert.ok(start > 0, "the example starts with '#   patches:'");
  const example: string[] = [];
  for (const l of lines.slice(start)) {
    if (!l.startsWith("#  ")) break;
    example.push(l.slice(2));
  }
  const { patches } = parseYaml(example.join("\n")) as { patches: unknown[] };
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-kustomize-"));
  let objects: KubeManifest[];
  try {
    const rel = (p: string) => relative(dir, join(MANIFESTS_DIR, p));
    writeFileSync(join(dir, "kustomization.yaml"), JSON.stringify({
      apiVersion: "kustomize.config.k8s.io/v1beta1", kind: "Kustomization",
      resources: [rel("overlays/mtls")], components: [rel(COMPONENT)], patches,
    }));
    objects = parseManifests(kustomizeBuild(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const container = findObject(objects, "Deployment", "argocd-agent-principal").spec.template.spec.containers[0] as { name: string; env: { name: string; value?: string }[] };
  assert.equal(container.name, "argocd-agent-principal");
  const env = Object.fromEntries(container.env.filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
  const { values } = resolveSettings(PRINCIPAL_SETTINGS, {}, env);
  assert.equal(values.enableSelfClusterRegistration, true);
  assert.deepEqual(selfRegistrationSettings(values, true), { clientCertSecret: "argocd-agent-self-registration-tls", resourceProxyAddress: "argocd-agent-resource-proxy:9090" });
});
