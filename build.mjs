#!/usr/bin/env node
// Builds dist/argocd-agent.cjs (for the executable), dist/argocd-agent.mjs (ESM,
// runs under Deno) and the Node single-executable application
// dist/argocd-agent-linux-x64. Run with the project's Node 24 (npm run build).
// `pkg` is not used: it downloads prebuilt base binaries; Node SEA is its successor.
import { execFileSync } from "node:child_process";
import { copyFileSync, chmodSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const started = performance.now();
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(`build.mjs needs Node 24 (found ${process.version}); run it through npm (npm run build) so node_modules/.bin/node is used`);
  process.exit(1);
}

function gitRevision() {
  try {
    return execFileSync("git", ["rev-parse", "--short", "HEAD"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "unknown";
  }
}

// Optional native add-ons that libraries try to load; stubbed so nothing is
// looked up on disk (there is no node_modules next to the executable).
const OPTIONAL_NATIVE = ["bufferutil", "utf-8-validate", "supports-color", "encoding"];
const stubOptional = {
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

const common = {
  entryPoints: ["src/main.ts"],
  bundle: true,
  platform: "node",
  target: "node24",
  minify: true,
  sourcemap: false,
  legalComments: "none",
  logLevel: "warning",
  plugins: [stubOptional],
  define: {
    __BUILD_INFO__: JSON.stringify({ gitRevision: gitRevision(), buildDate: new Date().toISOString() }),
  },
};

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist", { recursive: true });

await build({
  ...common,
  format: "cjs",
  outfile: "dist/argocd-agent.cjs",
  // ESM-only libraries use import.meta.url; give the CJS bundle a real one.
  define: { ...common.define, "import.meta.url": "__importMetaUrl" },
  banner: { js: "const __importMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
});

await build({
  ...common,
  format: "esm",
  outfile: "dist/argocd-agent.mjs",
  // CommonJS dependencies call require() for built-ins; ESM has none, so make one.
  banner: { js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);" },
});
const bundled = performance.now();

// Node single-executable application: blob from the CJS bundle, injected into a copy of this Node.
const seaConfig = {
  main: "dist/argocd-agent.cjs",
  output: "dist/sea-prep.blob",
  disableExperimentalSEAWarning: true,
  useCodeCache: true,
  useSnapshot: false,
};
writeFileSync("dist/sea-config.json", JSON.stringify(seaConfig, null, 2));
execFileSync(process.execPath, ["--experimental-sea-config", "dist/sea-config.json"], { stdio: "pipe" });
const exe = "dist/argocd-agent-linux-x64";
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
// postject's native part prints harmless LIEF section warnings; run it aside and show only real errors.
try {
  execFileSync(process.execPath, [
    "node_modules/postject/dist/cli.js", exe, "NODE_SEA_BLOB", "dist/sea-prep.blob",
    "--sentinel-fuse", "NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2",
  ], { stdio: "pipe" });
} catch (err) {
  console.error(String(err.stderr ?? err));
  process.exit(1);
}
rmSync("dist/sea-prep.blob");
rmSync("dist/sea-config.json");

const mib = (f) => (statSync(f).size / 1048576).toFixed(2) + " MiB";
const done = performance.now();
console.log(`built in ${((done - started) / 1000).toFixed(1)} s (bundles ${((bundled - started) / 1000).toFixed(1)} s)`);
console.log(`  dist/argocd-agent.cjs          ${mib("dist/argocd-agent.cjs")}`);
console.log(`  dist/argocd-agent.mjs          ${mib("dist/argocd-agent.mjs")}`);
console.log(`  ${exe}   ${mib(exe)} (Node ${process.version} runtime included)`);
