/**
 * The `ctl agent` command tree (operations.md §1.2): flags and help only; the
 * work is in agent-create.ts and its siblings.
 *
 * @example
 *   registerAgentCommands(ctl, out);   // adds `agent create …`
 */
import type { Command } from "commander";
import { agentCreate } from "./agent-create.ts";
import { ctlContext, positiveInt } from "./ctl-context.ts";

export function registerAgentCommands(ctl: Command, out: (s: string) => void): void {
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
      agentCreate(ctlContext(cmd, out), name, { ...opts, labels: opts.label, days: positiveInt(opts.days, "--days") }));
}
