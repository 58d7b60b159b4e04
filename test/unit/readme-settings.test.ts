// The README's configuration reference is generated from the settings tables
// (node scripts/update-readme-settings.ts); this fails when someone forgot to regenerate it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { renderSettingsSection } from "../../scripts/update-readme-settings.ts";

test("README settings reference matches the settings tables", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  assert.equal(readme, renderSettingsSection(readme), "run: node scripts/update-readme-settings.ts");
});
