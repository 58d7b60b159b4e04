/**
 * Entry point of the single `argocd-agent` executable: subcommands principal,
 * agent, version, diagnostics and ctl (the operator CLI, also run when the
 * executable is invoked as `argocd-agentctl`). Configuration errors exit with code 2.
 */
import { Command, CommanderError } from "commander";

type Out = (s: string) => void;

/**
 * Each subcommand's tree, loaded only when it runs: an agent never evaluates the
 * principal's modules, `version` evaluates almost nothing (startup CPU and
 * resident memory, issue #19). Help without a subcommand builds them all.
 */
const SUBCOMMANDS: Record<string, (out: Out) => Promise<Command>> = {
  async principal() {
    const [{ componentCommand }, { PRINCIPAL_SETTINGS }] = await Promise.all([import("./cli/component-command.ts"), import("./settings/principal-settings.ts")]);
    return componentCommand("principal", "Run the principal (control-plane side)", PRINCIPAL_SETTINGS, async (values, signal) =>
      (await import("./principal/run.ts")).runPrincipal(values, signal));
  },
  async agent() {
    const [{ componentCommand }, { AGENT_SETTINGS }] = await Promise.all([import("./cli/component-command.ts"), import("./settings/agent-settings.ts")]);
    return componentCommand("agent", "Run an agent (workload-cluster side)", AGENT_SETTINGS, async (values, signal) => (await import("./agent/run.ts")).runAgent(values, signal));
  },
  version: async (out) => (await import("./cli/version-command.ts")).versionCommand(out),
  diagnostics: async (out) => (await import("./cli/diagnostics-command.ts")).diagnosticsCommand(out),
  ctl: async (out) => (await import("./ctl/ctl-command.ts")).ctlCommand(out),
};

/** The program with every subcommand, or only `only` when given (what a run needs). */
export async function buildProgram(out: Out = (s) => process.stdout.write(s + "\n"), only?: string): Promise<Command> {
  const program = new Command("argocd-agent")
    .description("Argo CD agent: a principal on the control plane and agents on workload clusters")
    .showHelpAfterError("(add --help for all settings)");
  const names = only && only in SUBCOMMANDS ? [only] : Object.keys(SUBCOMMANDS);
  for (const cmd of await Promise.all(names.map((n) => SUBCOMMANDS[n]!(out)))) program.addCommand(cmd);
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
  void import("./observability/log.ts").then(({ getLogger }) => getLogger("transport").warn(w.message, { warning: w.name }));
});

/** Errors that carry their own exit code, by name (so main needs none of their modules). */
const CONFIG_ERRORS = new Set(["SettingsError", "StartupError"]);

/** Runs the program; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(undefined, argv[0])).parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message; help and version are not errors.
      return err.exitCode === 0 ? 0 : 2;
    }
    const e = err as Error & { exitCode?: number };
    if (e?.name === "CtlError") {
      process.stderr.write(`argocd-agent ctl: error: ${e.message}\n`);
      return e.exitCode ?? 1;
    }
    if (CONFIG_ERRORS.has(e?.name)) {
      process.stderr.write(`argocd-agent: error: ${e.message}\n`);
      return 2;
    }
    process.stderr.write(`argocd-agent: fatal: ${e?.stack ?? String(err)}\n`);
    return 1;
  }
}

// Exit explicitly: a finished component must not linger on open handles.
// Installed as `argocd-agentctl` (a link or copy), the executable is the operator CLI.
const invokedAs = (process.argv[1] ?? process.argv0).split("/").pop() ?? "";
const argv = /^argocd-agentctl/.test(invokedAs) || /^argocd-agentctl/.test(process.argv0.split("/").pop() ?? "") ? ["ctl", ...process.argv.slice(2)] : process.argv.slice(2);
void main(argv).then((code) => process.exit(code));
