/**
 * The `ctl validate` command tree (alias `check-config`; operations.md §1.6):
 * `validate principal` runs the principal checks; `validate agent` runs them
 * too, then the agent checks against that principal, so it needs both
 * clusters. Prints `Configuration validation results:` and one line per
 * check (`* <check>: ✅`, or `❌` and an `ERROR:` line); any failure exits 1.
 * The checks (validate-principal.ts, validate-agent.ts) are loaded with the
 * kube layer only when a `validate` command runs.
 *
 * @example
 *   argocd-agent ctl --principal-context hub validate principal
 *   argocd-agent ctl --principal hub --agent spoke-1 validate agent
 */
import type { Command } from "commander";
import { CtlError, ctlContext, withKube } from "./ctl-context.ts";
import type { CheckResult } from "./validate-support.ts";

function report(results: CheckResult[], out: (s: string) => void): void {
  out("Configuration validation results:");
  for (const r of results) out(r.error === undefined ? `* ${r.name}: ✅` : `* ${r.name}: ❌\nERROR: ${r.error}`);
  if (results.some((r) => r.error !== undefined)) throw new CtlError("one or more checks failed");
}

export function registerValidateCommands(ctl: Command, out: (s: string) => void): void {
  const validate = ctl.command("validate").alias("check-config").description("Check a principal's or an agent's installation (read-only)");
  validate
    .command("principal")
    .description("Check the principal's namespace: PKI Secrets, JWT key, cluster Secrets, Argo CD mode and components")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const { principalChecks } = await withKube(import("./validate-principal.ts"));
      report(await principalChecks(ctx.kube(), ctx.globals.principalNamespace), out);
    });
  validate
    .command("agent")
    .description("Check an agent's namespace and cross-check it with its principal (runs the principal checks too)")
    .action(async (_opts: unknown, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const g = ctx.globals;
      if (!g.principalContext || !g.agentContext) {
        throw new CtlError("validate agent needs both clusters: give --principal-context or --principal (or a default-principal in the config file), and --agent-context or --agent", 2);
      }
      const [{ principalChecks }, { agentChecks }] = await withKube(Promise.all([import("./validate-principal.ts"), import("./validate-agent.ts")]));
      const principalKube = ctx.kube();
      const results = await principalChecks(principalKube, g.principalNamespace);
      results.push(...(await agentChecks(ctx.agentKube(), g.agentNamespace, principalKube, g.principalNamespace)));
      report(results, out);
    });
}
