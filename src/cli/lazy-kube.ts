/**
 * The Kubernetes client of a component, created on first use: a principal with
 * plaintext header auth and file-based material needs no cluster at all.
 * A kubeconfig that cannot be loaded is a start-up error naming the settings.
 */
import { createKubeClient, type KubeClient } from "../kube/client.ts";
import { StartupError } from "./component-command.ts";

export function lazyKube(cfg: { kubeconfig: string; kubecontext: string }): () => KubeClient {
  let kube: KubeClient | undefined;
  return () => {
    if (!kube) {
      try {
        kube = createKubeClient({ kubeconfig: cfg.kubeconfig || undefined, context: cfg.kubecontext || undefined });
      } catch (err) {
        throw new StartupError(`cannot load Kubernetes configuration (--kubeconfig/--kubecontext): ${(err as Error).message}`);
      }
    }
    return kube;
  };
}
