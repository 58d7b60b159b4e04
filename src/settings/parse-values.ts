/**
 * Value parsers for settings. Each returns the parsed value or throws a
 * RangeError whose message says what is accepted; the caller adds which flag
 * or environment variable held the value.
 */
import { LOG_SUBSYSTEMS, parseLogLevel, type LogLevel } from "../observability/log.ts";
import type { LogLevels, SettingDef } from "./types.ts";

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Go strconv.ParseBool semantics. */
export function parseBool(raw: string): boolean {
  if (TRUE.has(raw)) return true;
  if (FALSE.has(raw)) return false;
  throw new RangeError("expected a boolean: true or false (also 1/0, t/f)");
}

/** A decimal integer (also 0x… hex), without the octal surprise of Go's base-0 parsing. */
export function parseInteger(raw: string): number {
  const s = raw.trim();
  let n: number;
  if (/^[+-]?\d+$/.test(s)) n = Number(s);
  else if (/^0x[0-9a-f]+$/i.test(s)) n = Number.parseInt(s.slice(2), 16);
  else throw new RangeError("expected an integer");
  if (!Number.isSafeInteger(n)) throw new RangeError("integer out of range");
  return n;
}

const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  "µs": 1e-3,
  "μs": 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Go time.ParseDuration semantics ("30s", "1m30s", "1.5h", "0"); returns milliseconds. */
export function parseDuration(raw: string): number {
  const s = raw.trim();
  const bad = () => new RangeError('expected a duration such as "30s", "5m", "1h30m" or "0" (units ns, us, ms, s, m, h)');
  if (s === "0" || s === "+0" || s === "-0") return 0;
  // µ and μ (micro sign, Greek mu) escaped: one non-ASCII character in a regex makes V8 hold
  // the whole bundle's source as a two-byte string (+3.9 MB resident, issue #19).
  const m = /^([+-]?)((?:\d*\.?\d*(?:ns|us|\u00b5s|\u03bcs|ms|s|m|h))+)$/.exec(s);
  if (!m) throw bad();
  let total = 0;
  const part = /(\d*\.?\d*)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/g;
  for (const p of m[2].matchAll(part)) {
    if (p[1] === "" || p[1] === ".") throw bad();
    total += Number(p[1]) * UNIT_MS[p[2]];
  }
  if (m[1] === "-") throw new RangeError("a negative duration is not allowed");
  return total;
}

/** Formats milliseconds back into Go's duration notation (for --help and docs). */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [["h", 3_600_000], ["m", 60_000]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  if (rest > 0) parts.push(rest % 1000 === 0 ? `${rest / 1000}s` : `${rest}ms`);
  return parts.join("");
}

/** Env lists: split on "," and trim each item; an empty string is an empty list. */
export function splitEnvList(raw: string): string[] {
  if (raw.trim() === "") return [];
  return raw.split(",").map((s) => s.trim());
}

/** Flag lists: CSV with optional double quotes; items are not trimmed. */
export function splitCsv(raw: string): string[] {
  if (raw === "") return [];
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (quoted) {
      if (c === '"' && raw[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"' && cur === "") quoted = true;
    else if (c === ",") {
      out.push(cur);
      cur = "";
    } else cur += c;
  }
  if (quoted) throw new RangeError("unterminated quote in list");
  out.push(cur);
  return out;
}

export function parseKvList(items: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new RangeError(`expected key=value items, got "${item}"`);
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

/** `[subsystem=]level` items; a bare level sets the default for everything not named. */
export function parseLogLevels(items: string[], components: readonly string[]): LogLevels {
  const result: LogLevels = { defaultLevel: "info", levels: {} };
  const known = new Set<string>([...LOG_SUBSYSTEMS, ...components]);
  const levelErr = (v: string) =>
    new RangeError(`unknown log level "${v}": use trace, debug, info, warning (or warn), error or fatal`);
  for (const item of items) {
    if (item.trim() === "") continue;
    const eq = item.indexOf("=");
    if (eq < 0) {
      const lvl = parseLogLevel(item);
      if (!lvl) throw levelErr(item);
      result.defaultLevel = lvl;
      continue;
    }
    const name = item.slice(0, eq).trim();
    const lvl: LogLevel | undefined = parseLogLevel(item.slice(eq + 1));
    if (!known.has(name)) throw new RangeError(`unknown log component "${name}": use one of ${[...known].join(", ")}`);
    if (!lvl) throw levelErr(item.slice(eq + 1));
    result.levels[name] = lvl;
  }
  return result;
}

export function compileRegex(raw: string): RegExp | undefined {
  if (raw === "") return undefined;
  try {
    return new RegExp(raw);
  } catch (err) {
    throw new RangeError(`invalid regular expression: ${(err as Error).message}`);
  }
}

/** Parses one value of a setting from its string form. `fromFlag` selects CSV list rules. */
export function parseSettingValue(def: SettingDef, raw: string, logComponents: readonly string[], items?: string[]): unknown {
  switch (def.type) {
    case "string":
    case "path":
      return raw;
    case "bool":
      return parseBool(raw.trim());
    case "int": {
      const n = parseInteger(raw);
      if (n === 0 && def.zero) return 0;
      if (def.min !== undefined && n < def.min) throw new RangeError(`expected an integer >= ${def.min}`);
      return n;
    }
    case "port": {
      const portErr = `expected a port number 1-65535${def.zero ? ` (or 0: ${def.zero})` : ""}`;
      let n: number;
      try {
        n = parseInteger(raw);
      } catch {
        throw new RangeError(portErr);
      }
      if (n === 0 && def.zero) return 0;
      if (n < 1 || n > 65535) throw new RangeError(portErr);
      return n;
    }
    case "duration":
      return parseDuration(raw);
    case "enum": {
      const v = raw.trim();
      if (!def.choices?.includes(v)) throw new RangeError(`expected one of: ${def.choices?.map((c) => c || '""').join(", ")}`);
      return v;
    }
    case "regex":
      return compileRegex(raw);
    case "list":
      return items ?? splitEnvList(raw);
    case "kvlist":
      return parseKvList(items ?? splitEnvList(raw));
    case "loglevels":
      return parseLogLevels(items ?? splitEnvList(raw), logComponents);
  }
}
