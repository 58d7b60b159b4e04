#!/usr/bin/env node
// Extracts the upstream parameter tables (§1.1 principal, §1.2 agent) of the
// shared spec into test/fixtures/upstream-settings.json, which the settings
// table test compares our tables against.
// Usage: node scripts/extract-upstream-settings.mjs [path/to/config-and-manifests.md]
import { readFileSync, writeFileSync } from "node:fs";

const specPath = process.argv[2] ?? "../shared/spec/config-and-manifests.md";
const text = readFileSync(specPath, "utf8");

function section(title, next) {
  const start = text.indexOf(title);
  const end = text.indexOf(next, start + title.length);
  if (start < 0 || end < 0) throw new Error(`section ${title} not found in ${specPath}`);
  return text.slice(start, end);
}

const unquote = (s) => s.replace(/`/g, "").trim();

function normaliseDefault(raw) {
  let d = raw.trim();
  if (/^none$/i.test(d) || d.startsWith("`[]`")) return "";
  d = d.replace(/\s*\(.*\)\s*$/, ""); // "`""` (all interfaces)" and "209715200 (200 MiB)"
  d = d.replace(/\s*→.*$/, ""); // "0 → 8405": the code's default is 0
  d = unquote(d);
  return d === '""' ? "" : d;
}

function rows(block, envPrefix, cmPrefix) {
  const out = [];
  for (const line of block.split("\n")) {
    const cells = line.split("|").slice(1, -1).map((c) => c.trim());
    if (cells.length < 7 || !/^\d+$/.test(cells[0])) continue;
    const [, flagCell, envCell, cmCell, type, dflt] = cells;
    const flags = [...flagCell.matchAll(/`-{1,2}([a-z0-9-]+)`/g)].map((m) => m[1]);
    const env = envCell === "—" ? null : envCell.startsWith("**") ? envCell.replace(/\*/g, "") : envPrefix + envCell;
    const cmMatch = /^([a-z0-9.-]+)/.exec(cmCell);
    const configMapKey = cmCell.startsWith("—") || !cmMatch ? null : cmPrefix + cmMatch[1];
    out.push({ flag: flags[0], short: flags[1] ?? null, env, configMapKey, type, default: normaliseDefault(dflt) });
  }
  return out;
}

const principal = rows(section("### 1.1 Principal", "### 1.2 Agent"), "ARGOCD_PRINCIPAL_", "principal.");
const agent = rows(section("### 1.2 Agent", "### 1.3"), "ARGOCD_AGENT_", "agent.");
const envOnly = [
  { env: "ARGOCD_AGENT_KUBE_QPS", default: "100" },
  { env: "ARGOCD_AGENT_KUBE_BURST", default: "300" },
  { env: "ARGOCD_AGENT_RECV_QUEUE_SIZE", default: "1000" },
  { env: "ARGOCD_AGENT_SEND_QUEUE_SIZE", default: "1000" },
];
const fixture = { source: "shared/spec/config-and-manifests.md §0, §1.1, §1.2", principal, agent, envOnly };
writeFileSync("test/fixtures/upstream-settings.json", JSON.stringify(fixture, null, 1) + "\n");
console.log(`principal ${principal.length} rows, agent ${agent.length} rows`);
