/**
 * The `-o json|yaml|text` output of `pki inspect` and `jwt inspect-key`, as
 * upstream's cmdutil.MarshalStruct prints its tagged Go structs
 * (operations.md §1.5): JSON indented with one space (Go's HTML-safe
 * escaping, `omitempty` drops empty lists but never a nested record), YAML
 * as yaml.v2 (two-space indent, list items not indented, `omitempty` also
 * drops all-zero records), text as tab-aligned `<label>:` rows whose nested
 * records print in Go's `%v` form (`{a b [x y]}`). Also RFC 1123 times with a
 * numeric zone, the form both summaries use.
 *
 * @example
 *   const fields = [{ key: "keyType", label: "Key type" }, { key: "keyLength", label: "Key length" }];
 *   out(renderGoRecord({ keyType: "RSA", keyLength: 4096 }, fields, "text"));   // "Key type:    RSA\nKey length:  4096"
 */
import { stringify as toYaml } from "yaml";
import { CtlError } from "./ctl-context.ts";
import { tabTable } from "./text-table.ts";

export const SUMMARY_FORMATS = ["json", "yaml", "text"] as const;
export type SummaryFormat = (typeof SUMMARY_FORMATS)[number];

/** One field of a Go struct: JSON/YAML key, text label, `omitempty`, nested struct fields. */
export interface GoField {
  key: string;
  label: string;
  omitEmpty?: boolean;
  fields?: GoField[];
}

export type GoRecord = { [key: string]: string | number | string[] | GoRecord };

/** Validates `-o` before any work (exit 2 naming the flag). */
export function summaryFormat(v: string): SummaryFormat {
  const f = v.toLowerCase();
  if (!(SUMMARY_FORMATS as readonly string[]).includes(f)) throw new CtlError(`-o/--output "${v}" is not supported; use json, yaml or text`, 2);
  return f as SummaryFormat;
}

const isEmpty = (v: unknown): boolean => v === "" || v === 0 || (Array.isArray(v) && v.length === 0) || v === undefined;

function isZeroRecord(v: GoRecord, fields: GoField[]): boolean {
  return fields.every((f) => (f.fields ? isZeroRecord(v[f.key] as GoRecord, f.fields) : isEmpty(v[f.key])));
}

function jsonShape(v: GoRecord, fields: GoField[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) {
    const x = v[f.key];
    if (f.fields) o[f.key] = jsonShape(x as GoRecord, f.fields);
    else if (!(f.omitEmpty && isEmpty(x))) o[f.key] = x;
  }
  return o;
}

function yamlShape(v: GoRecord, fields: GoField[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of fields) {
    const x = v[f.key];
    if (f.fields) {
      if (!(f.omitEmpty && isZeroRecord(x as GoRecord, f.fields))) o[f.key] = yamlShape(x as GoRecord, f.fields);
    } else if (!(f.omitEmpty && isEmpty(x))) o[f.key] = x;
  }
  return o;
}

/** Go's `%v` of a field value. */
function goText(x: unknown, f: GoField): string {
  if (f.fields) return `{${f.fields.map((g) => goText((x as GoRecord)[g.key], g)).join(" ")}}`;
  if (Array.isArray(x)) return `[${x.join(" ")}]`;
  return String(x ?? "");
}

// encoding/json escapes these even inside strings.
const goJsonEscape = (s: string) => s.replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

/** The record in the format; no trailing newline. */
export function renderGoRecord(v: GoRecord, fields: GoField[], format: SummaryFormat): string {
  switch (format) {
    case "json":
      return goJsonEscape(JSON.stringify(jsonShape(v, fields), null, " "));
    case "yaml":
      return toYaml(yamlShape(v, fields), { indent: 2, indentSeq: false }).replace(/\n$/, "");
    case "text":
      return tabTable(fields.map((f) => [`${f.label}:`, goText(v[f.key], f)]));
  }
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n: number) => String(n).padStart(2, "0");

/**
 * Go's time.RFC1123Z, `Mon, 02 Jan 2006 15:04:05 -0700`. Certificate times
 * are UTC (`+0000`), as Go parses them; `local` uses this machine's zone (Go's
 * metav1.Time, e.g. a Secret's creationTimestamp).
 */
export function rfc1123z(d: Date, zone: "utc" | "local" = "utc"): string {
  const offsetMin = zone === "utc" ? 0 : -d.getTimezoneOffset();
  const t = new Date(d.getTime() + offsetMin * 60_000);
  const sign = offsetMin < 0 ? "-" : "+";
  const abs = Math.abs(offsetMin);
  return `${DAYS[t.getUTCDay()]}, ${two(t.getUTCDate())} ${MONTHS[t.getUTCMonth()]} ${t.getUTCFullYear()} `
    + `${two(t.getUTCHours())}:${two(t.getUTCMinutes())}:${two(t.getUTCSeconds())} ${sign}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
}
