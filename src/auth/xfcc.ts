/**
 * Envoy's `x-forwarded-client-cert` (XFCC) header, as Istio sidecars send it:
 * comma-separated elements, each `Key=value;Key=value`, values double-quoted when they
 * contain `,` `;` or `=` (with `\"` inside quotes), e.g.
 * `By=spiffe://cluster.local/ns/argocd/sa/principal;Hash=…;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/agent-1`.
 *
 * Why we care about elements: with `forward_client_cert: APPEND_FORWARD` each proxy appends
 * its own element at the END, after whatever the caller sent. Only the last element was
 * written by the proxy next to us; anything before it may be caller-controlled.
 * A repeated XFCC field looks exactly like a longer list once joined (Node's HTTP/2 layer
 * joins repeated fields with ", "), so the same last-element rule applies to it.
 */

/** The header name, lower-case as it appears in gRPC metadata. */
export const XFCC_HEADER = "x-forwarded-client-cert";

/** Splits an XFCC value into its elements, ignoring commas inside quoted values. */
export function splitXfccElements(value: string): string[] {
  const elements: string[] = [];
  let current = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (quoted && c === "\\" && i + 1 < value.length) {
      current += c + value[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === "," && !quoted) {
      elements.push(current.trim());
      current = "";
      continue;
    }
    current += c;
  }
  elements.push(current.trim());
  return elements.filter((e) => e !== "");
}

/** The element appended by the nearest proxy (the last one), or undefined for an empty value. */
export function lastXfccElement(value: string): string | undefined {
  const elements = splitXfccElements(value);
  return elements[elements.length - 1];
}
