/**
 * The `ctl jwt` command tree (operations.md §1.2, §6.3): flags, help and flag
 * checks only; the work is in jwt.ts, loaded with the kube layer only when a
 * `jwt` command runs.
 *
 * @example
 *   registerJwtCommands(ctl, out);   // adds `jwt create-key`, `jwt inspect-key`, `jwt delete-key`
 */
import type { Command } from "commander";
import { ctlContext, withKube } from "./ctl-context.ts";
import { summaryFormat } from "./pki-output.ts";
import { stdinAnswers } from "./stdin-answers.ts";

const jwtModule = () => withKube(import("./jwt.ts"));

export function registerJwtCommands(ctl: Command, out: (s: string) => void): void {
  const jwt = ctl.command("jwt").description("The principal's JWT signing key (Secret argocd-agent-jwt)");
  jwt.command("create-key")
    .description("Generate an RSA-4096 signing key into Secret argocd-agent-jwt (jwt.key, PKCS#8 PEM)")
    .option("-u, --upsert", "replace an existing key (rotation; restart the principal afterwards)", false)
    .action(async (o: { upsert: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await jwtModule()).jwtCreateKey(ctx, { upsert: o.upsert });
    });
  jwt.command("inspect-key")
    .description("Key type, length, creation time and SHA-256 fingerprint of the public key")
    .option("-o, --output <format>", "output format: json, yaml or text", "json")
    .action(async (o: { output: string }, cmd: Command) => {
      const format = summaryFormat(o.output);
      const ctx = ctlContext(cmd, out);
      await (await jwtModule()).jwtInspectKey(ctx, format);
    });
  jwt.command("delete-key")
    .description("Delete Secret argocd-agent-jwt (asks y/N on stdin unless --force)")
    .option("-f, --force", "do not ask", false)
    .action(async (o: { force: boolean }, cmd: Command) => {
      const ctx = ctlContext(cmd, out);
      await (await jwtModule()).jwtDeleteKey(ctx, { force: o.force }, () => stdinAnswers());
    });
}
