/**
 * Entry point of the single `argocd-agent` executable: subcommands principal,
 * agent, version, diagnostics and ctl (the operator CLI, also run when the
 * executable is invoked as `argocd-agentctl`). Configuration errors exit with code 2.
 */
import { Command, CommanderError } from "commander";
import { componentCommand, StartupError } from "./cli/component-command.ts";
import { versionCommand } from "./cli/version-command.ts";
import { PRINCIPAL_SETTINGS } from "./settings/principal-settings.ts";
import { AGENT_SETTINGS } from "./settings/agent-settings.ts";
import { SettingsError } from "./settings/types.ts";
import { runPrincipal } from "./principal/run.ts";
import { runAgent } from "./agent/run.ts";
import { diagnosticsCommand } from "./cli/diagnostics-command.ts";
import { ctlCommand, CtlError } from "./ctl/ctl-command.ts";
import { getLogger } from "./observability/log.ts";

export function buildProgram(out: (s: string) => void = (s) => process.stdout.write(s + "\n")): Command {
  const program = new Command("argocd-agent")
    .description("Argo CD agent: a principal on the control plane and agents on workload clusters")
    .showHelpAfterError("(add --help for all settings)");
  program.addCommand(componentCommand("principal", "Run the principal (control-plane side)", PRINCIPAL_SETTINGS, runPrincipal));
  program.addCommand(componentCommand("agent", "Run an agent (workload-cluster side)", AGENT_SETTINGS, runAgent));
  program.addCommand(versionCommand(out));
  program.addCommand(diagnosticsCommand(out));
  program.addCommand(ctlCommand(out));
  // Errors from any subcommand surface here instead of exiting inside commander.
  const override = (c: Command) => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  return program;
}

// Route Node's process warnings through our logger; grpc-js sets the TLS
// servername to an IP for IP targets, which only earns a deprecation notice.
process.removeAllListeners("warning");
process.on("warning", (w) => {
  if ((w as NodeJS.ErrnoException).code === "DEP0123") return;
  getLogger("transport").warn(w.message, { warning: w.name });
});

/** Runs the program; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message; help and version are not errors.
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CtlError) {
      process.stderr.write(`argocd-agent ctl: error: ${err.message}\n`);
      return err.exitCode;
    }
    if (err instanceof SettingsError || err instanceof StartupError) {
      process.stderr.write(`argocd-agent: error: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`argocd-agent: fatal: ${(err as Error)?.stack ?? String(err)}\n`);
    return 1;
  }
}

// Exit explicitly: a finished component must not linger on open handles.
// Installed as `argocd-agentctl` (a link or copy), the executable is the operator CLI.
const invokedAs = (process.argv[1] ?? process.argv0).split("/").pop() ?? "";
const argv = /^argocd-agentctl/.test(invokedAs) || /^argocd-agentctl/.test(process.argv0.split("/").pop() ?? "") ? ["ctl", ...process.argv.slice(2)] : process.argv.slice(2);
void main(argv).then((code) => process.exit(code));
