/**
 * `argocd-agent version [-s] [-o text|json|yaml]`, as upstream's version command: text is
 * `argocd-agent-<version>`, json/yaml carry the git revision, tree state and build date.
 */
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { qualifiedVersion, versionInfo } from "../version.ts";

export function versionCommand(out: (s: string) => void): Command {
  return new Command("version")
    .description("Print the version of argocd-agent")
    .option("-s, --short", "print only the version number")
    .addOption(new Option("-o, --output <format>", "output format").choices(["text", "json", "yaml"]).default("text"))
    .action((opts: { short?: boolean; output: string }) => {
      const info = versionInfo();
      if (opts.short) {
        out(info.version);
        return;
      }
      if (opts.output === "json") out(JSON.stringify(info, null, 2));
      else if (opts.output === "yaml") out(stringify(info).trimEnd());
      else out(qualifiedVersion(info));
    });
}
