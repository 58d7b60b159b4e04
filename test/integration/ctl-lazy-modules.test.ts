/**
 * What `argocd-agent ctl` evaluates: each command loads its implementation, and the kube layer
 * (src/kube/, @kubernetes/client-node) or the crypto library (@peculiar/x509), only when it runs
 * and needs them. `ha status -a`, `config list` and help load none of them; `pki inspect` and
 * `ha status` without -a (port-forward) do, which shows the check can fail. Run from source with
 * a module hook (registerHooks) that writes every loaded module's URL at exit. No Kubernetes:
 * the kubeconfig is a missing file, so the commands that need it stop at loading it.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { command, freePort } from "../support/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "ctl-lazy-modules-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const HOOK = join(dir, "hook.mjs");
writeFileSync(HOOK, `
import { registerHooks } from "node:module";
import { writeFileSync } from "node:fs";
const loaded = [];
registerHooks({ load(url, ctx, next) { loaded.push(url); return next(url, ctx); } });
process.on("exit", () => writeFileSync(process.env.LOADED_OUT, JSON.stringify(loaded)));
`);
const MISSING_KUBECONFIG = join(dir, "no-such-kubeconfig");
let runs = 0;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Loaded modules as paths relative to the project or node_modules. */
  modules: string[];
}

/** Runs `argocd-agent ctl <args>` from source with the hook (asynchronously: the test process stays responsive). */
async function ctl(args: string[]): Promise<Run> {
  const out = join(dir, `loaded-${++runs}.json`);
  const [bin, pre] = command("source");
  const p = spawn(bin, [...pre, "ctl", "--kubeconfig", MISSING_KUBECONFIG, "--config", join(dir, "ctl.conf"), ...args], {
    env: { PATH: process.env.PATH ?? "", HOME: dir, NODE_OPTIONS: `--import=${HOOK}`, LOADED_OUT: out },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  p.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  p.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  const timer = setTimeout(() => p.kill("SIGKILL"), 60_000);
  const code = await new Promise<number | null>((resolve) => p.on("close", resolve)).finally(() => clearTimeout(timer));
  const modules = (JSON.parse(readFileSync(out, "utf8")) as string[]).map((u) => u.replace(/^file:\/\/.*?\/(node_modules|src)\//, "$1/"));
  return { code, stdout, stderr, modules };
}

const has = (mods: string[], prefix: string) => mods.filter((m) => m.startsWith(prefix));
const HEAVY = ["node_modules/@kubernetes/client-node/", "src/kube/", "node_modules/@peculiar/x509/"];

function assertLight(r: Run, what: string): void {
  assert.ok(has(r.modules, "src/ctl/").length > 0, `${what}: the hook sees the ctl modules`);
  for (const prefix of HEAVY) assert.deepEqual(has(r.modules, prefix), [], `${what} loaded ${prefix}`);
}

test("ha status -a: the HA admin client only, no Kubernetes or crypto library", async () => {
  const r = await ctl(["ha", "status", "-a", `127.0.0.1:${await freePort()}`, "-t", "1s"]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /cannot reach the HA admin API/);
  assertLight(r, "ha status -a");
  assert.ok(has(r.modules, "src/ctl/ha-run.ts").length > 0 && has(r.modules, "node_modules/@grpc/grpc-js/").length > 0, "the admin client ran");
  assert.deepEqual(has(r.modules, "src/ctl/ha-port-forward.ts"), []);
});

test("config list and add, --help and agent create --help load no kube layer, no command implementation", async () => {
  const add = await ctl(["config", "add", "principal", "--name", "hub", "--context", "kind-hub", "--namespace", "argocd"]);
  assert.equal(add.code, 0, add.stderr);
  assertLight(add, "config add");
  const list = await ctl(["config", "list"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, /principal\s+hub\s+kind-hub\s+argocd/);
  assertLight(list, "config list");
  for (const args of [["--help"], ["agent", "create", "--help"]]) {
    const r = await ctl(args);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Usage: argocd-agent ctl /);
    assertLight(r, args.join(" "));
    for (const impl of ["agent-create.ts", "pki-inspect.ts", "ha-run.ts", "jwt.ts", "validate-principal.ts", "config-create.ts"]) {
      assert.deepEqual(has(r.modules, `src/ctl/${impl}`), [], `${args.join(" ")} loaded ${impl}`);
    }
  }
});

test("a bad flag value exits 2 before the implementation or the kube layer is loaded", async () => {
  const r = await ctl(["pki", "init", "--key-algorithm", "dsa"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--key-algorithm "dsa" is not supported/);
  assertLight(r, "pki init --key-algorithm dsa");
});

test("pki inspect and ha status without -a load the kube layer when they run", async () => {
  const inspect = await ctl(["pki", "inspect"]);
  assert.equal(inspect.code, 1);
  assert.match(inspect.stderr, /cannot load Kubernetes configuration \(--kubeconfig\/--principal-context\)/);
  for (const prefix of ["src/ctl/pki-inspect.ts", "src/kube/client.ts", "node_modules/@kubernetes/client-node/", "node_modules/@peculiar/x509/"]) {
    assert.ok(has(inspect.modules, prefix).length > 0, `pki inspect loaded ${prefix}`);
  }
  const status = await ctl(["ha", "status", "-t", "5s"]);
  assert.equal(status.code, 1);
  assert.match(status.stderr, /cannot load Kubernetes configuration/);
  for (const prefix of ["src/ctl/ha-port-forward.ts", "src/kube/client.ts", "node_modules/@kubernetes/client-node/"]) {
    assert.ok(has(status.modules, prefix).length > 0, `ha status (port-forward) loaded ${prefix}`);
  }
});
