/**
 * The product's kube client with the generated typed APIs added (`core`, `custom`), for tests and
 * benches that set up or inspect clusters. The product itself sends plain JSON (src/kube/raw-request.ts)
 * and never loads the typed APIs (issue #19).
 *
 * @example
 *   const kube = createKubeClient(env.cluster("control-plane").kubeConfig);
 *   await kube.core.createNamespace({ body: { metadata: { name: "agent-a" } } });
 */
import { createKubeClient as createProductClient } from "../../src/kube/client.ts";
import { withTypedApis, type TypedKubeClient } from "../../src/kube/typed-apis.ts";

export * from "../../src/kube/client.ts";
export type KubeClient = TypedKubeClient;

export function createKubeClient(...args: Parameters<typeof createProductClient>): TypedKubeClient {
  return withTypedApis(createProductClient(...args));
}
