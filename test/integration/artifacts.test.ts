// The built artefacts: the single executable (also inside a distroless-like
// chroot as uid 65532), the CJS bundle and the ESM bundle under Deno.
// `npm test` builds them first (pretest); run `npm run build` when running this file alone.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { EXECUTABLE, freePort, principalDevArgs, runSync, start, startRaw, type Runner } from "../support/processes.ts";
import { distrolessRoot } from "../support/distroless.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";

before(() => {
  assert.ok(existsSync(EXECUTABLE), `${EXECUTABLE} is missing: run npm run build first`);
});

test("executable: principal --help and agent --help list every parameter with its env var", () => {
  for (const [sub, table] of [["principal", PRINCIPAL_SETTINGS], ["agent", AGENT_SETTINGS]] as const) {
    const res = runSync([sub, "--help"], {}, "executable");
    assert.equal(res.code, 0, res.stderr);
    for (const def of table) {
      if (def.flag) assert.match(res.stdout, new RegExp(`--${def.name}\\b`));
      if (def.env) assert.ok(res.stdout.includes(`env: ${def.env}`), `${def.env} missing`);
    }
    assert.equal(res.stderr, "", "nothing printed on stderr at start (no SEA warning)");
  }
});

for (const runner of ["executable", "cjs", "deno"] as Runner[]) {
  test(`${runner}: version, then principal starts, serves /healthz and stops on SIGTERM`, async () => {
    const v = runSync(["version", "-o", "json"], {}, runner);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(JSON.parse(v.stdout).name, "argocd-agent");
    const port = await freePort();
    const p = start(principalDevArgs(port), {}, runner);
    try {
      await p.waitFor(/principal started/);
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      assert.equal(res.status, 200);
    } finally {
      assert.equal(await p.stop(), 0, p.output());
    }
    assert.match(p.output(), /principal stopped/);
  });
}

test("distroless: the executable runs as uid 65532 in a chroot holding only itself and distroless/cc's libraries", async (t) => {
  assert.equal(process.getuid?.(), 0, "this test needs root for chroot (CI runs as root)");
  const { root, chrootArgs, remove } = distrolessRoot(EXECUTABLE, "x64");
  t.after(remove);
  assert.deepEqual(readdirSync(root).sort(), ["argocd-agent", "lib", "lib64"].filter((d) => existsSync(join(root, d))).sort());
  assert.ok(!existsSync(join(root, "etc")) && !existsSync(join(root, "tmp")));

  const chroot = chrootArgs;
  const version = execFileSync("chroot", chroot(["version"]), { encoding: "utf8" });
  assert.match(version, /^argocd-agent-\d+\.\d+\.\d+\n$/);

  const port = await freePort();
  const p = startRaw("chroot", chroot(principalDevArgs(port)));
  try {
    await p.waitFor(/principal started/);
    assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  } finally {
    assert.equal(await p.stop(), 0, p.output());
  }
});

