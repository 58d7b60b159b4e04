/**
 * The `ctl config` command tree (operations.md §1.1–§1.2): `create`
 * (interactive, config-create.ts), `add|edit|delete principal|agent` and
 * `list [principal|agent]` on the file named by `--config`. Names, messages and
 * the table layout follow upstream's argocd-agentctl; unlike upstream, `add`
 * on a missing file starts a new one instead of failing.
 *
 * @example
 *   argocd-agent ctl config add principal --name hub --context kind-hub --namespace argocd --set-default
 *   argocd-agent ctl --principal hub agent list
 */
import type { Command } from "commander";
import { configCreate } from "./config-create.ts";
import { defaultConfigPath, entriesOf, readConfigFile, writeConfigFile, type ComponentKind } from "./config-file.ts";
import { CtlError } from "./ctl-context.ts";
import { tabTable } from "./text-table.ts";

const KINDS: ComponentKind[] = ["principal", "agent"];
const title = (k: ComponentKind) => (k === "principal" ? "Principal" : "Agent");
const configPath = (cmd: Command) => ((cmd.optsWithGlobals() as { config?: string }).config || defaultConfigPath());

interface EntryFlags {
  name: string;
  context?: string;
  namespace?: string;
  setDefault?: boolean;
}

function add(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entries = entriesOf(cfg, kind);
  if (Object.hasOwn(entries, o.name)) throw new CtlError(kind === "principal" ? `A principal with the name ${o.name} already exists` : `An agent with the name ${o.name} already exists`);
  entries[o.name] = { context: o.context!, namespace: o.namespace! };
  if (o.setDefault) cfg.defaultPrincipal = o.name;
  writeConfigFile(path, cfg);
  return `New ${kind} ${o.name} added successfully`;
}

function edit(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entry = Object.hasOwn(entriesOf(cfg, kind), o.name) ? entriesOf(cfg, kind)[o.name] : undefined;
  if (!entry) throw new CtlError(`The ${kind} ${o.name} does not exist in the config`);
  if (o.context) entry.context = o.context;
  if (o.namespace) entry.namespace = o.namespace;
  if (o.setDefault) cfg.defaultPrincipal = o.name;
  writeConfigFile(path, cfg);
  return `${title(kind)} ${o.name} updated successfully`;
}

function remove(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entries = entriesOf(cfg, kind);
  if (!Object.hasOwn(entries, o.name)) throw new CtlError(`The ${kind} ${o.name} does not exist in the config`);
  if (kind === "principal" && cfg.defaultPrincipal === o.name) throw new CtlError("Cannot delete the default principal");
  delete entries[o.name];
  writeConfigFile(path, cfg);
  return `${title(kind)} ${o.name} deleted successfully`;
}

function listing(path: string, kind?: string): string {
  const cfg = readConfigFile(path);
  const rows = (k: ComponentKind) => Object.entries(entriesOf(cfg, k)).sort(([a], [b]) => a.localeCompare(b));
  if (kind === undefined) {
    return tabTable([["COMPONENT", "NAME", "CONTEXT", "NAMESPACE"], ...KINDS.flatMap((k) => rows(k).map(([n, t]) => [k, n, t.context, t.namespace]))]);
  }
  if (kind === "principal") {
    return tabTable([["NAME", "CONTEXT", "NAMESPACE", "DEFAULT"], ...rows("principal").map(([n, t]) => [n, t.context, t.namespace, n === cfg.defaultPrincipal ? "X" : ""])]);
  }
  if (kind === "agent") return tabTable([["NAME", "CONTEXT", "NAMESPACE"], ...rows("agent").map(([n, t]) => [n, t.context, t.namespace])]);
  throw new CtlError(`config list: unknown component "${kind}" (use principal or agent)`, 2);
}

/** `<verb> principal|agent` with the entry flags; `required` lists the flags that must be given. */
function entryCommands(parent: Command, verb: string, help: string, required: (keyof EntryFlags)[], run: typeof add, out: (s: string) => void): void {
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
    c.action((opts: EntryFlags, cmd: Command) => out(run(configPath(cmd), kind, opts)));
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
      await configCreate({ kubeconfigPath: opts.kubeconfigPath ?? g.kubeconfig, outputPath: opts.outputPath ?? configPath(cmd) }, out);
    });
  entryCommands(config, "add", "Add an entry to the config file", ["context", "namespace"], add, out);
  entryCommands(config, "edit", "Change an entry of the config file", [], edit, out);
  entryCommands(config, "delete", "Remove an entry from the config file", [], remove, out);
  config
    .command("list [component]")
    .description("List the entries of the config file (all, or only principal or agent)")
    .action((kind: string | undefined, _opts: unknown, cmd: Command) => out(listing(configPath(cmd), kind)));
}
