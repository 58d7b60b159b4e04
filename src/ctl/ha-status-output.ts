/**
 * `ctl ha status -o text|json|yaml` (operations.md §4.7), as upstream prints
 * the HAAdmin status: text is a `HA Status` block of `<label>:` rows (values
 * from column 20; `Peer Address` only when set, `Connected Replicas` when
 * active and `Replicating` otherwise, `Last Event: Ns ago` and
 * `Last Sequence` only when non-zero); json is Go's encoding/json of the
 * generated struct (snake_case keys, zero values omitted, two-space indent,
 * 64-bit numbers as JSON numbers); yaml is yaml.v3 of the struct (every
 * field, keys the lower-cased Go field names).
 *
 * @example
 *   out(renderHaStatus(status, "text", Date.now()));
 */
import { stringify as toYaml } from "yaml";
import type { HAStatusResponse } from "../proto/gen/haadmin.ts";
import type { SummaryFormat } from "./pki-output.ts";

/** Proto field, Go JSON name, yaml.v3 name; in the message's field order. */
const FIELDS: [keyof HAStatusResponse, string, string][] = [
  ["state", "state", "state"],
  ["preferredRole", "preferred_role", "preferredrole"],
  ["peerAddress", "peer_address", "peeraddress"],
  ["peerReachable", "peer_reachable", "peerreachable"],
  ["peerState", "peer_state", "peerstate"],
  ["connectedReplicas", "connected_replicas", "connectedreplicas"],
  ["lastEventTimestamp", "last_event_timestamp", "lasteventtimestamp"],
  ["lastSequenceNum", "last_sequence_num", "lastsequencenum"],
  ["connectedAgents", "connected_agents", "connectedagents"],
];
/** 64-bit fields: ts-proto gives them as decimal strings. */
const INT64 = new Set<keyof HAStatusResponse>(["lastEventTimestamp", "lastSequenceNum"]);

// encoding/json escapes these even inside strings.
const goJsonString = (s: string) =>
  JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);

const isZero = (v: unknown) => v === "" || v === 0 || v === false || v === "0";

function goJson(s: HAStatusResponse): string {
  const rows: string[] = [];
  for (const [field, key] of FIELDS) {
    const v = s[field];
    if (isZero(v)) continue;
    const value = typeof v === "string" && !INT64.has(field) ? goJsonString(v) : String(v);
    rows.push(`  ${JSON.stringify(key)}: ${value}`);
  }
  return rows.length ? `{\n${rows.join(",\n")}\n}` : "{}";
}

function goYaml(s: HAStatusResponse): string {
  const o: Record<string, unknown> = {};
  for (const [field, , key] of FIELDS) o[key] = INT64.has(field) ? BigInt(s[field] as string) : s[field];
  return toYaml(o).replace(/\n$/, "");
}

function text(s: HAStatusResponse, nowMs: number): string {
  const row = (label: string, value: string | number | boolean) => `${`${label}:`.padEnd(18)} ${value}`;
  const lines = ["HA Status", "---------", row("State", s.state), row("Preferred Role", s.preferredRole)];
  if (s.peerAddress) lines.push(row("Peer Address", s.peerAddress));
  lines.push(s.state === "active" ? row("Connected Replicas", s.connectedReplicas) : row("Replicating", s.peerReachable));
  lines.push(row("Connected Agents", s.connectedAgents));
  const lastEvent = Number(s.lastEventTimestamp);
  if (lastEvent > 0) lines.push(row("Last Event", `${Math.max(0, Math.floor(nowMs / 1000 - lastEvent))}s ago`));
  if (s.lastSequenceNum !== "0" && s.lastSequenceNum !== "") lines.push(row("Last Sequence", s.lastSequenceNum));
  return lines.join("\n");
}

/** The status in the format; no trailing newline. `nowMs` is the clock for "Ns ago". */
export function renderHaStatus(s: HAStatusResponse, format: SummaryFormat, nowMs: number): string {
  switch (format) {
    case "json":
      return goJson(s);
    case "yaml":
      return goYaml(s);
    case "text":
      return text(s, nowMs);
  }
}
