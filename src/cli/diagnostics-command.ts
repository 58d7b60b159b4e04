/** `argocd-agent diagnostics …`: checks a mesh operator runs by hand. */
import { Command } from "commander";

export function diagnosticsCommand(out: (s: string) => void): Command {
  const cmd = new Command("diagnostics").description("Troubleshooting helpers for mesh deployments");
  cmd
    .command("settings")
    .description("Print every setting of a component as a table (flag, env var, ConfigMap key, default)")
    .argument("<component>", "principal or agent")
    .action(async (component: string) => {
      const { settingsMarkdown } = await import("../settings/docs.ts");
      out(settingsMarkdown(component));
    });
  return cmd;
}
