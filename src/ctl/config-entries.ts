/**
 * The entries of the ctl config file behind `ctl config add|edit|delete
 * principal|agent` and `ctl config list [principal|agent]`
 * (operations.md §1.1–§1.2), on the file named by `--config`. Messages and
 * the table layout follow upstream's argocd-agentctl; unlike upstream, `add`
 * on a missing file starts a new one instead of failing. Each returns the
 * line(s) to print; a failure is a `CtlError`.
 *
 * @example
 *   out(addEntry("/home/me/.config/argocd-agent/ctl.conf", "principal", { name: "hub", context: "kind-hub", namespace: "argocd" }));
 *   out(listEntries(path, "agent"));
 */
import { entriesOf, readConfigFile, writeConfigFile, type ComponentKind } from "./config-file.ts";
import { CtlError } from "./ctl-context.ts";
import { tabTable } from "./text-table.ts";

const KINDS: ComponentKind[] = ["principal", "agent"];
const title = (k: ComponentKind) => (k === "principal" ? "Principal" : "Agent");

export interface EntryFlags {
  name: string;
  context?: string;
  namespace?: string;
  setDefault?: boolean;
}

export function addEntry(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entries = entriesOf(cfg, kind);
  if (Object.hasOwn(entries, o.name)) throw new CtlError(kind === "principal" ? `A principal with the name ${o.name} already exists` : `An agent with the name ${o.name} already exists`);
  entries[o.name] = { context: o.context!, namespace: o.namespace! };
  if (o.setDefault) cfg.defaultPrincipal = o.name;
  writeConfigFile(path, cfg);
  return `New ${kind} ${o.name} added successfully`;
}

export function editEntry(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entry = Object.hasOwn(entriesOf(cfg, kind), o.name) ? entriesOf(cfg, kind)[o.name] : undefined;
  if (!entry) throw new CtlError(`The ${kind} ${o.name} does not exist in the config`);
  if (o.context) entry.context = o.context;
  if (o.namespace) entry.namespace = o.namespace;
  if (o.setDefault) cfg.defaultPrincipal = o.name;
  writeConfigFile(path, cfg);
  return `${title(kind)} ${o.name} updated successfully`;
}

export function removeEntry(path: string, kind: ComponentKind, o: EntryFlags): string {
  const cfg = readConfigFile(path);
  const entries = entriesOf(cfg, kind);
  if (!Object.hasOwn(entries, o.name)) throw new CtlError(`The ${kind} ${o.name} does not exist in the config`);
  if (kind === "principal" && cfg.defaultPrincipal === o.name) throw new CtlError("Cannot delete the default principal");
  delete entries[o.name];
  writeConfigFile(path, cfg);
  return `${title(kind)} ${o.name} deleted successfully`;
}

export function listEntries(path: string, kind?: string): string {
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
