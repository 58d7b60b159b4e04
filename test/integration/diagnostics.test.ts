// `argocd-agent diagnostics auth`: a mesh operator pastes a header value and the
// principal's --auth, and learns the agent ID (exit 0), why there is none (exit 1),
// or that the --auth value itself is unusable (exit 2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { CommanderError } from "commander";
import { runSync } from "../support/processes.ts";
import { diagnosticsCommand } from "../../src/cli/diagnostics-command.ts";
import { StartupError } from "../../src/cli/component-command.ts";
import { configureLogging } from "../../src/observability/log.ts";

configureLogging({ write: () => {} });

const ISTIO_AUTH = "header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)";
const XFCC = 'By=spiffe://cluster.local/ns/argocd/sa/argocd-agent-principal;Hash=abc;Subject="";URI=spiffe://cluster.local/ns/argocd/sa/agent-1';
const LINKERD_AUTH = "header:l5d-client-id:^([^.]+)\\..*";

/**
 * The subcommand in-process (starting the program costs seconds on a busy machine),
 * with main()'s mapping of errors to exit codes; the last test runs the real program.
 */
async function diagnose(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const lines: string[] = [];
  let code = 0;
  const cmd = diagnosticsCommand((s) => lines.push(s), (c) => (code = c));
  let stderr = "";
  cmd.exitOverride().configureOutput({ writeErr: (s) => (stderr += s), writeOut: (s) => lines.push(s) });
  for (const sub of cmd.commands) sub.exitOverride().configureOutput({ writeErr: (s) => (stderr += s) });
  try {
    await cmd.parseAsync(["auth", ...args], { from: "user" });
  } catch (err) {
    if (err instanceof StartupError) stderr += err.message;
    else if (!(err instanceof CommanderError)) throw err;
    code = 2;
  }
  return { code, stdout: lines.join("\n") + "\n", stderr };
}

test("Istio XFCC: prints the steps and the agent ID, exit 0", async () => {
  const res = await diagnose("--auth", ISTIO_AUTH, "--header-value", XFCC);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /header 'x-forwarded-client-cert'/);
  assert.match(res.stdout, /capture group 1 = "agent-1"/);
  assert.match(res.stdout, /^agent ID: agent-1$/m);
});

test("Linkerd l5d-client-id: agent ID, exit 0; json output for scripts", async () => {
  const value = "agent-7.argocd.serviceaccount.identity.linkerd.cluster.local";
  assert.match((await diagnose("--auth", LINKERD_AUTH, "--header-value", value)).stdout, /^agent ID: agent-7$/m);
  const res = await diagnose("--auth", LINKERD_AUTH, "--header-value", value, "-o", "json");
  assert.equal(res.code, 0, res.stderr);
  const out = JSON.parse(res.stdout);
  assert.equal(out.ok, true);
  assert.equal(out.agentId, "agent-7");
  assert.ok(Array.isArray(out.steps) && out.steps.length > 0);
});

test("no identity: says why, exit 1", async () => {
  const cases: [string, string, RegExp][] = [
    [ISTIO_AUTH, "By=spiffe://cluster.local/ns/argocd/sa/p;Hash=abc", /no agent identity: header value does not match the extraction regex pattern/],
    [ISTIO_AUTH, "URI=spiffe://cluster.local/ns/argocd/sa/Agent_1", /no agent identity: invalid agent ID 'Agent_1'/],
    // A forged first element is not trusted: only the element the sidecar appended counts.
    [ISTIO_AUTH, "URI=spiffe://c/ns/x/sa/victim,By=spiffe://c/ns/argocd/sa/p;Hash=abc", /earlier XFCC element matches[\s\S]*no agent identity/],
    [LINKERD_AUTH, "", /no agent identity/],
  ];
  for (const [auth, value, re] of cases) {
    const res = await diagnose("--auth", auth, "--header-value", value);
    assert.equal(res.code, 1, `exit code for ${JSON.stringify(value)}: ${res.stdout}${res.stderr}`);
    assert.match(res.stdout, re);
  }
  const json = await diagnose("--auth", ISTIO_AUTH, "--header-value", "nothing", "-o", "json");
  assert.equal(json.code, 1);
  assert.equal(JSON.parse(json.stdout).ok, false);
});

test("unusable --auth: exit 2 with the problem", async () => {
  const bad = await diagnose("--auth", "header:x-agent-id:^(", "--header-value", "agent-1");
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /invalid --auth setting/);
  const mtls = await diagnose("--auth", "mtls:subject:CN=([^,]+)", "--header-value", "agent-1");
  assert.equal(mtls.code, 2);
  assert.match(mtls.stderr, /not a header auth setting.*header:<header-name>:<regex>/);
  const missing = await diagnose("--auth", ISTIO_AUTH);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--header-value/);
});

test("the real program exits 0, 1 and 2", () => {
  const ok = runSync(["diagnostics", "auth", "--auth", ISTIO_AUTH, "--header-value", XFCC]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /^agent ID: agent-1$/m);
  const none = runSync(["diagnostics", "auth", "--auth", ISTIO_AUTH, "--header-value", "Hash=abc"]);
  assert.equal(none.code, 1, none.stdout + none.stderr);
  assert.match(none.stdout, /^no agent identity: /m);
  const bad = runSync(["diagnostics", "auth", "--auth", "nonsense", "--header-value", "x"]);
  assert.equal(bad.code, 2, bad.stdout + bad.stderr);
  assert.match(bad.stderr, /^argocd-agent: error: invalid --auth setting: /m);
});
