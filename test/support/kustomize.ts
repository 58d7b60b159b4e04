/**
 * Renders the kustomize overlays under manifests/ for the manifest tests.
 *
 * The tool, in order: `kubectl kustomize` when kubectl on PATH embeds kustomize v5
 * (kubectl >= 1.27); else a `kustomize` v5 binary from PATH or the tools cache
 * (${ARGOCD_AGENT_TOOLS_DIR:-~/.cache/argocd-agent-ts/tools}); else scripts/setup-kustomize.sh
 * is run once to build it from its Go module into that cache. A tool that cannot be found
 * or built is an error, never a skip.
 *
 * @example
 *   const objects = renderOverlay("istio");
 *   const cm = findObject(objects, "ConfigMap", "argocd-agent-params");
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { join, relative } from "node:path";
import { parseAllDocuments } from "yaml";
import { ROOT } from "./processes.ts";

export const MANIFESTS_DIR = join(ROOT, "manifests");
export const OVERLAYS = ["istio", "linkerd", "mtls"] as const;
export type OverlayName = (typeof OVERLAYS)[number];

/** A rendered Kubernetes object, loosely typed: tests navigate it with assertions. */
export interface KubeManifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [field: string]: any;
}

export interface KustomizeTool {
  /** Argv prefix; the kustomization directory is appended. */
  argv: string[];
  /** e.g. "kubectl kustomize (kustomize v5.5.0)". */
  describe: string;
}

function toolsCacheDir(): string {
  return process.env.ARGOCD_AGENT_TOOLS_DIR || join(homedir(), ".cache", "argocd-agent-ts", "tools");
}

function run(cmd: string, args: string[], opts: { timeoutMs?: number; input?: string } = {}) {
  return spawnSync(cmd, args, { encoding: "utf8", timeout: opts.timeoutMs ?? 60_000, input: opts.input, maxBuffer: 64 << 20 });
}

/** kubectl on PATH, or undefined. */
export function findKubectl(): string | undefined {
  const res = run("kubectl", ["version", "--client", "-o", "json"]);
  return res.status === 0 ? "kubectl" : undefined;
}

function kubectlKustomize(): KustomizeTool | undefined {
  const res = run("kubectl", ["version", "--client", "-o", "json"]);
  if (res.status !== 0) return undefined;
  const version = (JSON.parse(res.stdout) as { kustomizeVersion?: string }).kustomizeVersion ?? "";
  if (!/^v5\./.test(version)) return undefined;
  return { argv: ["kubectl", "kustomize"], describe: `kubectl kustomize (kustomize ${version})` };
}

function standaloneKustomize(bin: string): KustomizeTool | undefined {
  const res = run(bin, ["version"]);
  if (res.status !== 0 || !/v5\./.test(res.stdout)) return undefined;
  return { argv: [bin, "build"], describe: `${bin} (${res.stdout.trim()})` };
}

let cached: KustomizeTool | undefined;

/** Finds (or builds, once) a kustomize v5. */
export function findKustomize(): KustomizeTool {
  if (cached) return cached;
  const cacheBin = join(toolsCacheDir(), "kustomize");
  cached =
    kubectlKustomize() ??
    standaloneKustomize("kustomize") ??
    (existsSync(cacheBin) ? standaloneKustomize(cacheBin) : undefined);
  if (cached) return cached;
  // Build it: minutes the first time, instant afterwards. Logs go to our stderr.
  const setup = spawnSync("bash", [join(ROOT, "scripts", "setup-kustomize.sh")], {
    encoding: "utf8",
    stdio: ["ignore", "pipe", "inherit"],
    timeout: 20 * 60_000,
  });
  const built = setup.status === 0 ? standaloneKustomize(setup.stdout.trim()) : undefined;
  if (!built) {
    throw new Error(
      "no kustomize v5: kubectl (>= 1.27) is not on PATH and scripts/setup-kustomize.sh failed " +
        `(exit ${setup.status}); install kubectl or Go, or put kustomize v5 on PATH`,
    );
  }
  cached = built;
  return cached;
}

/** `kustomize build <dir>`: the rendered YAML. Throws with kustomize's stderr on failure. */
export function kustomizeBuild(dir: string): string {
  const tool = findKustomize();
  const [cmd, ...pre] = tool.argv;
  const res = run(cmd, [...pre, dir]);
  if (res.status !== 0) {
    throw new Error(`${tool.argv.join(" ")} ${dir} failed (exit ${res.status}):\n${res.stderr || res.error}`);
  }
  return res.stdout;
}

/** Parses multi-document YAML into objects (empty documents dropped). */
export function parseManifests(yamlText: string): KubeManifest[] {
  return parseAllDocuments(yamlText)
    .map((doc) => {
      if (doc.errors.length) throw doc.errors[0];
      return doc.toJS() as KubeManifest | null;
    })
    .filter((o): o is KubeManifest => o !== null);
}

export function overlayDir(name: OverlayName): string {
  return join(MANIFESTS_DIR, "overlays", name);
}

/** Renders manifests/overlays/<name>. */
export function renderOverlay(name: OverlayName): KubeManifest[] {
  return parseManifests(kustomizeBuild(overlayDir(name)));
}

/**
 * Renders a throwaway kustomization that combines `resources` and `components`
 * (directories under manifests/), e.g. an overlay plus components/agent-managed.
 */
export function renderComposition(resources: string[], components: string[] = []): KubeManifest[] {
  const dir = mkdtempSync(join(tmpdir(), "argocd-agent-kustomize-"));
  try {
    // kustomize wants relative paths to other kustomization roots.
    const rel = (p: string) => relative(dir, join(MANIFESTS_DIR, p));
    writeFileSync(
      join(dir, "kustomization.yaml"),
      JSON.stringify({
        apiVersion: "kustomize.config.k8s.io/v1beta1",
        kind: "Kustomization",
        resources: resources.map(rel),
        components: components.map(rel),
      }),
    );
    return parseManifests(kustomizeBuild(dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The one object of that kind and name; fails loudly when absent or duplicated. */
export function findObject(objects: KubeManifest[], kind: string, name: string): KubeManifest {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) {
    throw new Error(`expected exactly one ${kind} ${name}, found ${found.length} (have: ${objects.map((o) => `${o.kind}/${o.metadata.name}`).join(", ")})`);
  }
  return found[0];
}

export function objectsOfKind(objects: KubeManifest[], kind: string): KubeManifest[] {
  return objects.filter((o) => o.kind === kind);
}
