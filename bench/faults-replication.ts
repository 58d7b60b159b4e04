#!/usr/bin/env node
/**
 * Replication under faults (issue 13), against real API servers with the
 * principal and agents in this process (test/e2e/fault-scenarios.ts):
 *
 *   1. API outage of --outage seconds while --outage-apps apps change, of the
 *      control plane (autonomous agent's mirrors) and of a managed agent's API
 *      server: copies lost (still stale --wait s after recovery) and seconds
 *      from recovery until converged; RSS before and after;
 *   2. restart storm, autonomous and managed agent: --apps apps, principal and
 *      agent restarted with 5 % changed, 2.5 % deleted and 2.5 % new while
 *      down plus 5 % changed during the start: request-updates per object,
 *      re-sends, seconds to converge, RSS of this process (principal + agent +
 *      clients).
 *
 * Prints figures, never passes or fails on them; writes bench/results/faults-replication.json.
 * Usage: node bench/faults-replication.ts [--apps 2000] [--outage 30] [--outage-apps 15] [--wait 60]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configureLogging } from "../src/observability/log.ts";
import { apiOutage, restartStorm, type OutageResult, type StormResult } from "../test/e2e/fault-scenarios.ts";
import { AUTO, MANAGED, startHarness } from "../test/e2e/replication-harness.ts";
import { ROOT } from "../test/support/processes.ts";

const { values: args } = parseArgs({
  options: {
    apps: { type: "string", default: "2000" },
    outage: { type: "string", default: "30" },
    "outage-apps": { type: "string", default: "15" },
    wait: { type: "string", default: "60" },
  },
});
configureLogging({ defaultLevel: "warning" });
const mib = () => Math.round(process.memoryUsage().rss / 2 ** 20);
const h = await startHarness();
try {
  const outageOpts = { apps: Number(args["outage-apps"]), outageMs: Number(args.outage) * 1000, waitMs: Number(args.wait) * 1000 };
  const rssBefore = mib();
  const outages = {
    controlPlane: await apiOutage(h, { agent: AUTO, ...outageOpts }),
    managedAgent: await apiOutage(h, { agent: MANAGED, ...outageOpts }),
  };
  const rssAfterOutages = mib();
  const storms = {
    autonomous: await restartStorm(h, { agent: AUTO, apps: Number(args.apps), waitMs: 600_000 }),
    managed: await (async () => {
      await h.stopAgent(AUTO);
      await h.stopPrincipal();
      return restartStorm(h, { agent: MANAGED, apps: Number(args.apps), waitMs: 600_000 });
    })(),
  };
  const perObject = (s: StormResult) => Number((s.requestUpdates / s.objects).toFixed(3));
  const figures = {
    outage: { seconds: Number(args.outage), apps: outageOpts.apps, rssBeforeMiB: rssBefore, rssAfterMiB: rssAfterOutages, ...outages },
    storm: Object.fromEntries(Object.entries(storms).map(([k, s]) => [k, { ...s, requestUpdatesPerObject: perObject(s) }])),
  };
  const outageRow = (what: string, o: OutageResult) =>
    `| API outage ${args.outage} s (${what}), ${outageOpts.apps} apps changed | lost ${o.lost}, converged ${(o.convergedAfterMs / 1000).toFixed(1)} s after recovery |`;
  const stormRow = (what: string, s: StormResult) =>
    `| restart storm (${what}), ${s.objects} objects | ${perObject(s)} request-updates per object (${s.requestUpdates}), ${s.resent} re-sends, ` +
    `${s.resyncRuns} resync run(s), converged ${(s.convergedAfterMs / 1000).toFixed(1)} s after start, RSS ${s.rssMiB} MiB |`;
  process.stdout.write(
    [
      "| scenario | figure |",
      "|---|---|",
      outageRow("control plane", outages.controlPlane),
      outageRow("managed agent's API server", outages.managedAgent),
      `| RSS around the outages (principal + agent + clients) | ${rssBefore} → ${rssAfterOutages} MiB |`,
      stormRow("autonomous agent", storms.autonomous),
      stormRow("managed agent", storms.managed),
    ].join("\n") + "\n",
  );
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/faults-replication.json"), JSON.stringify(figures, null, 2) + "\n");
} finally {
  await h.stop();
}
