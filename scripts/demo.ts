// The main job for a new user (`npm run demo`): three local Kubernetes API
// servers (control plane, a managed workload cluster, an autonomous one), a
// principal and two agents over mutual TLS, sample Applications and an
// AppProject, and a live table of what each side sees. Ctrl-C tears it all down.
// Options: --once (print a few tables and exit, for CI), --seconds N.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { startKubeEnv, type KubeClusterHandle } from "../test/support/kube-env.ts";
import { freePort, start, type Running } from "../test/support/processes.ts";
import { createCa, issueCertificate } from "../src/transport/certificates.ts";
import { createKubeClient } from "../src/kube/client.ts";
import { applications, appProjects, ensureNamespace } from "../src/kube/crud.ts";
import type { Application } from "../src/kube/resources.ts";

const args = process.argv.slice(2);
const once = args.includes("--once");
const seconds = Number(args[args.indexOf("--seconds") + 1]) || (once ? 30 : Infinity);
const say = (s: string) => process.stdout.write(s + "\n");

const MANAGED = "agent-managed";
const AUTONOMOUS = "agent-autonomous";

say("starting etcd and three kube-apiservers (control-plane, agent-managed, agent-autonomous)…");
const env = await startKubeEnv({ clusters: ["control-plane", MANAGED, AUTONOMOUS], namespaces: ["argocd"] });
const dir = mkdtempSync(join(tmpdir(), "argocd-agent-demo-"));
const procs: Running[] = [];
let stopping = false;
async function teardown(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    say("\ntearing down…");
    await Promise.all(procs.map((p) => p.stop()));
    await env.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  process.exit(code);
}
process.on("SIGINT", () => void teardown(0));
process.on("SIGTERM", () => void teardown(0));

try {
  // A private PKI: the principal's server certificate and one client certificate per agent.
  const ca = await createCa("argocd-agent-demo-ca");
  const files: Record<string, string> = { "ca.crt": ca.cert };
  const srv = await issueCertificate(ca, { commonName: "principal", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], client: false });
  Object.assign(files, { "principal.crt": srv.cert, "principal.key": srv.key });
  for (const agent of [MANAGED, AUTONOMOUS]) {
    const c = await issueCertificate(ca, { commonName: agent, server: false });
    Object.assign(files, { [`${agent}.crt`]: c.cert, [`${agent}.key`]: c.key });
  }
  for (const [name, pem] of Object.entries(files)) writeFileSync(join(dir, name), pem);

  const cp = env.cluster("control-plane");
  const cpKube = createKubeClient({ kubeconfig: cp.kubeconfigPath });
  // On the control plane each agent's Applications live in a namespace named after the agent.
  for (const agent of [MANAGED, AUTONOMOUS]) await ensureNamespace(cpKube, agent);

  const grpcPort = await freePort();
  const principal = start([
    "principal", "-n", "argocd", "--kubeconfig", cp.kubeconfigPath,
    "--listen-host", "127.0.0.1", "--listen-port", String(grpcPort),
    "--tls-cert", join(dir, "principal.crt"), "--tls-key", join(dir, "principal.key"), "--root-ca-path", join(dir, "ca.crt"),
    "--auth", "mtls:subject:CN=([^,]+)", "--insecure-jwt-generate",
    "--allowed-namespaces", `${MANAGED},${AUTONOMOUS}`,
    "--healthz-port", String(await freePort()), "--metrics-port", "0",
  ]);
  procs.push(principal);
  await principal.waitFor(/principal started/, 30_000);
  say(`principal listening on 127.0.0.1:${grpcPort} (mTLS, identity from the client certificate's CN)`);

  const agentHealth: Record<string, number> = {};
  for (const [agent, mode] of [[MANAGED, "managed"], [AUTONOMOUS, "autonomous"]] as const) {
    agentHealth[agent] = await freePort();
    const p = start([
      "agent", "-n", "argocd", "--agent-mode", mode, "--kubeconfig", env.cluster(agent).kubeconfigPath,
      "--server-address", "127.0.0.1", "--server-port", String(grpcPort),
      "--creds", "mtls:any", "--root-ca-path", join(dir, "ca.crt"),
      "--tls-client-cert", join(dir, `${agent}.crt`), "--tls-client-key", join(dir, `${agent}.key`),
      "--heartbeat-interval", "10s", "--healthz-port", String(agentHealth[agent]), "--metrics-port", "0",
    ]);
    procs.push(p);
  }

  await createSamples(cp, env.cluster(AUTONOMOUS));
  say("sample Applications created; press Ctrl-C to stop\n");

  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    await playArgoCdController([env.cluster(MANAGED), env.cluster(AUTONOMOUS)]);
    await printTable(cp, env.cluster(MANAGED), env.cluster(AUTONOMOUS), agentHealth);
    await sleep(2000);
  }
  await teardown(0);
} catch (err) {
  process.stderr.write(`demo failed: ${(err as Error).stack ?? String(err)}\n`);
  for (const p of procs) process.stderr.write(p.output().split("\n").slice(-15).join("\n") + "\n");
  await teardown(1);
}

function sampleApp(name: string, namespace: string, project = "default"): Application {
  return {
    apiVersion: "argoproj.io/v1alpha1",
    kind: "Application",
    metadata: { name, namespace },
    spec: {
      project,
      source: { repoURL: "https://github.com/argoproj/argocd-example-apps", path: name, targetRevision: "HEAD" },
      destination: { server: "https://kubernetes.default.svc", namespace: name },
    },
  } as Application;
}

async function createSamples(cp: KubeClusterHandle, autonomous: KubeClusterHandle): Promise<void> {
  const cpKube = createKubeClient({ kubeconfig: cp.kubeconfigPath });
  await appProjects(cpKube).create({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AppProject",
    metadata: { name: "default", namespace: "argocd" },
    spec: { sourceRepos: ["*"], destinations: [{ namespace: "*", server: "*" }] },
  } as never);
  // Managed: created on the control plane in the agent's namespace, replicated down.
  for (const name of ["guestbook", "helm-guestbook"]) await applications(cpKube).create(sampleApp(name, MANAGED));
  // Autonomous: created on the workload cluster, mirrored up.
  const auKube = createKubeClient({ kubeconfig: autonomous.kubeconfigPath });
  await appProjects(auKube).create({
    apiVersion: "argoproj.io/v1alpha1",
    kind: "AppProject",
    metadata: { name: "default", namespace: "argocd" },
    spec: { sourceRepos: ["*"], destinations: [{ namespace: "*", server: "*" }] },
  } as never);
  await applications(auKube).create(sampleApp("kustomize-guestbook", "argocd"));
}

/**
 * There is no Argo CD here, so the demo plays its application controller on
 * the workload clusters: it marks each Application synced and healthy, and the
 * agents carry that status back to the control plane.
 */
async function playArgoCdController(clusters: KubeClusterHandle[]): Promise<void> {
  for (const c of clusters) {
    const apps = applications(createKubeClient({ kubeconfig: c.kubeconfigPath }));
    const items = await apps.list("argocd").then((l) => l.items, () => [] as Application[]);
    for (const app of items) {
      if ((app.status as { sync?: unknown } | undefined)?.sync) continue;
      await apps
        .patchStatus("argocd", app.metadata.name!, { status: { sync: { status: "Synced" }, health: { status: "Healthy" } } })
        .catch(() => undefined);
    }
  }
}

async function printTable(cp: KubeClusterHandle, managed: KubeClusterHandle, autonomous: KubeClusterHandle, health: Record<string, number>): Promise<void> {
  // An API server answers 429 for a moment after CRDs are installed; show that instead of failing.
  const list = async (c: KubeClusterHandle, ns?: string) =>
    applications(createKubeClient({ kubeconfig: c.kubeconfigPath }))
      .list(ns)
      .then((l) => l.items)
      .catch((err: Error) => {
        say(`(${c.name}: ${err.message.split("\n")[0]})`);
        return [] as Application[];
      });
  const rows: string[][] = [["cluster", "namespace", "application", "project", "sync", "health", "source-uid"]];
  for (const [label, c, ns] of [["control-plane", cp, undefined], [MANAGED, managed, "argocd"], [AUTONOMOUS, autonomous, "argocd"]] as const) {
    for (const app of await list(c, ns)) {
      const spec = app.spec as { project?: string } | undefined;
      const status = app.status as { sync?: { status?: string }; health?: { status?: string } } | undefined;
      rows.push([label, app.metadata.namespace ?? "", app.metadata.name ?? "", spec?.project ?? "", status?.sync?.status ?? "-", status?.health?.status ?? "-",
        (app.metadata.annotations?.["argocd.argoproj.io/source-uid"] ?? "-").slice(0, 8)]);
    }
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const agents = await Promise.all(Object.entries(health).map(async ([a, port]) => {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok).catch(() => false);
    return `${a}: ${ready ? "connected" : "not connected"}`;
  }));
  say(`\n${new Date().toISOString()}  ${agents.join("  ")}`);
  for (const r of rows) say(r.map((v, i) => v.padEnd(widths[i])).join("  "));
}
