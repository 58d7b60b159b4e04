/**
 * The upstream CustomResourceDefinitions the tests install into real kube-apiservers,
 * from the cache scripts/setup-crds.sh fills from the Go module proxy: Argo CD's own
 * (manifests/crds of github.com/argoproj/argo-cd/v3 — the Application CRD has no status
 * subresource, as in a real Argo CD install) and Istio's crd-all.gen.yaml. A missing
 * cache is an error that says how to fill it, never a skip.
 *
 * @example
 *   const crds = argoCdCrds();            // [Application, AppProject] as parsed objects
 *   const istio = istioCrds(["peerauthentications.security.istio.io"]);
 */
import { existsSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { parse as parseYaml, parseAllDocuments } from "yaml";

export interface CrdObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; [k: string]: unknown };
  spec: { group: string; names: { plural: string; kind: string }; versions: { name: string }[]; [k: string]: unknown };
}

export function upstreamCrdDir(): string {
  return process.env.ARGOCD_AGENT_CRD_DIR ?? join(homedir(), ".cache", "argocd-agent-ts", "crds");
}

function need(path: string): string {
  if (!existsSync(path)) {
    throw new Error(`upstream CRD file ${path} is missing: run \`bash scripts/setup-crds.sh\` (part of scripts/setup.sh)`);
  }
  return path;
}

const argoCache = new Map<string, CrdObject>();

/** Argo CD's CRDs; Application and AppProject by default (ApplicationSet's is 1.4 MB: ask for it). */
export function argoCdCrds(kinds: ("application" | "appproject" | "applicationset")[] = ["application", "appproject"]): CrdObject[] {
  return kinds.map((k) => {
    let crd = argoCache.get(k);
    if (!crd) {
      crd = parseYaml(readFileSync(need(join(upstreamCrdDir(), "argocd", `${k}-crd.yaml`)), "utf8")) as CrdObject;
      argoCache.set(k, crd);
    }
    return crd;
  });
}

/** Istio's CRDs by name (all of crd-all.gen.yaml when no names are given). */
export function istioCrds(names?: string[]): CrdObject[] {
  const text = readFileSync(need(join(upstreamCrdDir(), "istio", "crd-all.gen.yaml")), "utf8");
  const all = parseAllDocuments(text)
    .map((d) => d.toJS() as CrdObject | null)
    .filter((d): d is CrdObject => d?.kind === "CustomResourceDefinition");
  if (!names) return all;
  const missing = names.filter((n) => !all.some((c) => c.metadata.name === n));
  if (missing.length) throw new Error(`Istio's crd-all.gen.yaml has no ${missing.join(", ")}`);
  return all.filter((c) => names.includes(c.metadata.name));
}
