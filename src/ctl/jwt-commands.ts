/**
 * The `ctl jwt` command tree (operations.md §1.2, §6.3): flags and help only;
 * the work is in jwt.ts.
 *
 * @example
 *   registerJwtCommands(ctl, out);   // adds `jwt create-key`, `jwt inspect-key`, `jwt delete-key`
 */
import type { Command } from "commander";
import { ctlContext } from "./ctl-context.ts";
import { jwtCreateKey, jwtDeleteKey, jwtInspectKey } from "./jwt.ts";
import { summaryFormat } from "./pki-output.ts";
import { stdinAnswers } from "./stdin-answers.ts";

export function registerJwtCommands(ctl: Command, out: (s: string) => void): void {
  const jwt = ctl.command("jwt").description("The principal's JWT signing key (Secret argocd-agent-jwt)");
  jwt.command("create-key")
    .description("Generate an RSA-4096 signing key into Secret argocd-agent-jwt (jwt.key, PKCS#8 PEM)")
    .option("-u, --upsert", "replace an existing key (rotation; restart the principal afterwards)", false)
    .action(async (o: { upsert: boolean }, cmd: Command) => jwtCreateKey(ctlContext(cmd, out), { upsert: o.upsert }));
  jwt.command("inspect-key")
    .description("Key type, length, creation time and SHA-256 fingerprint of the public key")
    .option("-o, --output <format>", "output format: json, yaml or text", "json")
    .action(async (o: { output: string }, cmd: Command) => {
      const format = summaryFormat(o.output);
      await jwtInspectKey(ctlContext(cmd, out), format);
    });
  jwt.command("delete-key")
    .description("Delete Secret argocd-agent-jwt (asks y/N on stdin unless --force)")
    .option("-f, --force", "do not ask", false)
    .action(async (o: { force: boolean }, cmd: Command) => jwtDeleteKey(ctlContext(cmd, out), { force: o.force }, () => stdinAnswers()));
}
