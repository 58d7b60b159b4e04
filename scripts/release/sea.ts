/**
 * Node single-executable applications (SEA): a blob made from the CommonJS bundle by this Node
 * (`--experimental-sea-config`), injected with postject into a copy of a Node runtime of the same
 * version, for this machine's architecture or another one. The V8 code cache (compiled bytecode,
 * faster start-up) can only be made by the runtime that will run it, so a foreign-architecture
 * executable gets a blob without one; the blob is otherwise architecture-neutral.
 * Both blobs carry SEA_EXEC_ARGV, the V8 settings the executable always starts with.
 *
 * @example
 *   await makeSea({ runtime: process.execPath, bundle: "dist/argocd-agent.cjs",
 *                   out: "dist/argocd-agent-linux-x64", codeCache: true, workDir: "/tmp/sea" });
 */
import { execFileSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const POSTJECT = fileURLToPath(new URL("../../node_modules/postject/dist/cli.js", import.meta.url));
/** The fuse Node checks at start-up to know a blob was injected (documented in Node's SEA docs). */
export const SEA_FUSE = "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2";
/** The resource name postject gives the blob (an ELF note of that name). */
export const SEA_RESOURCE = "NODE_SEA_BLOB";
/**
 * Node options baked into every executable (the SEA config's `execArgv`), issue #19:
 * V8's young generation capped at 2 × 4 MiB semi-spaces instead of growing to 2 × 64 MiB
 * under load. Same-run figures (bench/results/footprint-2026-12-02.md): the agent's peak RSS
 * in a 1,000-update burst 261 → 174 MiB, the principal's with 1,000 agents 201 → 157 MiB, CPU
 * and updates/s unchanged within noise; 2 saved about as much (agent CPU trending up), 8 less.
 * NODE_OPTIONS still extends the executable's options (the default `execArgvExtension`), but
 * for a flag given in both, this one wins. The plain bundles do not carry it:
 * `node --max-semi-space-size=4 argocd-agent.cjs`, `deno run --v8-flags=--max-semi-space-size=4 …`.
 */
export const SEA_EXEC_ARGV: readonly string[] = ["--max-semi-space-size=4"];

export interface SeaOptions {
  /** The Node binary to copy (same version as process.version). */
  runtime: string;
  /** The CommonJS bundle that becomes the main script. */
  bundle: string;
  out: string;
  /** Embed V8's code cache; only valid when `runtime` is this machine's Node. */
  codeCache: boolean;
  /** Scratch directory for the config and the blob. */
  workDir: string;
}

/**
 * Writes the SEA blob for `bundle` (made by the running Node) and returns its path. The blob
 * records the main script's path as written in the config, so the bundle is copied into
 * `workDir` and named relatively: the blob must not depend on where the project or the output is.
 */
export function makeSeaBlob(bundle: string, codeCache: boolean, workDir: string): string {
  mkdirSync(workDir, { recursive: true });
  const main = "argocd-agent.cjs";
  const blob = codeCache ? "sea-code-cache.blob" : "sea.blob";
  const config = codeCache ? "sea-config-code-cache.json" : "sea-config.json";
  copyFileSync(bundle, join(workDir, main));
  writeFileSync(join(workDir, config), JSON.stringify({
    main,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: codeCache,
    useSnapshot: false,
    execArgv: SEA_EXEC_ARGV,
  }, null, 2));
  execFileSync(process.execPath, ["--experimental-sea-config", config], { cwd: workDir, stdio: "pipe" });
  rmSync(join(workDir, config));
  rmSync(join(workDir, main));
  return join(workDir, blob);
}

/** Copies `runtime` to `out` with `blob` injected. */
export function injectSeaBlob(runtime: string, blob: string, out: string): void {
  rmSync(out, { force: true });
  copyFileSync(runtime, out);
  chmodSync(out, 0o755);
  // postject's native part prints harmless LIEF section warnings; show them only on failure.
  try {
    execFileSync(process.execPath, [POSTJECT, out, SEA_RESOURCE, blob, "--sentinel-fuse", SEA_FUSE], { stdio: "pipe" });
  } catch (err) {
    const e = err as { stderr?: Buffer; stdout?: Buffer };
    throw new Error(`postject failed for ${out}:\n${e.stderr ?? ""}${e.stdout ?? ""}`);
  }
}

export function makeSea(opts: SeaOptions): void {
  const blob = makeSeaBlob(opts.bundle, opts.codeCache, opts.workDir);
  injectSeaBlob(opts.runtime, blob, opts.out);
  rmSync(blob);
}
