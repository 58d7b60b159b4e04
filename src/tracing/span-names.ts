/**
 * Names dashboards key on, declared once: upstream's tracer name and span
 * attribute keys (internal/tracing/attributes.go), the span names it builds,
 * and the names of our additions (Kubernetes write spans), marked as such.
 *
 * @example
 *   span.setAttribute(Attr.eventType, ev.type);
 *   tracer.startSpan(eventSpanName(ev.target, ev.type));
 */

/** Instrumentation scope of every span (upstream TracerName). */
export const TRACER_NAME = "github.com/argoproj-labs/argocd-agent";

export const Attr = {
  agentName: "argocd.agent.name",
  agentMode: "argocd.agent.mode",
  componentType: "argocd.component.type",
  eventId: "argocd.event.id",
  eventTarget: "argocd.event.target",
  eventType: "argocd.event.type",
  operationType: "argocd.operation.type",
  resourceKind: "k8s.resource.kind",
  resourceName: "k8s.resource.name",
  namespace: "k8s.resource.namespace",
  resourceUid: "k8s.resource.uid",
  /** Ours (Kubernetes write spans): the HTTP status of a failed call. */
  httpStatusCode: "http.response.status_code",
} as const;

/**
 * Informer kinds whose changes get a span, as upstream's callbacks. Upstream also names
 * repository Secrets `Repository.<op>` and the GPG ConfigMap `GPGKey.<op>`; our informers
 * see those as Secret / ConfigMap, which are not traced (yet).
 */
export const TRACED_KINDS: ReadonlySet<string> = new Set(["Application", "AppProject"]);

/** `<target>.<full event type>`, e.g. `application.io.argoproj.argocd-agent.event.create`. */
export function eventSpanName(target: string, type: string): string {
  return `${target}.${type}`;
}

/** `<Kind>.<op>`, e.g. `Application.create` (principal and agent informer callbacks). */
export function informerSpanName(kind: string, op: string): string {
  return `${kind}.${op}`;
}

/** Ours: `k8s.<verb> <Kind>`, e.g. `k8s.create Application` (upstream does not trace Kubernetes calls). */
export function kubeWriteSpanName(verb: string, kind: string): string {
  return `k8s.${verb} ${kind}`;
}
