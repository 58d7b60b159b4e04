// Regenerates the settings reference in README.md (between the markers) from
// the settings tables. test/unit/readme-settings.test.ts fails when it is stale.
// Usage: node scripts/update-readme-settings.ts
import { readFileSync, writeFileSync } from "node:fs";
import { settingsMarkdown } from "../src/settings/docs.ts";

export function renderSettingsSection(readme: string): string {
  let out = readme;
  for (const component of ["principal", "agent"]) {
    const begin = `<!-- settings:${component}:begin -->`;
    const end = `<!-- settings:${component}:end -->`;
    const i = out.indexOf(begin);
    const j = out.indexOf(end);
    if (i < 0 || j < i) throw new Error(`README.md lacks the ${begin} … ${end} markers`);
    out = out.slice(0, i + begin.length) + "\n" + settingsMarkdown(component) + "\n" + out.slice(j);
  }
  return out;
}

if (import.meta.main) {
  const path = new URL("../README.md", import.meta.url);
  writeFileSync(path, renderSettingsSection(readFileSync(path, "utf8")));
  console.log("README.md settings reference updated");
}
