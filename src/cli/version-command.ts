/** `argocd-agent version [-s] [-o text|json|yaml]`, as upstream's version command. */
import { Command, Option } from "commander";
import { stringify } from "yaml";
import { versionInfo } from "../version.ts";

export function versionCommand(out: (s: string) => void): Command {
  return new Command("version")
    .description("Print version information")
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
      else out(`${info.name} ${info.version} (git ${info.gitRevision}, built ${info.buildDate}, ${info.runtime}, ${info.platform})`);
    });
}
