/**
 * Replication needs an API server. It runs when a kubeconfig is given
 * (--kubeconfig) or the process runs in a pod (in-cluster env), so the
 * plaintext/header-auth development mode keeps starting without Kubernetes.
 */
export function replicationEnabled(cfg: { kubeconfig: string }): boolean {
  return cfg.kubeconfig !== "" || Boolean(process.env.KUBERNETES_SERVICE_HOST && process.env.KUBERNETES_SERVICE_PORT);
}
