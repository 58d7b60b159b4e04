/**
 * What every `ctl` command gets: the resolved global flags, lazily built
 * Kubernetes clients for the principal's and the agent's cluster, and where to
 * print. Failures are `CtlError`s: one line on stderr and an exit code (1 as
 * upstream's `[FATAL]`, 2 for a bad flag value, naming the flag). The kube
 * layer (src/kube/client.ts, and with it @kubernetes/client-node) is loaded
 * only by a command that talks to Kubernetes: it awaits `withKube(import(…))`
 * (or `loadKubeLayer()`) before its first `ctx.kube()`, so `ha status -a`,
 * `config …` and help never evaluate it.
 *
 * @example
 *   const ctx = ctlContext(cmd, out);
 *   const { pkiInspect } = await withKube(import("./pki-inspect.ts"));
 *   const secret = await ctx.kube().core.readNamespacedSecret({ name: "argocd-agent-ca", namespace: ctx.globals.principalNamespace });
 *   const agentSide = ctx.agentKube();   // needs --agent-context
 */
import type { Command } from "commander";
import type { TypedKubeClient } from "../kube/typed-apis.ts";
import { resolveTargets } from "./config-file.ts";

/** A failure the CLI reports as one line and exit code (1 as upstream's `[FATAL]`, 2 for bad flag values). */
export class CtlError extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode = 1) {
    super(message);
    this.name = "CtlError";
    this.exitCode = exitCode;
  }
}

export interface CtlGlobals {
  principalContext: string;
  principalNamespace: string;
  agentContext: string;
  agentNamespace: string;
  kubeconfig?: string;
  /** Symbolic names in the config file (config-file.ts), resolved into the four fields above. */
  principal?: string;
  agent?: string;
  config?: string;
}

export interface CtlContext {
  globals: CtlGlobals;
  /** The control-plane (principal) cluster: --principal-context, --principal or the config file's default-principal. */
  kube(): TypedKubeClient;
  /** The workload (agent) cluster: --agent-context or --agent (required). */
  agentKube(): TypedKubeClient;
  out(s: string): void;
}

let kubeLayer: { createKubeClient: typeof import("../kube/client.ts").createKubeClient; withTypedApis: typeof import("../kube/typed-apis.ts").withTypedApis } | undefined;

/** Loads the kube layer (once); a command awaits it before its first ctx.kube()/ctx.agentKube(). */
export async function loadKubeLayer(): Promise<void> {
  if (kubeLayer) return;
  const [{ createKubeClient }, { withTypedApis }] = await Promise.all([import("../kube/client.ts"), import("../kube/typed-apis.ts")]);
  kubeLayer = { createKubeClient, withTypedApis };
}

/** A command's implementation module, loaded together with the kube layer. */
export async function withKube<T>(implementation: Promise<T>): Promise<T> {
  const [loaded] = await Promise.all([implementation, loadKubeLayer()]);
  return loaded;
}

function client(kubeconfig: string | undefined, context: string, flag: string): TypedKubeClient {
  // A programming error, not a user's: the command did not await loadKubeLayer()/withKube().
  if (kubeLayer === undefined) throw new Error("ctl: the kube layer is not loaded (await loadKubeLayer() before ctx.kube())");
  const { createKubeClient, withTypedApis } = kubeLayer;
  try {
    return withTypedApis(createKubeClient({ kubeconfig: kubeconfig || undefined, context: context || undefined }));
  } catch (err) {
    throw new CtlError(`cannot load Kubernetes configuration (--kubeconfig/${flag}): ${(err as Error).message}`);
  }
}

/** The context of one command invocation (commander passes the command as the last action argument). */
export function ctlContext(cmd: Command, out: (s: string) => void): CtlContext {
  const flags = cmd.optsWithGlobals() as CtlGlobals;
  const { principal, agent } = resolveTargets(flags, (s) => process.stderr.write(`argocd-agent ctl: warning: ${s}\n`));
  const globals: CtlGlobals = {
    ...flags,
    principalContext: principal.context, principalNamespace: principal.namespace, agentContext: agent.context, agentNamespace: agent.namespace,
  };
  let kube: TypedKubeClient | undefined;
  let agentKube: TypedKubeClient | undefined;
  return {
    globals,
    out,
    kube: () => (kube ??= client(globals.kubeconfig, globals.principalContext, "--principal-context")),
    agentKube() {
      if (!globals.agentContext) throw new CtlError("this command needs the agent's cluster: give --agent-context or --agent", 2);
      return (agentKube ??= client(globals.kubeconfig, globals.agentContext, "--agent-context"));
    },
  };
}

/** Comma-separated list flag value → trimmed non-empty items. */
export const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

export function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CtlError(`${flag} must be a positive integer, got "${v}"`, 2);
  return n;
}
