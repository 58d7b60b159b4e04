/**
 * `argocd-agent diagnostics …`: checks a mesh operator runs by hand.
 *
 * `diagnostics auth --auth '<principal --auth value>' --header-value '<sample>'` runs a
 * header value copied from the sidecar (Envoy config dump, access log, `l5d-client-id`)
 * through the same extraction code the principal uses, and prints each step and the
 * agent ID it would get. Exit codes: 0 identity found, 1 no identity, 2 unusable --auth.
 *
 * @example
 *   argocd-agent diagnostics auth \
 *     --auth 'header:x-forwarded-client-cert:^.*URI=spiffe://[^/]+/ns/[^/]+/sa/([^,;]+)' \
 *     --header-value 'By=spiffe://cluster.local/ns/argocd/sa/principal;URI=spiffe://cluster.local/ns/argocd/sa/agent-1'
 */
import { Command, Option } from "commander";
import { StartupError } from "./component-command.ts";

/** Exit code when the value yields no identity (2 is taken by configuration errors). */
export const NO_IDENTITY_EXIT_CODE = 1;

/**
 * @param exit ends the process with a code; main() maps only errors to codes (always 2),
 *   so "no identity" (1) needs its own way out. Tests pass a recorder.
 */
export function diagnosticsCommand(out: (s: string) => void, exit: (code: number) => void = (code) => process.exit(code)): Command {
  const cmd = new Command("diagnostics").description("Troubleshooting helpers for mesh deployments");
  cmd
    .command("settings")
    .description("Print every setting of a component as a table (flag, env var, ConfigMap key, default)")
    .argument("<component>", "principal or agent")
    .action(async (component: string) => {
      const { settingsMarkdown } = await import("../settings/docs.ts");
      out(settingsMarkdown(component));
    });
  cmd
    .command("auth")
    .description(
      "Show the agent ID the principal would extract from a header value (header auth), step by step. " +
        "Exit code 0: identity found, 1: no identity, 2: the --auth value is unusable",
    )
    .requiredOption("--auth <value>", "the principal's --auth setting, e.g. header:l5d-client-id:^([^.]+)\\..*")
    .requiredOption("--header-value <sample>", "a header value as the sidecar sends it")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json"]).default("text"))
    .action(async (opts: { auth: string; headerValue: string; output: string }) => {
      const { diagnoseHeaderAuth } = await import("../auth/diagnose.ts");
      const d = diagnoseHeaderAuth(opts.auth, opts.headerValue);
      const badSetting = !d.ok && (d.error === "invalid --auth setting" || d.error === "not a header auth setting");
      if (opts.output === "json") {
        out(JSON.stringify(d.ok ? { ok: true, agentId: d.agentId, steps: d.steps } : { ok: false, error: d.error, detail: d.detail, steps: d.steps }));
        if (!d.ok) exit(badSetting ? 2 : NO_IDENTITY_EXIT_CODE);
        return;
      }
      if (badSetting) throw new StartupError(`${d.error}: ${d.detail}`);
      for (const step of d.steps) out(step);
      if (d.ok) {
        out(`agent ID: ${d.agentId}`);
        return;
      }
      out(`no agent identity: ${d.detail}`);
      exit(NO_IDENTITY_EXIT_CODE);
    });
  return cmd;
}
