/**
 * Pod logs and the web terminal with real Argo CD v3.5.1 (test/support/argocd-env.ts,
 * liveResources): a user at the hub opens an app's pod logs and its terminal in argocd-server,
 * which reaches the agent's cluster through the cluster Secret our `ctl agent create` wrote, i.e.
 * our principal's resource proxy → the agent over gRPC (LogStreamService, TerminalStreamService)
 * → the agent's kube-apiserver → the pod's kubelet. argocd-server picks the pod from the app's
 * resource tree, which it reads through our redis proxy from the agent's Argo CD redis.
 *
 * Real: kube-apiservers + etcd, Argo CD (argocd-server at the hub; application-controller and
 * repo-server on the workload cluster, which syncs a bare Pod from git), our principal and agent,
 * TLS and gRPC everywhere. The one stand-in is the kubelet (test/support/kubelet-standin.ts, an
 * HTTPS server behind a Node object: containerLogs and a WebSocket exec with a tiny shell), since
 * a bare API server has none; it also writes the Pod's running status, as a kubelet would. The
 * API servers run with TranslateStreamCloseWebsocketRequests=false so that they pass a WebSocket
 * exec through to the kubelet instead of speaking SPDY to it (see pod-logs-terminal.test.ts).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import WebSocket from "ws";
import { applications } from "../../src/kube/crud.ts";
import { kubeRequest } from "../../src/kube/raw-request.ts";
import type { Application } from "../../src/kube/resources.ts";
import type { LogEntry, PodLogsQuery } from "../support/argocd-api.ts";
import { ARGOCD_NS } from "../support/argocd.ts";
import { HUB, startArgoCdEnv, statusOf, type ArgoCdEnv } from "../support/argocd-env.ts";
import { startKubeletStandIn, type KubeletStandIn } from "../support/kubelet-standin.ts";
import { eventually } from "./replication-harness.ts";

const AGENT = "agent-managed";
const APP = "pods";
const NS = "pod-logs";
const POD = "web";
const NODE = "stand-in-node";
const CONTAINERS = ["app", "live"];
let env: ArgoCdEnv;
let kubelet: KubeletStandIn;

const POD_YAML = `apiVersion: v1
kind: Pod
metadata:
  name: ${POD}
spec:
  nodeName: ${NODE}
  containers:
${CONTAINERS.map((c) => `    - name: ${c}\n      image: registry.invalid/${c}:1\n`).join("")}`;

function until<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 90_000) {
  return eventually(what, fn, timeoutMs).catch((err: Error) => {
    throw new Error(`${err.message}\n${env.logs()}`);
  });
}

/** All entries of a finished log stream (follow=false). */
async function logs(q: PodLogsQuery): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of env.api.podLogs(APP, AGENT, { namespace: NS, podName: POD, ...q })) out.push(e);
  return out;
}

/** Go's RFC3339Nano drops trailing zeros of the fraction; the stand-in writes all nine digits. */
const goNano = (ts: string) => ts.replace(/\.?0+Z$/, "Z");

before(async () => {
  env = await startArgoCdEnv({
    managed: [AGENT], liveResources: true, appResyncSeconds: 180,
    kubeEnv: { apiserverFlags: ["--feature-gates=TranslateStreamCloseWebsocketRequests=false"] },
  });
  assert.ok(env.kube.pki, "the test API servers' PKI");
  kubelet = await startKubeletStandIn(env.kube.pki);
  const workload = env.kube.cluster(AGENT).kubeConfig;
  await kubelet.registerNode(workload, NODE);
  // As a user enables the web terminal: exec.enabled in argocd-cm at the hub (off by default).
  const cm = await kubeRequest(env.kube.cluster(HUB).kubeConfig, {
    method: "PATCH", path: `/api/v1/namespaces/${ARGOCD_NS}/configmaps/argocd-cm`,
    body: JSON.stringify({ data: { "exec.enabled": "true" } }), contentType: "application/merge-patch+json",
  });
  assert.equal(cm.status, 200, cm.text);
  env.git.commit({ "pods/pod.yaml": POD_YAML }, "a bare pod on the stand-in node");
  const app = {
    apiVersion: "argoproj.io/v1alpha1", kind: "Application",
    metadata: { name: APP, namespace: AGENT },
    spec: {
      project: "default",
      source: { repoURL: env.git.url, path: "pods", targetRevision: "HEAD" },
      destination: { name: AGENT, namespace: NS },
      syncPolicy: { automated: { prune: true }, syncOptions: ["CreateNamespace=true"] },
    },
  } as Application;
  await applications(env.hubKube).create(app);
  // Argo CD creates the Pod on the agent's cluster; the "kubelet" reports it running.
  await until("Argo CD created the pod", () => env.kubeOf(AGENT).core.readNamespacedPod({ namespace: NS, name: POD }).catch(() => undefined));
  await kubelet.markRunning(workload, NS, POD, CONTAINERS);
  await until("the app synced and healthy on the agent's cluster", async () => {
    const s = statusOf(await applications(env.kubeOf(AGENT)).get(ARGOCD_NS, APP));
    return s.phase === "Succeeded" && s.sync === "Synced" && s.health === "Healthy" ? s : undefined;
  });
  // argocd-server picks the pod for logs and the terminal from the tree (redis proxy → agent's redis).
  await until("argocd-server's resource tree has the pod", async () => {
    const t = await env.api.resourceTree(APP, AGENT).catch(() => undefined);
    return t?.nodes?.some((n) => n.kind === "Pod" && n.name === POD && n.uid) ? t : undefined;
  });
}, { timeout: 240_000 });

after(async () => {
  await env?.stop();
  await kubelet?.close();
});

test("argocd-server returns the pod's log lines in order, with tailLines applied", { timeout: 60_000 }, async () => {
  const c = kubelet.container(NS, POD, "app");
  c.append(...Array.from({ length: 8 }, (_, i) => `line ${i + 1}`));
  const all = await logs({ container: "app" });
  const last = all.pop();
  assert.equal(last?.last, true, "the stream ends with Argo CD's last entry");
  assert.deepEqual(all.map((e) => e.content), c.lines.map((l) => l.text));
  assert.deepEqual(all.map((e) => e.timeStampStr), c.lines.map((l) => goNano(l.ts)), "timestamps are the kubelet's");
  assert.ok(all.every((e) => e.podName === POD && e.last === false));

  const tail = await logs({ container: "app", tailLines: 3 });
  assert.deepEqual(tail.filter((e) => !e.last).map((e) => e.content), ["line 6", "line 7", "line 8"]);
  // What reached the kubelet through argocd-server → principal → agent → kube-apiserver.
  const seen = kubelet.requests.filter((r) => r.path === `/containerLogs/${NS}/${POD}/app`).map((r) => Object.fromEntries(r.query));
  assert.ok(seen.some((q) => q["tailLines"] === "3" && q["timestamps"] === "true"), JSON.stringify(seen));
  assert.match(env.principal.output(), new RegExp(`msg="log stream requested" agent=${AGENT} \\S+ namespace=${NS} pod=${POD} container=app follow=false`), "our principal served it");
});

test("a followed log streams new lines through argocd-server and ends when the container does", { timeout: 60_000 }, async () => {
  const c = kubelet.container(NS, POD, "live");
  c.append("first");
  const stream = env.api.podLogs(APP, AGENT, { namespace: NS, podName: POD, container: "live", follow: true }, AbortSignal.timeout(50_000));
  const got: LogEntry[] = [];
  const next = async () => {
    const r = await stream.next();
    if (!r.done) got.push(r.value);
    return r;
  };
  const contents = () => got.filter((e) => !e.last).map((e) => e.content);
  while (!contents().includes("first")) assert.equal((await next()).done, false);
  for (let i = 1; i <= 3; i++) {
    c.append(`live ${i}`);
    while (!contents().includes(`live ${i}`)) assert.equal((await next()).done, false);
  }
  c.end();
  while (!(await next()).done);
  assert.deepEqual(contents(), ["first", "live 1", "live 2", "live 3"]);
  assert.equal(got.at(-1)?.last, true);
  await until("kubelet follower gone", () => c.followerCount === 0, 10_000);
  assert.ok(kubelet.requests.some((r) => r.path === `/containerLogs/${NS}/${POD}/live` && r.query.get("follow") === "true"));
});

test("argocd-server's web terminal runs a shell in the pod through the principal", { timeout: 60_000 }, async () => {
  const token = await env.api.sessionToken();
  const q = new URLSearchParams({ pod: POD, container: "app", appName: APP, appNamespace: AGENT, projectName: "default", namespace: NS });
  const url = `${env.api.url.replace(/^http/, "ws")}/terminal?${q}`;
  const before = kubelet.execs.length;
  // exec.enabled reaches argocd-server through its settings informer; until then /terminal is 404.
  const ws = await until("argocd-server opened the terminal", () => new Promise<WebSocket | undefined>((resolve) => {
    const w = new WebSocket(url, { headers: { Cookie: `argocd.token=${token}` } });
    w.once("open", () => resolve(w));
    w.once("unexpected-response", (_req, res) => {
      res.resume();
      if (res.statusCode !== 404) console.log(`# /terminal: HTTP ${res.statusCode}`);
      resolve(undefined);
    });
    w.once("error", () => resolve(undefined));
  }), 30_000);
  let out = "";
  const others: string[] = [];
  ws.on("message", (d: Buffer) => {
    const m = JSON.parse(d.toString()) as { operation?: string; data?: string };
    if (m.operation === "stdout") out += m.data ?? "";
    else others.push(d.toString());
  });
  const closed = new Promise<number>((r) => ws.on("close", (code) => r(code)));
  const send = (m: object) => ws.send(JSON.stringify(m));
  await until("prompt", () => out.includes("$ "), 20_000);
  const rec = kubelet.execs.at(-1)!;
  assert.equal(kubelet.execs.length, before + 1);
  assert.equal(rec.path, `/exec/${NS}/${POD}/app`);
  assert.deepEqual(rec.command, ["bash"], "Argo CD's first allowed shell");
  send({ operation: "resize", cols: 120, rows: 40 });
  await until("resize reached the kubelet", () => rec.resizes.some((s) => s.width === 120 && s.height === 40), 10_000);
  send({ operation: "stdin", data: "stty size\r" });
  await until("stty size", () => out.includes("40 120\r\n"), 10_000);
  send({ operation: "stdin", data: "echo hello from argocd\r" });
  await until("echo output", () => out.includes("hello from argocd\r\n$ "), 10_000);
  assert.match(rec.stdin, /stty size\r.*echo hello from argocd\r/s);
  // The shell exits: the exec ends at every hop and argocd-server closes the WebSocket.
  send({ operation: "stdin", data: "exit\r" });
  await until("exec closed at the kubelet", () => rec.closed, 10_000);
  const principal = env.principal.output();
  assert.match(principal, new RegExp(`msg="web terminal session opened" agent=${AGENT} \\S+ namespace=${NS} pod=${POD} container=app command=\\["bash"\\] protocol=v5.channel.k8s.io`));
  await Promise.race([closed, new Promise((_r, j) => setTimeout(() => j(new Error(`WebSocket still open; other messages: ${others.join(" | ")}`)), 10_000))]);
  await until("principal closed the session", () => /msg="web terminal session closed"/.test(env.principal.output()), 10_000);
});
