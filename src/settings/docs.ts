/** Renders a settings table as Markdown for the README and `diagnostics settings`. */
import { AGENT_SETTINGS } from "./agent-settings.ts";
import { PRINCIPAL_SETTINGS } from "./principal-settings.ts";
import { displayDefault } from "./resolve.ts";
import type { SettingDef } from "./types.ts";

export function settingsTable(component: string): readonly SettingDef[] {
  if (component === "principal") return PRINCIPAL_SETTINGS;
  if (component === "agent") return AGENT_SETTINGS;
  throw new RangeError(`unknown component "${component}": use principal or agent`);
}

export function settingsMarkdown(component: string): string {
  const rows = settingsTable(component).map((d) => {
    const flag = d.flag ? `\`--${d.name}\`${d.short ? ` / \`-${d.short}\`` : ""}` : "(env only)";
    const notes = [d.help, d.zero ? `0: ${d.zero}.` : "", d.choices ? `One of ${d.choices.map((c) => `\`${c}\``).join(", ")}.` : ""];
    if (d.unsupported) notes.push(`**Not supported yet** (${d.unsupported}).`);
    if (d.extension) notes.push("*argocd-agent-ts extension.*");
    return `| ${flag} | ${d.env ? `\`${d.env}\`` : "—"} | ${d.configMapKey ? `\`${d.configMapKey}\`` : "—"} | ${d.type} | \`${displayDefault(d)}\` | ${notes.filter(Boolean).join(" ")} |`;
  });
  return ["| Flag | Env var | ConfigMap key | Type | Default | Notes |", "|---|---|---|---|---|---|", ...rows].join("\n");
}
