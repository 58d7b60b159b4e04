#!/usr/bin/env node
/**
 * Replication under faults (issue 13), against real API servers with the
 * principal and an autonomous agent in this process (test/e2e/fault-scenarios.ts):
 *
 *   1. control-plane API outage of --outage seconds while --outage-apps apps
 *      change on the agent: mirrors lost (still stale --wait s after
 *      recovery) and seconds from recovery until converged;
 *   2. restart storm: --apps apps, principal and agent restarted with 5 %
 *      changed, 2.5 % deleted and 2.5 % new while down plus 5 % changed during
 *      the start: request-updates per object, re-sends, seconds to converge,
 *      RSS of this process (principal + agent + client).
 *
 * Prints figures, never passes or fails on them; writes bench/results/faults-replication.json.
 * Usage: node bench/faults-replication.ts [--apps 2000] [--outage 30] [--outage-apps 14] [--wait 60]
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { configureLogging } from "../src/observability/log.ts";
import { apiOutage, restartStorm } from "../test/e2e/fault-scenarios.ts";
import { AUTO, startHarness } from "../test/e2e/replication-harness.ts";
import { ROOT } from "../test/support/processes.ts";

const { values: args } = parseArgs({
  options: {
    apps: { type: "string", default: "2000" },
    outage: { type: "string", default: "30" },
    "outage-apps": { type: "string", default: "14" },
    wait: { type: "string", default: "60" },
  },
});
configureLogging({ defaultLevel: "warning" });
const h = await startHarness({ agents: { [AUTO]: { cluster: AUTO, mode: "autonomous" } } });
try {
  const outage = await apiOutage(h, { apps: Number(args["outage-apps"]), outageMs: Number(args.outage) * 1000, waitMs: Number(args.wait) * 1000 });
  const storm = await restartStorm(h, { apps: Number(args.apps), waitMs: 600_000 });
  const figures = {
    outage: { seconds: Number(args.outage), apps: Number(args["outage-apps"]), lost: outage.lost, convergedAfterRecoveryS: outage.convergedAfterMs / 1000 },
    storm: { ...storm, requestUpdatesPerObject: Number((storm.requestUpdates / storm.objects).toFixed(3)), convergedAfterS: storm.convergedAfterMs / 1000 },
  };
  process.stdout.write(
    [
      "| scenario | figure |",
      "|---|---|",
      `| API outage ${args.outage} s, ${args["outage-apps"]} apps changed | lost ${outage.lost}, converged ${(outage.convergedAfterMs / 1000).toFixed(1)} s after recovery |`,
      `| restart storm, ${storm.objects} objects | ${figures.storm.requestUpdatesPerObject} request-updates per object (${storm.requestUpdates}), ${storm.resent} re-sends, ${storm.resyncRuns} resync runs, converged ${(storm.convergedAfterMs / 1000).toFixed(1)} s after start, RSS ${storm.rssMiB} MiB |`,
    ].join("\n") + "\n",
  );
  mkdirSync(join(ROOT, "bench/results"), { recursive: true });
  writeFileSync(join(ROOT, "bench/results/faults-replication.json"), JSON.stringify(figures, null, 2) + "\n");
} finally {
  await h.stop();
}
