/**
 * The ctl config file (operations.md §1.1): symbolic names for principals and
 * agents (`kube-context` + `namespace`) and a default principal, in YAML at
 * `$HOME/.config/argocd-agent/ctl.conf` (file mode 0600), as upstream's
 * argocd-agentctl reads and writes it. `resolveTargets` turns the global flags
 * plus this file into the clusters a command talks to.
 *
 * @example
 *   const cfg = readConfigFile("/home/me/.config/argocd-agent/ctl.conf");   // empty when missing
 *   cfg.principals.hub = { context: "kind-hub", namespace: "argocd" };
 *   writeConfigFile("/home/me/.config/argocd-agent/ctl.conf", cfg);
 */
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { parse as parseYaml, stringify as toYaml } from "yaml";
import { CtlError } from "./ctl-context.ts";

export interface Target {
  context: string;
  namespace: string;
}

export interface CtlConfig {
  principals: Record<string, Target>;
  agents: Record<string, Target>;
  defaultPrincipal: string;
}

export type ComponentKind = "principal" | "agent";

export const emptyConfig = (): CtlConfig => ({ principals: {}, agents: {}, defaultPrincipal: "" });

export function defaultConfigPath(): string {
  return join(process.env.HOME || homedir(), ".config", "argocd-agent", "ctl.conf");
}

/** The entries of one kind (principals or agents). */
export const entriesOf = (cfg: CtlConfig, kind: ComponentKind) => (kind === "principal" ? cfg.principals : cfg.agents);

function targets(raw: unknown, where: string): Record<string, Target> {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== "object" || Array.isArray(raw)) throw new Error(`${where} is not a mapping`);
  const out: Record<string, Target> = {};
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    const e = (v ?? {}) as Record<string, unknown>;
    out[name] = { context: String(e["kube-context"] ?? ""), namespace: String(e["namespace"] ?? "") };
  }
  return out;
}

/** Parses the file; a missing file is an empty config. Unreadable or non-YAML content throws. */
export function readConfigFile(path: string): CtlConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyConfig();
    throw new CtlError(`reading config file ${path}: ${(err as Error).message}`);
  }
  try {
    const doc = (parseYaml(text) ?? {}) as Record<string, unknown>;
    if (typeof doc !== "object" || Array.isArray(doc)) throw new Error("not a YAML mapping");
    const contexts = (doc.contexts ?? {}) as Record<string, unknown>;
    return {
      principals: targets(contexts.principals, "contexts.principals"),
      agents: targets(contexts.agents, "contexts.agents"),
      defaultPrincipal: String(doc["default-principal"] ?? ""),
    };
  } catch (err) {
    throw new CtlError(`config file ${path} is not valid YAML: ${(err as Error).message}`);
  }
}

/** Upstream's rules: non-empty names, contexts and namespaces; the default principal must exist. */
export function configProblem(cfg: CtlConfig): string | undefined {
  for (const kind of ["agent", "principal"] as const) {
    for (const [name, t] of Object.entries(entriesOf(cfg, kind))) {
      if (!name) return `invalid config: ${kind} name cannot be empty`;
      if (!t.context) return `invalid config: ${kind} ${name} has blank kube-context`;
      if (!t.namespace) return `invalid config: ${kind} ${name} has blank namespace`;
    }
  }
  if (cfg.defaultPrincipal && !Object.hasOwn(cfg.principals, cfg.defaultPrincipal)) {
    return `invalid config: the default principal ${cfg.defaultPrincipal} does not exist in principal contexts`;
  }
  return undefined;
}

const sorted = (m: Record<string, Target>) =>
  Object.fromEntries(Object.keys(m).sort().map((k) => [k, { "kube-context": m[k]!.context, namespace: m[k]!.namespace }]));

/** Validates, then writes YAML (2-space indent) with mode 0600, creating the directory (0744) if needed. */
export function writeConfigFile(path: string, cfg: CtlConfig): void {
  const problem = configProblem(cfg);
  if (problem) throw new CtlError(problem);
  const doc = { contexts: { principals: sorted(cfg.principals), agents: sorted(cfg.agents) }, "default-principal": cfg.defaultPrincipal };
  try {
    mkdirSync(dirname(path), { recursive: true, mode: 0o744 });
    writeFileSync(path, toYaml(doc, { indent: 2 }), { mode: 0o600 });
    chmodSync(path, 0o600);
  } catch (err) {
    throw new CtlError(`writing config file ${path}: ${(err as Error).message}`);
  }
}

/** The global flags that choose clusters, as given (after env defaults). */
export interface TargetFlags {
  principalContext: string;
  principalNamespace: string;
  agentContext: string;
  agentNamespace: string;
  principal?: string;
  agent?: string;
  config?: string;
}

/**
 * Which principal and agent a command addresses. Principal: `--principal-context`
 * (with `--principal-namespace`) → `--principal <name>` → the file's
 * `default-principal` → the kubeconfig's current context in `--principal-namespace`.
 * Agent: `--agent-context` (with `--agent-namespace`) → `--agent <name>` → none.
 * An invalid file is ignored with a warning, as upstream.
 */
export function resolveTargets(flags: TargetFlags, warn: (s: string) => void): { principal: Target; agent: Target } {
  const path = flags.config || defaultConfigPath();
  let cfg = readConfigFile(path);
  const problem = configProblem(cfg);
  if (problem) {
    warn(`config file ${path}: ${problem}, defaulting to using no config`);
    cfg = emptyConfig();
  }
  const pick = (kind: ComponentKind, name: string): Target => {
    const t = Object.hasOwn(entriesOf(cfg, kind), name) ? entriesOf(cfg, kind)[name] : undefined;
    if (!t) throw new CtlError(`--${kind}: ${kind === "principal" ? "Principal" : "Agent"} ${name} does not exist in config file ${path}`, 2);
    return t;
  };
  let principal: Target;
  if (flags.principalContext) principal = { context: flags.principalContext, namespace: flags.principalNamespace };
  else if (flags.principal) principal = pick("principal", flags.principal);
  else if (cfg.defaultPrincipal) principal = pick("principal", cfg.defaultPrincipal);
  else principal = { context: "", namespace: flags.principalNamespace };
  let agent: Target;
  if (flags.agentContext) agent = { context: flags.agentContext, namespace: flags.agentNamespace };
  else if (flags.agent) agent = pick("agent", flags.agent);
  else agent = { context: "", namespace: flags.agentNamespace };
  return { principal, agent };
}
