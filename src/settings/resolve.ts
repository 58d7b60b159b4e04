/**
 * Turns a settings table into commander options and resolves the final values
 * with the precedence flag > environment variable > default. Any invalid value
 * is a SettingsError naming the flag or variable, the value and what is accepted.
 */
import { Command, InvalidArgumentError, Option } from "commander";
import { formatDuration, parseDuration, parseSettingValue, splitCsv } from "./parse-values.ts";
import { camelCase, SettingsError, type SettingDef, type SettingValues, type ValueSource } from "./types.ts";

const LIST_TYPES = new Set(["list", "kvlist", "loglevels"]);

function placeholder(def: SettingDef): string {
  switch (def.type) {
    case "port":
      return "port";
    case "int":
      return "int";
    case "duration":
      return "duration";
    case "enum":
      return def.choices!.filter((c) => c !== "").join("|");
    case "list":
    case "kvlist":
    case "loglevels":
      return "list";
    case "regex":
      return "regex";
    case "path":
      return "path";
    default:
      return "string";
  }
}

/** The one-line help of a setting, with its env var, ConfigMap key and default. */
export function describeSetting(def: SettingDef): string {
  const bits = [def.help];
  if (def.zero) bits.push(`(0: ${def.zero})`);
  const meta: string[] = [];
  if (def.env) meta.push(`env: ${def.env}`);
  if (def.configMapKey) meta.push(`cm: ${def.configMapKey}`);
  meta.push(`default: ${def.default === "" ? '""' : def.default}`);
  if (def.unsupported) meta.push("not supported yet");
  return `${bits.join(" ")} [${meta.join("; ")}]`;
}

/** Adds one commander option per flag-bearing setting. Values are kept raw; resolveSettings parses them. */
export function addSettingOptions(cmd: Command, table: readonly SettingDef[]): void {
  for (const def of table) {
    if (!def.flag) continue;
    const long = `--${def.name}`;
    const names = def.short ? `-${def.short}, ${long}` : long;
    if (def.type === "bool") {
      cmd.addOption(new Option(`${names} [bool]`, describeSetting(def)).preset("true"));
    } else if (LIST_TYPES.has(def.type)) {
      const opt = new Option(`${names} <${placeholder(def)}>`, describeSetting(def));
      // Like pflag's StringSlice: CSV with quotes, and repeating the flag appends.
      opt.argParser((value: string, previous: string[] | undefined) => {
        try {
          return [...(previous ?? []), ...splitCsv(value)];
        } catch (err) {
          throw new InvalidArgumentError((err as Error).message);
        }
      });
      cmd.addOption(opt);
    } else {
      cmd.addOption(new Option(`${names} <${placeholder(def)}>`, describeSetting(def)));
    }
  }
}

export interface Resolved<T extends readonly SettingDef[]> {
  values: SettingValues<T>;
  sources: Record<string, ValueSource>;
}

function sourceName(def: SettingDef, source: ValueSource): string {
  if (source === "flag") return `--${def.name}${def.env ? ` (env ${def.env})` : ""}`;
  if (source === "env") return `environment variable ${def.env} (flag --${def.name})`;
  return `the default of --${def.name}`;
}

function sameAsDefault(def: SettingDef, value: unknown, logComponents: readonly string[]): boolean {
  const dflt = parseSettingValue(def, def.default, logComponents);
  return JSON.stringify(value instanceof RegExp ? value.source : value) ===
    JSON.stringify(dflt instanceof RegExp ? dflt.source : dflt);
}

/**
 * Resolves every setting of a table from parsed flags (commander's opts()) and
 * the environment. Empty env values of non-string settings count as unset,
 * because manifests with `optional: true` ConfigMap refs produce them.
 */
export function resolveSettings<T extends readonly SettingDef[]>(
  table: T,
  flagValues: Record<string, unknown>,
  env: NodeJS.ProcessEnv,
  logComponents: readonly string[] = [],
): Resolved<T> {
  const values: Record<string, unknown> = {};
  const sources: Record<string, ValueSource> = {};
  for (const def of table) {
    const key = camelCase(def.name);
    const fromFlag = def.flag ? flagValues[key] : undefined;
    const envRaw = def.env ? env[def.env] : undefined;
    const envSet = envRaw !== undefined && (envRaw !== "" || def.type === "string" || def.type === "path");
    let source: ValueSource;
    let raw: string;
    let items: string[] | undefined;
    if (fromFlag !== undefined) {
      source = "flag";
      if (Array.isArray(fromFlag)) {
        items = fromFlag as string[];
        raw = items.join(",");
      } else raw = String(fromFlag);
    } else if (envSet) {
      source = "env";
      raw = envRaw!;
    } else {
      source = "default";
      raw = def.default;
    }
    let value: unknown;
    try {
      value = parseSettingValue(def, raw, logComponents, items);
    } catch (err) {
      throw new SettingsError(`invalid value "${raw}" for ${sourceName(def, source)}: ${(err as Error).message}`);
    }
    if (def.unsupported && source !== "default" && !sameAsDefault(def, value, logComponents)) {
      throw new SettingsError(
        `--${def.name} is not supported yet (set to "${raw}" by ${sourceName(def, source)}): ${def.unsupported}. ` +
          `Remove it or set it to its default "${def.default}".`,
      );
    }
    values[key] = value;
    sources[key] = source;
  }
  return { values: values as SettingValues<T>, sources };
}

/** Renders a default for docs (durations normalised, empty shown as ""). */
export function displayDefault(def: SettingDef): string {
  if (def.default === "") return '""';
  if (def.type === "duration") return formatDuration(parseDuration(def.default));
  return def.default;
}
