// The command line as a user meets it: help, version, bad input (exit code 2
// with the flag or env var, the value and what is accepted), start and stop.
import { test } from "node:test";
import assert from "node:assert/strict";
import { freePort, principalDevArgs, runSync, start } from "../support/processes.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";

test("version prints text, json and yaml like upstream's version -o", () => {
  const text = runSync(["version"]);
  assert.equal(text.code, 0);
  assert.match(text.stdout, /^argocd-agent-\d+\.\d+\.\d+\n$/, "upstream's QualifiedVersion: <name>-<version>");
  const json = JSON.parse(runSync(["version", "-o", "json"]).stdout);
  assert.equal(json.name, "argocd-agent");
  assert.match(runSync(["version", "-o", "yaml"]).stdout, /^name: argocd-agent$/m);
  assert.equal(runSync(["version", "--short"]).stdout.trim(), json.version);
  assert.equal(runSync(["version", "-o", "xml"]).code, 2);
});

test("--help lists every setting with its env var", () => {
  for (const [sub, table] of [["principal", PRINCIPAL_SETTINGS], ["agent", AGENT_SETTINGS]] as const) {
    const res = runSync([sub, "--help"]);
    assert.equal(res.code, 0, res.stderr);
    for (const def of table) {
      if (def.flag) assert.match(res.stdout, new RegExp(`--${def.name}\\b`), `--${def.name} in ${sub} --help`);
      if (def.env) assert.ok(res.stdout.includes(`env: ${def.env}`), `${def.env} in ${sub} --help`);
    }
  }
});

const badInput: [string, string[], Record<string, string>, RegExp][] = [
  ["unknown flag", ["principal", "--no-such-flag"], {}, /unknown option '--no-such-flag'/],
  ["bad port (flag)", ["principal", "--listen-port", "99999"], {}, /invalid value "99999" for --listen-port.*1-65535/],
  ["bad port (env)", ["agent"], { ARGOCD_AGENT_REMOTE_PORT: "0" }, /invalid value "0" for environment variable ARGOCD_AGENT_REMOTE_PORT.*1-65535/],
  ["bad duration (flag)", ["agent", "--heartbeat-interval", "30"], {}, /invalid value "30" for --heartbeat-interval.*duration/],
  ["bad duration (env)", ["agent"], { ARGOCD_AGENT_KEEP_ALIVE_PING_INTERVAL: "soon" }, /ARGOCD_AGENT_KEEP_ALIVE_PING_INTERVAL.*duration/],
  ["bad regex (flag)", ["principal", "--namespace-create-pattern", "(unclosed"], {}, /--namespace-create-pattern.*invalid regular expression/],
  ["bad regex (env)", ["principal"], { ARGOCD_PRINCIPAL_NAMESPACE_CREATE_PATTERN: "[z-a]" }, /ARGOCD_PRINCIPAL_NAMESPACE_CREATE_PATTERN.*invalid regular expression/],
  ["bad enum (flag)", ["agent", "--agent-mode", "manual"], {}, /invalid value "manual" for --agent-mode.*autonomous, managed/],
  ["bad enum (env)", ["principal"], { ARGOCD_PRINCIPAL_LOG_FORMAT: "yaml" }, /ARGOCD_PRINCIPAL_LOG_FORMAT.*text, json/],
  ["bad bool (env)", ["principal"], { ARGOCD_PRINCIPAL_INSECURE_PLAINTEXT: "yes" }, /ARGOCD_PRINCIPAL_INSECURE_PLAINTEXT.*boolean/],
  ["bad log level (env)", ["agent"], { ARGOCD_AGENT_LOG_LEVEL: "loud" }, /ARGOCD_AGENT_LOG_LEVEL.*unknown log level "loud"/],
  ["unsupported feature", ["principal", "--full-detail", "all"], {}, /--full-detail is not supported yet/],
  ["principal without namespace", ["principal", "--healthz-port", "0"], {}, /namespace is required/],
  ["agent without server", ["agent", "--healthz-port", "0"], {}, /no remote specified/],
];
for (const [name, args, env, re] of badInput) {
  test(`bad input: ${name} → exit 2 with a clear message`, () => {
    const res = runSync(args, env);
    assert.equal(res.code, 2, `exit code; stderr: ${res.stderr}`);
    assert.match(res.stderr, re);
  });
}

test("warn is accepted as an alias of warning", async () => {
  const port = await freePort();
  const p = start([...principalDevArgs(port), "--log-level", "warn,principal=info"]);
  try {
    await p.waitFor(/principal started/);
  } finally {
    assert.equal(await p.stop(), 0);
  }
});

test("the executable invoked as argocd-agentctl is the operator CLI (argocd-agent ctl)", async () => {
  const { EXECUTABLE } = await import("../support/processes.ts");
  const { mkdtempSync, symlinkSync, rmSync } = await import("node:fs");
  const { spawnSync } = await import("node:child_process");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const dir = mkdtempSync(join(tmpdir(), "agentctl-"));
  try {
    symlinkSync(EXECUTABLE, join(dir, "argocd-agentctl"));
    const r = spawnSync(join(dir, "argocd-agentctl"), ["agent", "create", "Bad_Name"], { encoding: "utf8", timeout: 30_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /argocd-agent ctl: error: agent name "Bad_Name" is not a DNS-1123 subdomain/);
    const help = spawnSync(join(dir, "argocd-agentctl"), ["--help"], { encoding: "utf8", timeout: 30_000 });
    assert.match(help.stdout, /Usage: argocd-agent ctl/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
