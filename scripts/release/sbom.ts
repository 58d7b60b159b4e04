/**
 * The release's CycloneDX SBOM: exactly the npm packages esbuild put into the bundles. The
 * document is made by @cyclonedx/cyclonedx-npm (reproducible mode, flattened components) from
 * node_modules, which describes every installed package, dev tools included; it is then narrowed
 * to the package directories the esbuild metafile names as bundle inputs, and the dependency
 * graph to those components. The result is checked: every bundled package must appear with a
 * version and a license, or the release fails.
 *
 * @example
 *   const dirs = bundledPackageDirs(["node_modules/ws/lib/websocket.js", "src/main.ts"]); // ["node_modules/ws"]
 *   writeBundledSbom(dirs, "dist/release/argocd-agent.cdx.json");
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const CYCLONEDX_NPM = join(ROOT, "node_modules/@cyclonedx/cyclonedx-npm/bin/cyclonedx-npm-cli.js");

/** The package directory of a bundled file: up to the last node_modules/<name> (or @scope/name). */
export function packageDirOf(input: string): string | undefined {
  const at = input.indexOf("node_modules/");
  if (at < 0) return undefined;
  const m = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.slice(at));
  return m?.[1];
}

/** The distinct package directories among esbuild's inputs, sorted. */
export function bundledPackageDirs(inputs: Iterable<string>): string[] {
  const dirs = new Set<string>();
  for (const input of inputs) {
    const dir = packageDirOf(input);
    if (dir) dirs.add(dir);
  }
  return [...dirs].sort();
}

export interface CdxLicense {
  license?: { id?: string; name?: string };
  expression?: string;
}
export interface CdxComponent {
  name: string;
  group?: string;
  version?: string;
  "bom-ref"?: string;
  purl?: string;
  licenses?: CdxLicense[];
  properties?: { name: string; value: string }[];
}
export interface CdxBom {
  bomFormat: string;
  specVersion: string;
  metadata: { component?: CdxComponent; tools?: unknown };
  components: CdxComponent[];
  dependencies?: { ref: string; dependsOn?: string[] }[];
}

export const PATH_PROPERTY = "cdx:npm:package:path";

export function componentPath(c: CdxComponent): string | undefined {
  return c.properties?.find((p) => p.name === PATH_PROPERTY)?.value;
}

export function licenseText(c: CdxComponent): string {
  return (c.licenses ?? []).map((l) => l.expression ?? l.license?.id ?? l.license?.name ?? "").filter(Boolean).join(" OR ");
}

/** Runs cyclonedx-npm over the whole installed tree (reproducible, flat). */
export function generateFullSbom(projectDir = ROOT): CdxBom {
  const dir = mkdtempSync(join(tmpdir(), "sbom-"));
  const out = join(dir, "bom.json");
  try {
    execFileSync(process.execPath, [
      CYCLONEDX_NPM, "--flatten-components", "--output-reproducible", "--spec-version", "1.6",
      "--output-format", "JSON", "--output-file", out, join(projectDir, "package.json"),
    ], { cwd: projectDir, stdio: ["ignore", "ignore", "pipe"] });
    return JSON.parse(readFileSync(out, "utf8")) as CdxBom;
  } catch (err) {
    const e = err as { stderr?: Buffer };
    throw new Error(`cyclonedx-npm failed: ${e.stderr ?? err}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Narrows `bom` to the components at `dirs`; throws if one is missing or lacks version or license. */
export function narrowSbom(bom: CdxBom, dirs: string[]): CdxBom {
  const wanted = new Set(dirs);
  const components = bom.components.filter((c) => wanted.has(componentPath(c) ?? ""));
  const found = new Set(components.map(componentPath));
  const missing = dirs.filter((d) => !found.has(d));
  if (missing.length) throw new Error(`the SBOM generator did not describe these bundled packages: ${missing.join(", ")}`);
  const incomplete = components.filter((c) => !c.version || !licenseText(c));
  if (incomplete.length) throw new Error(`bundled packages without version or license: ${incomplete.map((c) => componentPath(c)).join(", ")}`);
  const refs = new Set(components.map((c) => c["bom-ref"]));
  const root = bom.metadata.component?.["bom-ref"];
  if (root) refs.add(root);
  const dependencies = (bom.dependencies ?? [])
    .filter((d) => refs.has(d.ref))
    .map((d) => ({ ref: d.ref, dependsOn: (d.dependsOn ?? []).filter((r) => refs.has(r)) }));
  return { ...bom, components, dependencies };
}

/** Generates, narrows and writes the SBOM; returns it. */
export function writeBundledSbom(dirs: string[], out: string, projectDir = ROOT): CdxBom {
  const bom = narrowSbom(generateFullSbom(projectDir), dirs);
  writeFileSync(out, JSON.stringify(bom, null, 2) + "\n");
  return bom;
}
