/**
 * Output shapes shared by `ctl` commands, as upstream's argocd-agentctl prints
 * them (operations.md §1.5): a tab-aligned table (Go tabwriter, padding 2: every
 * cell but the last of a line is padded to its column's widest cell plus two
 * spaces) and the `-o json|yaml|text` rendering of one record (JSON indented
 * with one space, YAML with four, text as `<label>:<tab><value>` rows).
 *
 * @example
 *   out(tabTable([["NAME", "CONTEXT"], ["hub", "kind-hub"]]));
 *   out(renderRecord({ server: "https://…", name: "a" }, { server: "Server address", name: "Server name" }, "text"));
 */
import { stringify as toYaml } from "yaml";

export const OUTPUT_FORMATS = ["json", "yaml", "text"] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Rows of cells → lines, columns aligned; no trailing newline. */
export function tabTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const row of rows) {
    row.slice(0, -1).forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  }
  return rows.map((row) => row.map((cell, i) => (i < row.length - 1 ? cell.padEnd(widths[i]! + 2) : cell)).join("")).join("\n");
}

/**
 * One record in the chosen format. `labels` maps each key to its text label
 * and also fixes the text rows' order; `text` values may differ from the JSON
 * ones (Go prints times differently in `%v` than in JSON).
 */
export function renderRecord(record: Record<string, unknown>, labels: Record<string, string>, format: OutputFormat, text: Record<string, string> = {}): string {
  switch (format) {
    case "json":
      return JSON.stringify(record, null, " ");
    case "yaml":
      return toYaml(record, { indent: 4 }).replace(/\n$/, "");
    case "text":
      return tabTable(Object.entries(labels).map(([k, label]) => [`${label}:`, text[k] ?? String(record[k] ?? "")]));
  }
}

const pad = (n: number) => String(n).padStart(2, "0");

/** A UTC time as Go's `%v` prints it: `2006-01-02 15:04:05 +0000 UTC`. */
export function goTimeText(d: Date): string {
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())} +0000 UTC`;
}

/** A time as Go's JSON encoder writes it (RFC 3339, fractional seconds only when non-zero). */
export function goTimeJson(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, "Z");
}
