/**
 * The `ctl pki` command tree (operations.md §1.2): flags and help only; the
 * work is in pki.ts and its siblings.
 *
 * @example
 *   registerPkiCommands(ctl, out);   // adds `pki init`, `pki issue …`
 */
import type { Command } from "commander";
import { ctlContext, list, positiveInt } from "./ctl-context.ts";
import { pkiInit, pkiIssueResourceProxy } from "./pki.ts";

export function registerPkiCommands(ctl: Command, out: (s: string) => void): void {
  const pki = ctl.command("pki").description("The agent PKI in the principal namespace");
  pki
    .command("init")
    .description("Create the CA Secret argocd-agent-ca")
    .option("-f, --force", "replace an existing CA", false)
    .option("--days <n>", "validity in days", "3650")
    .action(async (opts: { force: boolean; days: string }, cmd: Command) => pkiInit(ctlContext(cmd, out), { force: opts.force, days: positiveInt(opts.days, "--days") }));
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
      pkiIssueResourceProxy(ctlContext(cmd, out), { ips: list(opts.ip), dns: list(opts.dns), noSan: !opts.san, upsert: opts.upsert, days: positiveInt(opts.days, "--days") }));
}
