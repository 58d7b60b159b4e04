/**
 * The `ctl pki` command tree (operations.md §1.2): flags, help and flag checks
 * only; the work is in pki.ts (init), pki-issue.ts (issue, propagate) and
 * pki-inspect.ts (inspect, dump, delete), each loaded with the kube layer only
 * when its command runs. Flag values are checked before any Kubernetes call
 * (and before loading the crypto and Kubernetes libraries); a bad one exits 2
 * naming the flag.
 *
 * @example
 *   registerPkiCommands(ctl, out);   // adds `pki init`, `pki issue …`, `pki inspect`, …
 */
import type { Command } from "commander";
import { ctlContext, list, positiveInt, withKube } from "./ctl-context.ts";
import { addKeyGenOptions, parseKeyGenFlags } from "./key-flags.ts";
import { summaryFormat } from "./pki-output.ts";
import { stdinAnswers } from "./stdin-answers.ts";

const inspectModule = () => withKube(import("./pki-inspect.ts"));
const issueModule = () => withKube(import("./pki-issue.ts"));

interface KeyFlags {
  keyAlgorithm: string;
  keySize: string;
}

interface LeafFlags extends KeyFlags {
  upsert: boolean;
  days: string;
}

interface ServerFlags extends LeafFlags {
  ip?: string[];
  dns?: string[];
}

/** `--ip`/`--dns`: comma-separated and repeatable, as pflag's StringSlice (a given flag replaces the default). */
const collect = (v: string, acc: string[] | undefined) => [...(acc ?? []), ...list(v)];

const leaf = (o: LeafFlags) => ({ upsert: o.upsert, days: positiveInt(o.days, "--days"), key: parseKeyGenFlags(o.keyAlgorithm, o.keySize) });

function serverFlags(cmd: Command, defaults: { ip: string; dns: string }): Command {
  cmd
    .option("--ip <ips>", `IP addresses the certificate is valid for (comma-separated, repeatable)${defaults.ip ? ` (default: ${defaults.ip})` : ""}`, collect)
    .option("--dns <names>", `DNS names the certificate is valid for (comma-separated, repeatable)${defaults.dns ? ` (default: ${defaults.dns})` : ""}`, collect);
  return leafFlags(cmd);
}

function leafFlags(cmd: Command): Command {
  cmd.option("-u, --upsert", "replace an existing certificate", false).option("--days <n>", "validity in days", "180");
  return addKeyGenOptions(cmd);
}

export function registerPkiCommands(ctl: Command, out: (s: string) => void): void {
  const pki = ctl.command("pki").description("!!NON-PROD!! The agent PKI: a CA in the principal namespace and certificates it signs");

  addKeyGenOptions(
    pki.command("init")
      .description("Create the CA Secret argocd-agent-ca (kubernetes.io/tls)")
      .option("-f, --force", "replace an existing CA", false)
      .option("--days <n>", "validity in days", "3650"),
  ).action(async (o: KeyFlags & { force: boolean; days: string }, cmd: Command) => {
    const ctx = ctlContext(cmd, out);
    const flags = { force: o.force, days: positiveInt(o.days, "--days"), key: parseKeyGenFlags(o.keyAlgorithm, o.keySize) };
    await (await withKube(import("./pki.ts"))).pkiInit(ctx, flags);
  });

  pki.command("inspect")
    .description("Summaries of the CA, principal and resource proxy certificates")
    .option("-o, --output <format>", "output format: json, yaml or text", "json")
    .option("-f, --full", "accepted for compatibility; has no effect", false)
    .action(async (o: { output: string }, cmd: Command) => {
      const format = summaryFormat(o.output);
      const ctx = ctlContext(cmd, out);
      await (await inspectModule()).pkiInspect(ctx, format);
    });

  pki.command("dump")
    .description("Print the CA's certificate and/or private key (PEM) to stdout")
    .option("--cert", "print the certificate", false)
    .option("--key", "print the private key", false)
    .option("--all", "print both", false)
    .action(async (o: { cert: boolean; key: boolean; all: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await inspectModule()).pkiDump(ctx, { cert: o.cert || o.all, key: o.key || o.all });
    });

  pki.command("delete")
    .description("Delete the CA Secret argocd-agent-ca, after an uppercase YES on stdin")
    .action(async (_o: unknown, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await inspectModule()).pkiDelete(ctx, () => stdinAnswers());
    });

  pki.command("propagate")
    .description("Copy the CA certificate to the agent's cluster as Secret argocd-agent-ca (Opaque, ca.crt)")
    .option("-f, --force", "replace an existing agent CA Secret", false)
    .action(async (o: { force: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await issueModule()).pkiPropagate(ctx, { force: o.force });
    });

  const issue = pki.command("issue").alias("new-cert").description("Issue certificates signed by the CA");

  serverFlags(issue.command("principal").description("Issue the principal's gRPC server certificate into Secret argocd-agent-principal-tls"), { ip: "127.0.0.1", dns: "localhost" })
    .action(async (o: ServerFlags, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const flags = { ...leaf(o), ips: o.ip ?? ["127.0.0.1"], dns: o.dns ?? ["localhost"] };
      await (await issueModule()).pkiIssuePrincipal(ctx, flags);
    });

  serverFlags(issue.command("resource-proxy").description("Issue the resource proxy's server certificate into Secret argocd-agent-resource-proxy-tls"), { ip: "", dns: "" })
    .option("--no-san", "issue without any SAN")
    .action(async (o: ServerFlags & { san: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      const flags = { ...leaf(o), ips: o.ip ?? [], dns: o.dns ?? [], noSan: !o.san };
      await (await issueModule()).pkiIssueResourceProxy(ctx, flags);
    });

  leafFlags(
    issue.command("agent <name>")
      .description("Issue an agent's client certificate into Secret argocd-agent-client-tls in the agent's cluster, and copy the CA there")
      .option("--same-context", "the PKI and the agent share one kube context", false)
      .option("--agent-namespace <ns>", "namespace the agent runs in (default: the global --agent-namespace, argocd)"),
  ).action(async (name: string, o: LeafFlags & { sameContext: boolean; agentNamespace?: string }, cmd: Command) => {
    const ctx = ctlContext(cmd, out);
    const flags = { ...leaf(o), sameContext: o.sameContext, agentNamespace: o.agentNamespace };
    await (await issueModule()).pkiIssueAgent(ctx, name, flags);
  });
}
