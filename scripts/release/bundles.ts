/**
 * The two esbuild bundles of src/main.ts (CommonJS for the Node single executable, ESM for
 * Deno), shared by build.mjs and the release (scripts/release.ts), and the build information
 * stamped into them. Everything that goes into a bundle is derived from the commit, never from
 * the clock, so two builds of one commit are byte-identical: the build date is the commit date
 * (or SOURCE_DATE_EPOCH), as reproducible-builds.org recommends. The esbuild metafiles are
 * returned too: they list exactly which files (and so which npm packages) a bundle contains.
 *
 * @example
 *   const info = buildInfo();            // { gitRevision: "7f43c93…", gitStatus: "clean", buildDate: "2026-12-02T12:37:09Z" }
 *   const { cjs, mjs, inputs } = await buildBundles("dist", info);
 */
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build, type BuildOptions, type Metafile, type Plugin } from "esbuild";

/** The project directory: the entry point, git and the metafile paths are relative to it. */
const ROOT = fileURLToPath(new URL("../../", import.meta.url));

export interface BuildInfo {
  gitRevision: string;
  gitStatus: string;
  buildDate: string;
}

function git(args: string[]): string | undefined {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return undefined;
  }
}

/** RFC 3339 in UTC without fractions, as Go's time.RFC3339 prints a UTC time. */
function rfc3339(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * What upstream's Makefile stamps (full `git rev-parse HEAD`), plus the tree state
 * (`clean`/`dirty`, as Argo CD's build computes it) and a build date that is a function of the
 * commit: SOURCE_DATE_EPOCH if set, else the commit's committer date.
 */
export function buildInfo(env: NodeJS.ProcessEnv = process.env): BuildInfo {
  const revision = git(["rev-parse", "HEAD"]);
  const status = revision === undefined ? undefined : git(["status", "--porcelain"]);
  const epoch = env.SOURCE_DATE_EPOCH ?? git(["log", "-1", "--format=%ct"]);
  if (epoch !== undefined && !/^\d+$/.test(epoch)) throw new Error(`SOURCE_DATE_EPOCH must be whole seconds, got ${JSON.stringify(epoch)}`);
  return {
    gitRevision: revision ?? "unknown",
    gitStatus: status === undefined ? "unknown" : status === "" ? "clean" : "dirty",
    buildDate: epoch === undefined ? "unknown" : rfc3339(Number(epoch)),
  };
}

// Optional native add-ons that libraries try to load; stubbed so nothing is
// looked up on disk (there is no node_modules next to the executable).
const OPTIONAL_NATIVE = ["bufferutil", "utf-8-validate", "supports-color", "encoding"];
const stubOptional: Plugin = {
  name: "stub-optional-native",
  setup(b) {
    const filter = new RegExp(`^(${OPTIONAL_NATIVE.join("|")})$`);
    b.onResolve({ filter }, (args) => ({ path: args.path, namespace: "stub" }));
    b.onLoad({ filter: /.*/, namespace: "stub" }, () => ({
      contents: "throw Object.assign(new Error('optional module not bundled'), { code: 'MODULE_NOT_FOUND' });",
      loader: "js",
    }));
  },
};

// The OpenTelemetry packages (loaded only with --otlp-address, src/tracing/) ship ESM whose
// OTLP/gRPC exporter loads @grpc/grpc-js through createRequire at run time, which a bundle cannot
// see ("Cannot find module" on the first export); their CommonJS builds use plain require(), so
// bundle those (test/integration/tracing-bundle.test.ts exports spans from the built artefacts).
const openTelemetryAsCommonJs: Plugin = {
  name: "opentelemetry-as-commonjs",
  setup(b) {
    b.onResolve({ filter: /^@opentelemetry\// }, (args) =>
      args.pluginData === "otel-cjs" ? undefined : b.resolve(args.path, { kind: "require-call", resolveDir: args.resolveDir, pluginData: "otel-cjs" }),
    );
  },
};

// client-node's KubeConfig module (dist/config.js) imports two names from its generated API's index
// (dist/gen/index.js), which evaluates every generated model and API class: ≈800 modules and
// ≈4 MiB of heap in a principal or agent that uses none of them (they send plain JSON,
// src/kube/raw-request.ts), issue #19. Give config.js a module exporting just those two from their
// own files; ctl's typed APIs (src/kube/typed-apis.ts) still import the full index.
// test/release/bundle-modules.test.ts checks the agent evaluates no generated model.
const CLIENT_NODE_CONFIG = /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]config\.js$/;
const slimClientNodeConfig: Plugin = {
  name: "slim-client-node-config",
  setup(b) {
    b.onResolve({ filter: /^\.\/gen\/index\.js$/ }, (args) =>
      CLIENT_NODE_CONFIG.test(args.importer) ? { path: resolve(args.resolveDir, "gen/config-imports.js"), namespace: "client-node-config" } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "client-node-config" }, (args) => ({
      contents: 'export { createConfiguration } from "./configuration.js";\nexport { ServerConfiguration } from "./servers.js";\n',
      resolveDir: resolve(args.path, ".."),
      loader: "js",
    }));
  },
};

// client-node's modules import undici at their top (config.js for its dispatchers, watch.js and the
// generated API for fetch), which evaluates its 109 modules (≈4 MiB of heap) in every principal
// and agent, though they talk to the API server through node:https (src/kube/http-transport.ts),
// issue #19. Give those imports a module whose names load undici on first use: ctl's typed
// APIs and the agent's pod log streams still get the real one, when they run.
const CLIENT_NODE_DIR = /[\\/]@kubernetes[\\/]client-node[\\/]dist[\\/]/;
const UNDICI_NAMES = ["Agent", "ProxyAgent", "fetch"];
const lazyUndiciForClientNode: Plugin = {
  name: "lazy-undici-for-client-node",
  setup(b) {
    b.onResolve({ filter: /^undici$/ }, (args) =>
      CLIENT_NODE_DIR.test(args.importer) ? { path: "lazy-undici", namespace: "lazy-undici", pluginData: args.resolveDir } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: "lazy-undici" }, (args) => ({
      contents: [
        "let undici;",
        'const load = () => (undici ??= require("undici"));',
        `module.exports = { ${UNDICI_NAMES.map((n) => `get ${n}() { return load().${n}; }`).join(", ")} };`,
      ].join("\n"),
      resolveDir: args.pluginData as string,
      loader: "js",
    }));
  },
};

function common(info: BuildInfo): BuildOptions {
  return {
    absWorkingDir: ROOT,
    entryPoints: ["src/main.ts"],
    bundle: true,
    platform: "node",
    target: "node24",
    minify: true,
    sourcemap: false,
    legalComments: "none",
    logLevel: "warning",
    metafile: true,
    plugins: [stubOptional, openTelemetryAsCommonJs, slimClientNodeConfig, lazyUndiciForClientNode],
    define: { __BUILD_INFO__: JSON.stringify(info) },
  };
}

export interface Bundles {
  cjs: string;
  mjs: string;
  /** Every input file of either bundle, relative to the project (e.g. node_modules/ws/lib/websocket.js). */
  inputs: string[];
  /** esbuild's own metafiles of the two builds. */
  metafiles: { cjs: Metafile; mjs: Metafile };
}

/** Writes <outDir>/argocd-agent.cjs and <outDir>/argocd-agent.mjs (outDir relative to the current directory). */
export async function buildBundles(outDir: string, info: BuildInfo): Promise<Bundles> {
  const base = common(info);
  const cjs = resolve(outDir, "argocd-agent.cjs");
  const mjs = resolve(outDir, "argocd-agent.mjs");
  const r1 = await build({
    ...base,
    format: "cjs",
    outfile: cjs,
    // ESM-only libraries use import.meta.url; give the CJS bundle a real one.
    define: { ...base.define, "import.meta.url": "__importMetaUrl" },
    banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  const r2 = await build({
    ...base,
    format: "esm",
    outfile: mjs,
    // CommonJS dependencies call require() for built-ins; ESM has none, so make one.
    banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
  });
  const metafiles = { cjs: r1.metafile as Metafile, mjs: r2.metafile as Metafile };
  return { cjs, mjs, inputs: metafileInputs(metafiles), metafiles };
}

/** The input files of esbuild metafiles, merged and sorted. */
export function metafileInputs(metafiles: { cjs: Metafile; mjs: Metafile }): string[] {
  const inputs = new Set<string>();
  for (const meta of [metafiles.cjs, metafiles.mjs]) for (const input of Object.keys(meta.inputs)) inputs.add(input);
  return [...inputs].sort();
}
