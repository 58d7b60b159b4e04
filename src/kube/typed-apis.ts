/**
 * The generated typed API clients of @kubernetes/client-node (CoreV1Api, CustomObjectsApi) on a
 * KubeClient, for the operator CLI and tests. The principal and the agent never load this module:
 * its import evaluates every generated model and API class (≈800 modules, ≈4 MiB of heap),
 * issue #19; they send plain JSON through raw-request.ts instead.
 *
 * @example
 *   const kube = withTypedApis(createKubeClient({ kubeconfig }));
 *   const secret = await kube.core.readNamespacedSecret({ name: "argocd-agent-ca", namespace: "argocd" });
 */
import { CoreV1Api, CustomObjectsApi } from "@kubernetes/client-node/dist/gen/index.js";
import type { KubeClient } from "./client.ts";

export interface TypedKubeClient extends KubeClient {
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

/** The client with `core` and `custom` added (sharing its connections). */
export function withTypedApis(kube: KubeClient): TypedKubeClient {
  if ("core" in kube && "custom" in kube) return kube as TypedKubeClient;
  return { ...kube, core: kube.kubeConfig.makeApiClient(CoreV1Api), custom: kube.kubeConfig.makeApiClient(CustomObjectsApi) };
}
