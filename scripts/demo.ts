// The main job for a new user (`npm run demo`): three local Kubernetes API servers (the hub
// "control-plane", a managed workload cluster, an autonomous one), real Argo CD v3.5.1 on each
// (argocd-server at the hub; repo-server + application-controller on the workload clusters,
// built by scripts/setup-argocd.sh), a local git repository, our principal and two agents over
// mutual TLS, sample Applications, and a live table of what each side sees: Argo CD's own
// sync/health/revision, and what argocd-server at the hub reports. Ctrl-C tears it all down.
// Options: --once (print a few tables and exit, for CI), --seconds N.
// Example: npm run demo -- --once --seconds 40
import { setTimeout as sleep } from "node:timers/promises";
import { applications } from "../src/kube/crud.ts";
import type { Application } from "../src/kube/resources.ts";
import { ARGOCD_NS } from "../test/support/argocd.ts";
import { autonomousApp, HUB, managedApp, startArgoCdEnv, statusOf, type ArgoCdEnv } from "../test/support/argocd-env.ts";

const args = process.argv.slice(2);
const once = args.includes("--once");
const seconds = Number(args[args.indexOf("--seconds") + 1]) || (once ? 40 : Infinity);
const say = (s: string) => process.stdout.write(s + "\n");

const MANAGED = "agent-managed";
const AUTONOMOUS = "agent-autonomous";

let env: ArgoCdEnv | undefined;
let stopping = false;
async function teardown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say("\ntearing down…");
    await env?.stop();
  }
  process.exit(code);
}
process.on("SIGINT", () => void teardown(0));
process.on("SIGTERM", () => void teardown(0));

try {
  env = await startArgoCdEnv({ managed: [MANAGED], autonomous: [AUTONOMOUS], appResyncSeconds: 20, log: say, liveResources: true });
  say(`argocd-server ${await env.api.version()} at ${env.api.url} (user admin)`);
  await createSamples(env);
  say("sample Applications created; press Ctrl-C to stop\n");

  const until = Date.now() + seconds * 1000;
  let syncRequested = false;
  let treeShown = false;
  while (Date.now() < until) {
    await printTable(env);
    // Live resources: argocd-server at the hub reads the agent cluster's resource tree through our redis proxy.
    if (!treeShown) {
      const tree = await env.api.resourceTree("guestbook", MANAGED).catch(() => undefined);
      if (tree?.nodes?.length) {
        treeShown = true;
        say(`argocd-server at the hub shows ${MANAGED}/guestbook's resource tree from the agent's cluster (redis proxy): ${tree.nodes.map((n) => `${n.kind}/${n.name}`).join(", ")}`);
      }
    }
    // "kustomized" has no automated sync: ask argocd-server at the hub once it is known there.
    if (!syncRequested && statusOf(await applications(env.hubKube).get(MANAGED, "kustomized")).sync === "OutOfSync") {
      await env.api.sync("kustomized", MANAGED);
      syncRequested = true;
      say(`requested a sync of ${MANAGED}/kustomized through argocd-server at the hub (as \`argocd app sync\` does)`);
    }
    await sleep(3000);
  }
  await teardown(0);
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  if (env) process.stderr.write(env.logs() + "\n");
  await teardown(1);
}

async function createSamples(e: ArgoCdEnv): Promise<void> {
  // Managed: created at the hub in the agent's namespace, replicated down, synced there.
  await applications(e.hubKube).create(managedApp("guestbook", MANAGED, e.git.url, "guestbook"));
  await applications(e.hubKube).create(managedApp("kustomized", MANAGED, e.git.url, "kustomized", false));
  // Autonomous: created on the workload cluster, synced there, mirrored up.
  await applications(e.kubeOf(AUTONOMOUS)).create(autonomousApp("auto-guestbook", e.git.url, "guestbook"));
}

async function printTable(e: ArgoCdEnv): Promise<void> {
  // An API server answers 429 for a moment after CRDs are installed; show that instead of failing.
  const list = async (cluster: string, ns?: string) =>
    applications(e.kubeOf(cluster))
      .list(ns)
      .then((l) => l.items)
      .catch((err: Error) => {
        say(`(${cluster}: ${err.message.split("\n")[0]})`);
        return [] as Application[];
      });
  const rows: string[][] = [["cluster", "namespace", "application", "sync", "health", "revision", "operation", "argocd-server at hub"]];
  for (const [cluster, ns] of [[HUB, undefined], [MANAGED, ARGOCD_NS], [AUTONOMOUS, ARGOCD_NS]] as const) {
    for (const app of await list(cluster, ns)) {
      const s = statusOf(app);
      let seen = "";
      if (cluster === HUB) {
        const got = await e.api.getApp(app.metadata.name!, app.metadata.namespace!).catch(() => undefined);
        const v = statusOf(got);
        seen = got ? `${v.sync ?? "-"}/${v.health ?? "-"}` : "not visible";
      }
      rows.push([cluster, app.metadata.namespace ?? "", app.metadata.name ?? "", s.sync ?? "-", s.health ?? "-",
        s.revision?.slice(0, 7) ?? "-", s.phase ?? "-", seen]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const agents = await Promise.all([...e.agentHealthPorts].map(async ([a, port]) => {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok).catch(() => false);
    return `${a}: ${ready ? "connected" : "not connected"}`;
  }));
  say(`\n${new Date().toISOString()}  git HEAD ${e.git.head().slice(0, 7)}  ${agents.join("  ")}`);
  for (const r of rows) say(r.map((v, i) => v.padEnd(widths[i])).join("  ").trimEnd());
}
