// Argo CD's real Application CRD has no status subresource (its controller
// writes status with a plain update). Our kube layer must write status on
// both kinds of CRD: through /status when it exists, else on the object.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { startKubeEnv } from "../support/kube-env.ts";
import { createKubeClient } from "../support/kube-client.ts";
import { CustomResourceClient } from "../../src/kube/crud.ts";
import type { KubeObject, ResourceKind } from "../../src/kube/resources.ts";

const KIND: ResourceKind = { group: "example.test", version: "v1", plural: "widgets", kind: "Widget", namespaced: true } as ResourceKind;

const env = await startKubeEnv({ clusters: ["plain-crd"] });
after(() => env.stop());

test("updateStatus and patchStatus work on a CRD without the status subresource", async () => {
  const kc = env.cluster("plain-crd").kubeConfig;
  const api = kc.makeApiClient(CustomObjectsApi);
  const free = { type: "object", "x-kubernetes-preserve-unknown-fields": true };
  await api.createClusterCustomObject({
    group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions",
    body: {
      apiVersion: "apiextensions.k8s.io/v1", kind: "CustomResourceDefinition",
      metadata: { name: "widgets.example.test" },
      spec: {
        group: "example.test", scope: "Namespaced",
        names: { kind: "Widget", plural: "widgets", singular: "widget", listKind: "WidgetList" },
        versions: [{ name: "v1", served: true, storage: true, subresources: {}, // like Argo CD's Application CRD
          schema: { openAPIV3Schema: { type: "object", properties: { spec: free, status: free } } } }],
      },
    },
  });
  const widgets = new CustomResourceClient<KubeObject & { status?: Record<string, unknown> }>(createKubeClient(kc), KIND);
  let created: (KubeObject & { status?: Record<string, unknown> }) | undefined;
  for (let i = 0; i < 100 && !created; i++) {
    created = await widgets
      .create({ apiVersion: "example.test/v1", kind: "Widget", metadata: { name: "w1", namespace: "argocd" }, spec: { size: 1 } } as never)
      .catch(async () => (await sleep(100), undefined));
  }
  assert.ok(created, "the Widget CRD never became usable");
  const updated = await widgets.updateStatus({ ...created, status: { phase: "Ready" } });
  assert.deepEqual(updated.status, { phase: "Ready" });
  const patched = await widgets.patchStatus("argocd", "w1", { status: { phase: "Degraded" } });
  assert.deepEqual(patched.status, { phase: "Degraded" });
  assert.deepEqual((await widgets.get("argocd", "w1"))?.status, { phase: "Degraded" });
  // A missing object is still an error, not a silent fallback.
  await assert.rejects(widgets.patchStatus("argocd", "nope", { status: { phase: "x" } }));
});
