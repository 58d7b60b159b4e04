/**
 * `argocd-agent ctl` (also `argocd-agentctl`): the operator CLI, as upstream's
 * argocd-agentctl (operations.md §1). This first part covers what wiring Argo
 * CD to the resource proxy needs: `pki init` (the CA Secret), `pki issue
 * resource-proxy` (the proxy's server certificate Secret) and `agent create`
 * (the Argo CD cluster Secret with a client certificate for one agent). It
 * talks to the control-plane cluster only through the kube layer.
 *
 * @example
 *   argocd-agent ctl --principal-context hub pki init
 *   argocd-agent ctl --principal-context hub pki issue resource-proxy --dns argocd-agent-resource-proxy
 *   argocd-agent ctl --principal-context hub agent create prod-1 --resource-proxy-server argocd-agent-resource-proxy:9090
 */
import { Command, Option } from "commander";
import { createKubeClient, type KubeClient } from "../kube/client.ts";
import { agentCreate } from "./agent-create.ts";
import { pkiInit, pkiIssueResourceProxy } from "./pki.ts";

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
  kubeconfig?: string;
}

export interface CtlContext {
  globals: CtlGlobals;
  kube(): KubeClient;
  out(s: string): void;
}

function context(cmd: Command, out: (s: string) => void): CtlContext {
  const globals = cmd.optsWithGlobals() as CtlGlobals;
  let kube: KubeClient | undefined;
  return {
    globals,
    out,
    kube() {
      if (!kube) {
        try {
          kube = createKubeClient({ kubeconfig: globals.kubeconfig || undefined, context: globals.principalContext || undefined });
        } catch (err) {
          throw new CtlError(`cannot load Kubernetes configuration (--kubeconfig/--principal-context): ${(err as Error).message}`);
        }
      }
      return kube;
    },
  };
}

export function ctlCommand(out: (s: string) => void): Command {
  const ctl = new Command("ctl")
    .description("Operator CLI (also installed as argocd-agentctl): PKI and agent cluster secrets on the control plane")
    .addOption(new Option("--principal-context <context>", "kubeconfig context of the control-plane cluster").env("ARGOCD_AGENT_PRINCIPAL_CONTEXT").default(""))
    .addOption(new Option("--principal-namespace <ns>", "namespace of the principal").env("ARGOCD_AGENT_PRINCIPAL_NAMESPACE").default("argocd"))
    .addOption(new Option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"));

  const pki = ctl.command("pki").description("The agent PKI in the principal namespace");
  pki
    .command("init")
    .description("Create the CA Secret argocd-agent-ca")
    .option("-f, --force", "replace an existing CA", false)
    .option("--days <n>", "validity in days", "3650")
    .action(async (opts: { force: boolean; days: string }, cmd: Command) => pkiInit(context(cmd, out), { force: opts.force, days: positiveInt(opts.days, "--days") }));
  const issue = pki.command("issue").alias("new-cert").description("Issue certificates signed by the CA");
  issue
    .command("resource-proxy")
    .description("Issue the resource proxy's server certificate into Secret argocd-agent-resource-proxy-tls")
    .option("--ip <ips>", "IP SANs (comma-separated)", "")
    .option("--dns <names>", "DNS SANs (comma-separated)", "")
    .option("--no-san", "issue without any SAN")
    .option("-u, --upsert", "replace an existing certificate", false)
    .option("--days <n>", "validity in days", "180")
    .action(async (opts: { ip: string; dns: string; san: boolean; upsert: boolean; days: string }, cmd: Command) =>
      pkiIssueResourceProxy(context(cmd, out), { ips: list(opts.ip), dns: list(opts.dns), noSan: !opts.san, upsert: opts.upsert, days: positiveInt(opts.days, "--days") }));

  const agent = ctl.command("agent").description("Agents as Argo CD clusters");
  agent
    .command("create <name>")
    .description("Create the Argo CD cluster Secret cluster-<name> that reaches the agent through the resource proxy")
    .option("--resource-proxy-server <host:port>", "resource proxy address as Argo CD's server reaches it", "argocd-agent-resource-proxy:9090")
    .option("-l, --label <k=v>", "extra label (repeatable)", (v: string, acc: string[]) => [...acc, ...v.split(",")], [] as string[])
    .option("--tls-from-secret <[ns/]name>", "use the client certificate of this kubernetes.io/tls Secret instead of issuing one")
    .option("--ca-from-secret <[ns/]name>", "CA bundle (ca.crt) for --tls-from-secret")
    .option("--days <n>", "validity of the issued client certificate in days", "180")
    .action(async (name: string, opts: { resourceProxyServer: string; label: string[]; tlsFromSecret?: string; caFromSecret?: string; days: string }, cmd: Command) =>
      agentCreate(context(cmd, out), name, { ...opts, labels: opts.label, days: positiveInt(opts.days, "--days") }));
  return ctl;
}

const list = (s: string) => s.split(",").map((x) => x.trim()).filter(Boolean);

function positiveInt(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new CtlError(`${flag} must be a positive integer, got "${v}"`, 2);
  return n;
}
