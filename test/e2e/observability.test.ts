// Metrics, health and graceful shutdown as an operator sees them: real
// principal and agent processes, scraped over HTTP after real scenarios
// (connect, events, auth failure, reconnect), and a SIGTERM under load that
// must lose no Application.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { createCa, issueCertificate } from "../../src/transport/certificates.ts";
import { freePort, LIVE_ROOMS_OFF, start, type Running } from "../support/processes.ts";
import { eventually, metric } from "../support/metrics-scrape.ts";
import { startKubeEnv, type KubeEnv } from "../support/kube-env.ts";
import { createKubeClient } from "../support/kube-client.ts";
import { applications, appProjects, ensureNamespace } from "../../src/kube/crud.ts";

let dir: string;
let env: KubeEnv;
const running: Running[] = [];

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "observability-"));
  const ca = await createCa("obs-ca");
  const srv = await issueCertificate(ca, { commonName: "principal", dnsNames: ["localhost"], ipAddresses: ["127.0.0.1"], client: false });
  const files: Record<string, string> = { "ca.crt": ca.cert, "srv.crt": srv.cert, "srv.key": srv.key };
  // "argocd" is the principal's own namespace: authentication must refuse it.
  for (const cn of ["agent-managed", "argocd", "agent-auto", "agent-nons"]) {
    const c = await issueCertificate(ca, { commonName: cn, server: false });
    files[`${cn}.crt`] = c.cert;
    files[`${cn}.key`] = c.key;
  }
  for (const [n, v] of Object.entries(files)) writeFileSync(join(dir, n), v);
  env = await startKubeEnv({ clusters: ["control-plane", "agent-managed"] });
  const cp = createKubeClient({ kubeconfig: env.cluster("control-plane").kubeconfigPath });
  await ensureNamespace(cp, "agent-managed");
  await ensureNamespace(cp, "agent-auto"); // "agent-nons" deliberately has no namespace on the control plane
  const wl = createKubeClient({ kubeconfig: env.cluster("agent-managed").kubeconfigPath });
  for (const ns of ["auto", "nons"]) await ensureNamespace(wl, ns);
});
after(async () => {
  await Promise.all(running.map((p) => p.stop("SIGKILL")));
  await env?.stop();
  rmSync(dir, { recursive: true, force: true });
});

interface Ports {
  grpc: number;
  health: number;
  metrics: number;
}

function principal(ports: Ports, extra: string[] = []): Running {
  const p = start([
    "principal", "-n", "argocd", "--kubeconfig", env.cluster("control-plane").kubeconfigPath,
    "--listen-host", "127.0.0.1", "--listen-port", String(ports.grpc),
    "--tls-cert", join(dir, "srv.crt"), "--tls-key", join(dir, "srv.key"), "--root-ca-path", join(dir, "ca.crt"),
    "--auth", "mtls:subject:^CN=([^,]+)", "--insecure-jwt-generate", "--allowed-namespaces", "agent-managed,agent-auto,agent-nons",
    "--healthz-port", String(ports.health), "--metrics-port", String(ports.metrics), ...LIVE_ROOMS_OFF, ...extra,
  ]);
  running.push(p);
  return p;
}

function agent(cn: string, grpcPort: number, ports: Omit<Ports, "grpc">, opts: { mode?: string; namespace?: string } = {}): Running {
  const p = start([
    "agent", "-n", opts.namespace ?? "argocd", "--agent-mode", opts.mode ?? "managed", "--kubeconfig", env.cluster("agent-managed").kubeconfigPath,
    "--server-address", "127.0.0.1", "--server-port", String(grpcPort),
    "--creds", "mtls:any", "--root-ca-path", join(dir, "ca.crt"),
    "--tls-client-cert", join(dir, `${cn}.crt`), "--tls-client-key", join(dir, `${cn}.key`),
    "--healthz-port", String(ports.health), "--metrics-port", String(ports.metrics),
  ]);
  running.push(p);
  return p;
}

async function ports(): Promise<Ports> {
  return { grpc: await freePort(), health: await freePort(), metrics: await freePort() };
}

async function status(port: number, path: string): Promise<number> {
  return fetch(`http://127.0.0.1:${port}${path}`).then((r) => r.status, () => 0);
}

/** Sum of all samples of a metric (any labels) in a /metrics scrape. */

test("readiness, metrics after connect, auth failure and reconnect", async () => {
  const pp = await ports();
  const p = principal(pp);
  await p.waitFor(/principal started/, 30_000);
  assert.equal(await status(pp.health, "/healthz"), 200);
  assert.equal(await status(pp.health, "/readyz"), 200);

  const ap = { health: await freePort(), metrics: await freePort() };
  const a = agent("agent-managed", pp.grpc, ap);
  await eventually("agent ready", async () => (await status(ap.health, "/readyz")) === 200);
  assert.equal(await metric(pp.metrics, "argocd_principal_connected_agents"), 1);
  assert.equal(await metric(pp.metrics, "argocd_principal_agent_connections_total", 'agent_name="agent-managed"'), 1);
  assert.equal(await metric(ap.metrics, "argocd_agent_connection_status"), 1);

  // Events: an Application on the control plane goes down and is acknowledged.
  const cp = createKubeClient({ kubeconfig: env.cluster("control-plane").kubeconfigPath });
  await applications(cp).create({
    metadata: { name: "obs-app", namespace: "agent-managed" },
    spec: { project: "default", source: { repoURL: "https://example.invalid/repo", path: "p" }, destination: { server: "https://kubernetes.default.svc", namespace: "x" } },
  } as never);
  await eventually("event acknowledged", async () => (await metric(pp.metrics, "argocd_principal_events_acknowledged_total", 'agent_name="agent-managed"')) >= 1);
  assert.ok((await metric(pp.metrics, "principal_events_sent")) >= 1);
  await eventually("the create acknowledged, counted by event type", async () =>
    (await metric(pp.metrics, "argocd_principal_events_acknowledged_total", 'event_type="create"')) >= 1);
  assert.ok((await metric(ap.metrics, "agent_events_received", 'event_type="create"')) >= 1);
  assert.ok((await metric(ap.metrics, "agent_event_processing_time_count")) >= 1);

  // An agent whose identity the principal refuses: counted on both sides.
  const bp = { health: await freePort(), metrics: await freePort() };
  const bad = agent("argocd", pp.grpc, bp);
  await eventually("auth failure counted", async () => (await metric(pp.metrics, "argocd_principal_auth_failures_total", 'reason="own-namespace"')) >= 1);
  await eventually("agent counts its auth failure", async () => (await metric(bp.metrics, "argocd_agent_auth_failures_total")) >= 1);
  assert.equal(await status(bp.health, "/readyz"), 503);
  await bad.stop();

  // The principal goes away: the agent turns unready, then reconnects to the new one.
  assert.equal(await p.stop(), 0, p.output());
  await eventually("agent unready", async () => (await status(ap.health, "/readyz")) === 503);
  assert.ok((await metric(ap.metrics, "argocd_agent_reconnects_total")) >= 1);
  const p2 = principal(pp);
  await p2.waitFor(/principal started/, 30_000);
  await eventually("agent ready again", async () => (await status(ap.health, "/readyz")) === 200, 60_000);
  assert.equal(await metric(ap.metrics, "argocd_agent_connections_total"), 2);
  // The new principal resyncs with the agent, and the agent's copy of obs-app is checked.
  await eventually("resync run counted", async () => (await metric(pp.metrics, "argocd_principal_resync_runs_total", 'agent_name="agent-managed"')) >= 1);
  await eventually("resync result counted", async () => (await metric(pp.metrics, "argocd_principal_resync_results_total", 'agent_name="agent-managed"')) >= 1);
  await a.stop();
  await p2.stop();
});

test("replication counters: Applications and AppProjects created, updated and deleted, errors, connection age", async () => {
  const pp = await ports();
  const p = principal(pp);
  await p.waitFor(/principal started/, 30_000);
  const ap = { health: await freePort(), metrics: await freePort() };
  const a = agent("agent-auto", pp.grpc, ap, { mode: "autonomous", namespace: "auto" });
  await eventually("agent ready", async () => (await status(ap.health, "/readyz")) === 200);
  const wl = createKubeClient({ kubeconfig: env.cluster("agent-managed").kubeconfigPath });
  const cp = createKubeClient({ kubeconfig: env.cluster("control-plane").kubeconfigPath });
  const spec = (path: string) => ({ project: "default", source: { repoURL: "https://example.invalid/repo", path }, destination: { server: "https://kubernetes.default.svc", namespace: "x" } });
  const count = (name: string) => metric(pp.metrics, name);
  for (const n of ["principal_applications_created", "principal_applications_updated", "principal_applications_deleted", "principal_app_projects_created", "principal_errors"]) {
    assert.equal(await count(n), 0, `${n} before any event`);
  }

  // An autonomous agent's Application: the principal creates, updates, then deletes its mirror.
  await applications(wl).create({ metadata: { name: "counted", namespace: "auto" }, spec: spec("v1") } as never);
  await eventually("mirror created and counted", async () => (await count("principal_applications_created")) === 1);
  assert.ok(await applications(cp).get("agent-auto", "counted"), "the mirror exists");
  await applications(wl).patch("auto", "counted", { spec: { source: { path: "v2" } } });
  await eventually("mirror update counted", async () => (await count("principal_applications_updated")) >= 1);
  await applications(wl).delete("auto", "counted");
  await eventually("mirror deletion counted", async () => (await count("principal_applications_deleted")) === 1);
  assert.equal(await applications(cp).get("agent-auto", "counted"), undefined);
  await appProjects(wl).create({ metadata: { name: "team", namespace: "auto" }, spec: { sourceRepos: ["*"], destinations: [{ server: "*", namespace: "*" }] } } as never);
  await eventually("project mirror counted", async () => (await count("principal_app_projects_created")) === 1);
  assert.ok(await appProjects(cp).get("argocd", "agent-auto-team"), "the project mirror exists");
  assert.ok((await count("principal_agent_avg_connection_time")) > 0, "a live connection has an age");
  assert.equal(await count("principal_errors"), 0, "no failures so far");

  // An agent whose namespace does not exist on the control plane: writing its mirror fails (404, not retried).
  const bp = { health: await freePort(), metrics: await freePort() };
  const b = agent("agent-nons", pp.grpc, bp, { mode: "autonomous", namespace: "nons" });
  await eventually("second agent ready", async () => (await status(bp.health, "/readyz")) === 200);
  await applications(wl).create({ metadata: { name: "homeless", namespace: "nons" }, spec: spec("v1") } as never);
  await eventually("failure counted", async () => (await metric(pp.metrics, "principal_errors", 'resource_type="application"')) >= 1);
  assert.ok((await metric(pp.metrics, "principal_event_processing_time_count", 'status="failure"')) >= 1);
  assert.equal(await count("principal_applications_created"), 1, "the failed create is not counted as created");
  await appProjects(wl).delete("auto", "team");
  await b.stop();
  await a.stop();
  await p.stop();
});

test("the principal is alive but not ready while its informers cannot sync", async () => {
  const pp = await ports();
  const unreachable = join(dir, "unreachable.kubeconfig");
  const deadPort = await freePort();
  writeFileSync(unreachable, [
    "apiVersion: v1", "kind: Config", "current-context: dead",
    "clusters: [{name: dead, cluster: {server: 'https://127.0.0.1:" + deadPort + "', insecure-skip-tls-verify: true}}]",
    "users: [{name: dead, user: {token: x}}]",
    "contexts: [{name: dead, context: {cluster: dead, user: dead}}]",
  ].join("\n"));
  const p = start([
    "principal", "-n", "argocd", "--kubeconfig", unreachable, "--listen-host", "127.0.0.1", "--listen-port", "0",
    "--insecure-plaintext", "--auth", "header:x-agent-id:^(.+)$", "--insecure-jwt-generate",
    "--healthz-port", String(pp.health), "--metrics-port", "0", ...LIVE_ROOMS_OFF,
  ]);
  running.push(p);
  await eventually("health endpoint up", async () => (await status(pp.health, "/healthz")) === 200);
  await sleep(1500);
  assert.equal(await status(pp.health, "/readyz"), 503, "ready although the API server is unreachable");
  await p.stop("SIGKILL");
});

test("SIGTERM under load loses no Application", async () => {
  const pp = await ports();
  let p = principal(pp);
  await p.waitFor(/principal started/, 30_000);
  const ap = { health: await freePort(), metrics: await freePort() };
  const a = agent("agent-managed", pp.grpc, ap);
  await eventually("agent ready", async () => (await status(ap.health, "/readyz")) === 200);

  const cp = applications(createKubeClient({ kubeconfig: env.cluster("control-plane").kubeconfigPath }));
  const managed = applications(createKubeClient({ kubeconfig: env.cluster("agent-managed").kubeconfigPath }));
  const N = 120;
  const names = Array.from({ length: N }, (_, i) => `load-${i}`);
  let restarted = false;
  for (const [i, name] of names.entries()) {
    await cp.create({
      metadata: { name, namespace: "agent-managed" },
      spec: { project: "default", source: { repoURL: "https://example.invalid/repo", path: name }, destination: { server: "https://kubernetes.default.svc", namespace: name } },
    } as never);
    if (i === N / 3) {
      // Mid-stream: stop the principal gracefully while events are in flight, keep creating.
      const code = await p.stop("SIGTERM", 15_000);
      assert.equal(code, 0, `principal did not exit cleanly on SIGTERM:\n${p.output()}`);
      assert.match(p.output(), /principal stopped/);
    }
    if (i === (2 * N) / 3 && !restarted) {
      p = principal(pp);
      await p.waitFor(/principal started/, 30_000);
      restarted = true;
    }
  }
  await eventually(`all ${N} Applications on the managed cluster`, async () => {
    const items = (await managed.list("argocd")).items.filter((x) => x.metadata.name?.startsWith("load-"));
    return items.length === N && items.every((x) => (x.spec as { source?: { path?: string } }).source?.path === x.metadata.name);
  }, 90_000);
  await a.stop();
  await p.stop();
});
