#!/usr/bin/env node
// Builds dist/argocd-agent.cjs (for the executable), dist/argocd-agent.mjs (ESM,
// runs under Deno) and the Node single-executable application
// dist/argocd-agent-linux-x64. Run with the project's Node 24 (npm run build).
// `pkg` is not used: it downloads prebuilt base binaries; Node SEA is its successor.
// `npm run release` (scripts/release.ts) builds the downloadable set for x64 and arm64.
import { mkdirSync, rmSync, statSync } from "node:fs";
import { buildBundles, buildInfo } from "./scripts/release/bundles.ts";
import { makeSea } from "./scripts/release/sea.ts";

const started = performance.now();
const major = Number(process.versions.node.split(".")[0]);
if (major < 24) {
  console.error(`build.mjs needs Node 24 (found ${process.version}); run it through npm (npm run build) so node_modules/.bin/node is used`);
  process.exit(1);
}

rmSync("dist", { recursive: true, force: true });
mkdirSync("dist", { recursive: true });
// The same bundles as the release (scripts/release/bundles.ts), stamped with the same build info.
await buildBundles("dist", buildInfo());
const bundled = performance.now();

// Node single-executable application: blob from the CJS bundle, injected into a copy of this Node.
const exe = "dist/argocd-agent-linux-x64";
try {
  makeSea({ runtime: process.execPath, bundle: "dist/argocd-agent.cjs", out: exe, codeCache: true, workDir: "dist/.sea" });
  rmSync("dist/.sea", { recursive: true, force: true });
} catch (err) {
  console.error(String(err.message ?? err));
  process.exit(1);
}

const mib = (f) => (statSync(f).size / 1048576).toFixed(2) + " MiB";
const done = performance.now();
console.log(`built in ${((done - started) / 1000).toFixed(1)} s (bundles ${((bundled - started) / 1000).toFixed(1)} s)`);
console.log(`  dist/argocd-agent.cjs          ${mib("dist/argocd-agent.cjs")}`);
console.log(`  dist/argocd-agent.mjs          ${mib("dist/argocd-agent.mjs")}`);
console.log(`  ${exe}   ${mib(exe)} (Node ${process.version} runtime included)`);
