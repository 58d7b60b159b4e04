// The committed generated code in src/proto/gen must be what
// scripts/gen-proto.sh produces from src/proto/*.proto today (not stale).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";

const repoRoot = resolve(import.meta.dirname, "../..");
const committed = join(repoRoot, "src/proto/gen");

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => relative(dir, join(d.parentPath, d.name)))
    .sort();
}

test("src/proto/gen matches a fresh generation", () => {
  const tmp = mkdtempSync(join(tmpdir(), "gen-proto-"));
  try {
    execFileSync("bash", [join(repoRoot, "scripts/gen-proto.sh"), tmp], { cwd: repoRoot, stdio: ["ignore", "pipe", "pipe"] });
    const fresh = join(tmp, "src/proto/gen");
    const files = listFiles(fresh);
    assert.ok(files.includes("eventstream.ts") && files.includes("cloudevent.ts"), `unexpected output: ${files.join(", ")}`);
    assert.deepEqual(listFiles(committed), files, "generated file set differs: run npm run gen:proto");
    for (const f of files) {
      assert.equal(readFileSync(join(committed, f), "utf8"), readFileSync(join(fresh, f), "utf8"), `${f} is stale: run npm run gen:proto`);
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
