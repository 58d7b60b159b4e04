/**
 * The `ctl agent` command tree (operations.md §1.2; alias `agents`): flags,
 * help and flag checks only; the work is in agent-create.ts, agent-inspect.ts
 * (list, inspect, print-tls) and agent-reconfigure.ts (reconfigure, delete),
 * each loaded with the kube layer only when its command runs.
 *
 * @example
 *   registerAgentCommands(ctl, out);   // adds `agent create|list|inspect|print-tls|reconfigure|delete`
 */
import { Option, type Command } from "commander";
import type { TlsAsset } from "./cluster-secret.ts";
import { ctlContext, list, positiveInt, withKube } from "./ctl-context.ts";
import { addKeyGenOptions, keyFlags } from "./key-flags.ts";
import { OUTPUT_FORMATS, type OutputFormat } from "./text-table.ts";

export function registerAgentCommands(ctl: Command, out: (s: string) => void): void {
  const agent = ctl.command("agent").alias("agents").description("Agents as Argo CD clusters");
  const create = agent
    .command("create <name>")
    .description("Create the Argo CD cluster Secret cluster-<name> that reaches the agent through the resource proxy")
    .option("--resource-proxy-server <host:port>", "resource proxy address as Argo CD's server reaches it", "argocd-agent-resource-proxy:9090")
    .option("-l, --label <k=v>", "extra label (repeatable)", (v: string, acc: string[]) => [...acc, ...v.split(",")], [] as string[])
    .option("--tls-from-secret <[ns/]name>", "use the client certificate of this kubernetes.io/tls Secret instead of issuing one")
    .option("--ca-from-secret <[ns/]name>", "CA bundle (ca.crt) for --tls-from-secret")
    .option("--days <n>", "validity of the issued client certificate in days", "180");
  addKeyGenOptions(create)
    .action(async (name: string, opts: { resourceProxyServer: string; label: string[]; tlsFromSecret?: string; caFromSecret?: string; days: string }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const flags = {
        ...opts, labels: opts.label, days: positiveInt(opts.days, "--days"),
        key: keyFlags(cmd, !opts.tlsFromSecret && !opts.caFromSecret, "are not used with --tls-from-secret/--ca-from-secret"),
      };
      await (await withKube(import("./agent-create.ts"))).agentCreate(ctx, name, flags);
    });
  agent
    .command("list")
    .description("List agents (Secrets in the principal namespace labelled with an agent name)")
    .option("-l, --label <selector>", "only agents whose Secret matches this label selector (repeatable)", (v: string, acc: string[]) => [...acc, ...list(v)], [] as string[])
    .action(async (opts: { label: string[] }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await withKube(import("./agent-inspect.ts"))).agentList(ctx, opts.label);
    });
  agent
    .command("inspect <name>")
    .alias("show")
    .description("Show an agent's server address and client certificate")
    .addOption(new Option("-o, --output <format>", "output format").choices(OUTPUT_FORMATS).default("json"))
    .action(async (name: string, opts: { output: OutputFormat }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await withKube(import("./agent-inspect.ts"))).agentInspect(ctx, name, opts.output);
    });
  agent
    .command("print-tls <name>")
    .alias("dump-tls")
    .description("Print the agent's client certificate, key or CA (PEM) from its cluster Secret")
    .addOption(new Option("-t, --type <asset>", "what to print").choices(["cert", "key", "ca"]).default("cert"))
    .action(async (name: string, opts: { type: TlsAsset }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await withKube(import("./agent-inspect.ts"))).agentPrintTls(ctx, name, opts.type);
    });
  const reconfigure = agent
    .command("reconfigure <name>")
    .description("Change an agent's cluster Secret: resource proxy address, credentials, client certificate")
    .option("--resource-proxy-server <host:port|url>", "new resource proxy address (stored as https://<host:port>?agentName=<name>) or full https:// server URL")
    .option("--resource-proxy-username <user>", "username for the resource proxy")
    .option("--resource-proxy-password <password>", "password for the resource proxy")
    .option("--reissue-client-cert", "issue a new client certificate from the CA in argocd-agent-ca", false)
    .option("--days <n>", "validity of the reissued client certificate in days (default 180; only with --reissue-client-cert)");
  addKeyGenOptions(reconfigure)
    .action(async (name: string, opts: ReconfigureFlags, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const flags = {
        ...opts, days: opts.days === undefined ? undefined : positiveInt(opts.days, "--days"),
        key: keyFlags(cmd, opts.reissueClientCert, "are only used with --reissue-client-cert"),
      };
      await (await withKube(import("./agent-reconfigure.ts"))).agentReconfigure(ctx, name, flags);
    });
  agent
    .command("delete <name>")
    .description("Delete the agent's cluster Secret cluster-<name> (asks first unless --force)")
    .option("-f, --force", "do not ask", false)
    .action(async (name: string, opts: { force: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await withKube(import("./agent-reconfigure.ts"))).agentDelete(ctx, name, opts);
    });
}

interface ReconfigureFlags {
  resourceProxyServer?: string;
  resourceProxyUsername?: string;
  resourceProxyPassword?: string;
  reissueClientCert: boolean;
  days?: string;
}

