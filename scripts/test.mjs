#!/usr/bin/env node
// Runs every test file with Node's own test runner (its summary lines are what CI reads).
// Usage: npm test [-- <file or glob> ...]   e.g. npm test -- test/unit/settings.test.ts
import { spawnSync } from "node:child_process";

const args = process.argv.slice(2);
const files = args.length ? args : ["test/**/*.test.ts"];
const res = spawnSync(process.execPath, ["--test", "--test-concurrency=1", "--test-reporter=spec", ...files], {
  stdio: "inherit",
  env: { ...process.env, NODE_NO_WARNINGS: "1" },
});
process.exit(res.status ?? 1);
