// Every upstream parameter (shared spec §1.1/§1.2, extracted to the fixture by
// scripts/extract-upstream-settings.mjs) exists in our tables with the same
// flag, short flag, env var, ConfigMap key, compatible type and default.
// Deliberate differences are listed here with their reason, and documented in the README.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { AGENT_SETTINGS } from "../../src/settings/agent-settings.ts";
import { parseSettingValue } from "../../src/settings/parse-values.ts";
import type { SettingDef } from "../../src/settings/types.ts";

interface UpstreamRow {
  flag: string;
  short: string | null;
  env: string | null;
  configMapKey: string | null;
  type: string;
  default: string;
}
const fixture = JSON.parse(readFileSync(new URL("../fixtures/upstream-settings.json", import.meta.url), "utf8")) as {
  principal: UpstreamRow[];
  agent: UpstreamRow[];
  envOnly: { env: string; default: string }[];
};

/** Deliberate differences from upstream, each with the reason users care about. */
export const DEVIATIONS: Record<string, Record<string, Partial<UpstreamRow> & { why: string }>> = {
  principal: {},
  agent: {
    "heartbeat-interval": { configMapKey: "agent.heartbeat.interval", why: "wired like Helm's key so mesh overlays can set heartbeats from the ConfigMap" },
  },
};

const TYPE_MAP: Record<string, string[]> = {
  str: ["string", "enum", "regex"],
  "str (regex)": ["regex"],
  path: ["path"],
  int: ["int", "port"],
  "int (bytes)": ["int"],
  bool: ["bool"],
  dur: ["duration"],
  list: ["list", "loglevels"],
  "list `k=v`": ["kvlist"],
};

function checkComponent(name: "principal" | "agent", table: readonly SettingDef[]) {
  const rows = fixture[name];
  test(`${name}: the spec lists ${name === "principal" ? 67 : 50} parameters`, () => {
    assert.equal(rows.length, name === "principal" ? 67 : 50);
  });
  for (const row of rows) {
    test(`${name} --${row.flag} matches upstream`, () => {
      const def = table.find((d) => d.name === row.flag);
      assert.ok(def, `--${row.flag} is missing from the ${name} settings table`);
      const expected = { ...row, ...DEVIATIONS[name][row.flag] };
      assert.equal(def.flag, true);
      assert.equal(def.short ?? null, expected.short, "short flag");
      assert.equal(def.env ?? null, expected.env, "env var");
      assert.equal(def.configMapKey ?? null, expected.configMapKey, "ConfigMap key");
      assert.ok(TYPE_MAP[row.type]?.includes(def.type), `type ${def.type} is not compatible with upstream ${row.type}`);
      // Compare parsed values, so "0" and "0s" or "" and [] are the same default.
      assert.deepEqual(parseSettingValue(def, def.default, []), parseSettingValue(def, expected.default!, []), "default");
    });
  }
  test(`${name}: every setting beyond upstream's is an env-only knob or a marked extension`, () => {
    const upstream = new Set(rows.map((r) => r.flag));
    const extra = table.filter((d) => !upstream.has(d.name));
    for (const d of extra) {
      const envOnly = fixture.envOnly.find((e) => e.env === d.env);
      assert.ok(envOnly || d.extension, `--${d.name} is neither upstream's nor marked as an extension`);
      if (envOnly) {
        assert.equal(d.flag, false);
        assert.equal(d.default, envOnly.default);
      }
    }
    assert.equal(extra.filter((d) => !d.flag).length, 4, "the four env-only knobs");
  });
  test(`${name}: names, env vars and ConfigMap keys are unique`, () => {
    for (const key of ["name", "env", "configMapKey"] as const) {
      const values = table.map((d) => d[key]).filter((v) => v !== undefined);
      assert.equal(new Set(values).size, values.length, `duplicate ${key}`);
    }
  });
}

checkComponent("principal", PRINCIPAL_SETTINGS);
checkComponent("agent", AGENT_SETTINGS);
