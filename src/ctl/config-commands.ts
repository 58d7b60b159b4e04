/**
 * The `ctl config` command tree (operations.md §1.1–§1.2): `create`
 * (interactive, config-create.ts), `add|edit|delete principal|agent` and
 * `list [principal|agent]` (config-entries.ts) on the file named by
 * `--config`: flags and help only; the work is loaded when a command runs
 * (`config create` reads kubeconfigs with the Kubernetes client library, the
 * others never load it).
 *
 * @example
 *   argocd-agent ctl config add principal --name hub --context kind-hub --namespace argocd --set-default
 *   argocd-agent ctl --principal hub agent list
 */
import type { Command } from "commander";
import { defaultConfigPath, type ComponentKind } from "./config-file.ts";
import type { EntryFlags } from "./config-entries.ts";

const KINDS: ComponentKind[] = ["principal", "agent"];
const configPath = (cmd: Command) => ((cmd.optsWithGlobals() as { config?: string }).config || defaultConfigPath());
const VERBS = { add: "addEntry", edit: "editEntry", delete: "removeEntry" } as const;

/** `<verb> principal|agent` with the entry flags; `required` lists the flags that must be given. */
function entryCommands(parent: Command, verb: keyof typeof VERBS, help: string, required: (keyof EntryFlags)[], out: (s: string) => void): void {
  const group = parent.command(verb).description(help);
  for (const kind of KINDS) {
    const c = group.command(kind).description(`${help}: a ${kind}`);
    c.requiredOption("--name <name>", `symbolic name of the ${kind}`);
    if (verb !== "delete") {
      const what = verb === "add" ? "" : "new ";
      if (required.includes("context")) c.requiredOption("--context <context>", `${what}kubeconfig context of the ${kind}`);
      else c.option("--context <context>", `${what}kubeconfig context of the ${kind}`);
      if (required.includes("namespace")) c.requiredOption("--namespace <ns>", `${what}namespace of the ${kind}`);
      else c.option("--namespace <ns>", `${what}namespace of the ${kind}`);
      if (kind === "principal") c.option("--set-default", "make it the default principal", false);
    }
    c.action(async (opts: EntryFlags, cmd: Command) => {
      const path = configPath(cmd);
      const entries = await import("./config-entries.ts");
      out(entries[VERBS[verb]](path, kind, opts));
    });
  }
}

export function registerConfigCommands(ctl: Command, out: (s: string) => void): void {
  const config = ctl.command("config").description("The ctl config file (symbolic names for principals and agents; see --config)");
  config
    .command("create")
    .description("Write a config file by asking, for each context of a kubeconfig, whether it is a principal or an agent")
    .option("--kubeconfig-path <path>", "kubeconfig to read the contexts from (default: --kubeconfig, else $KUBECONFIG, else ~/.kube/config)")
    .option("--output-path <path>", "where to write the config file (default: --config)")
    .action(async (opts: { kubeconfigPath?: string; outputPath?: string }, cmd: Command) => {
      const g = cmd.optsWithGlobals() as { kubeconfig?: string };
      const { configCreate } = await import("./config-create.ts");
      await configCreate({ kubeconfigPath: opts.kubeconfigPath ?? g.kubeconfig, outputPath: opts.outputPath ?? configPath(cmd) }, out);
    });
  entryCommands(config, "add", "Add an entry to the config file", ["context", "namespace"], out);
  entryCommands(config, "edit", "Change an entry of the config file", [], out);
  entryCommands(config, "delete", "Remove an entry from the config file", [], out);
  config
    .command("list [component]")
    .description("List the entries of the config file (all, or only principal or agent)")
    .action(async (kind: string | undefined, _opts: unknown, cmd: Command) => {
      const path = configPath(cmd);
      out((await import("./config-entries.ts")).listEntries(path, kind));
    });
}
