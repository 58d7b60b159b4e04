/**
 * The resource proxy end to end, used as Argo CD and users use it: kubectl and
 * plain HTTPS clients with client certificates → our principal's resource
 * proxy (real TLS) → the agent over the real gRPC event stream → the agent's
 * real kube-apiserver. Everything is real; nothing stands in.
 *
 * Covers live-resources.md §2: caller identity (cert CN, bearer JWT, rogue
 * certs), routing (400/403), the agent's managed check (tracking annotation,
 * owner walk, 403/404), writes (patch, create, delete), discovery, list rules,
 * agent gone (502), no answer (504), and the bounds (413, 429).
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { JwtIssuer, signingKeyFromPem } from "../../src/auth/jwt-issuer.ts";
import { ensureNamespace } from "../../src/kube/crud.ts";
import { kubeRequest } from "../../src/kube/raw-request.ts";
import { createTestPki, type PemFiles, type TestPki } from "../support/pki.ts";
import { kubectl, writeClientKubeconfig } from "../support/kubectl.ts";
import { AUTO, eventually, MANAGED, startHarness, type Harness } from "./replication-harness.ts";

const SILENT = "agent-silent";
const NS = "guestbook";
const TRACKING = "argocd.argoproj.io/tracking-id";

let h: Harness;
let pki: TestPki;
let tmp: string;
let rpPort: number;
let issuer: JwtIssuer;
const certs = new Map<string, PemFiles>();

async function certFor(cn: string): Promise<PemFiles> {
  let c = certs.get(cn);
  if (!c) certs.set(cn, (c = await pki.agent(cn)));
  return c;
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One HTTPS request to the resource proxy (no connection reuse). */
function rp(path: string, o: { cn?: string; client?: PemFiles; method?: string; body?: string | Buffer; headers?: Record<string, string> } = {}): Promise<Reply> {
  return (async () => {
    const client = o.client ?? (await certFor(o.cn ?? MANAGED));
    return new Promise<Reply>((resolve, reject) => {
      const req = httpsRequest(
        { host: "127.0.0.1", port: rpPort, path, method: o.method ?? "GET", ca: [pki.ca.cert], cert: client.cert, key: client.key, agent: false, headers: o.headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(o.body);
    });
  })();
}

function kubeconfigFor(cn: string, cert: PemFiles): string {
  return writeClientKubeconfig(tmp, cn, { server: `https://127.0.0.1:${rpPort}`, caFile: pki.caFile, certFile: cert.certFile, keyFile: cert.keyFile });
}

async function kc(cn: string, args: string[]) {
  return kubectl(kubeconfigFor(cn, await certFor(cn)), args);
}

/** Creates a ConfigMap on an agent's cluster (tracked when `tracked`), returns its uid. */
async function configMap(cluster: string, name: string, o: { tracked?: boolean; owner?: { name: string; uid: string }; data?: Record<string, string> } = {}): Promise<string> {
  const obj = {
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name,
      namespace: NS,
      ...(o.tracked ? { annotations: { [TRACKING]: `guestbook:/ConfigMap:${NS}/${name}` } } : {}),
      ...(o.owner ? { ownerReferences: [{ apiVersion: "v1", kind: "ConfigMap", name: o.owner.name, uid: o.owner.uid }] } : {}),
    },
    data: o.data ?? { key: name },
  };
  const res = await kubeRequest(h.kube(cluster).kubeConfig, { method: "POST", path: `/api/v1/namespaces/${NS}/configmaps`, body: JSON.stringify(obj) });
  assert.equal(res.status, 201, `create ${name}: ${res.text}`);
  return (JSON.parse(res.text) as { metadata: { uid: string } }).metadata.uid;
}

async function getConfigMap(cluster: string, name: string): Promise<{ status: number; data?: Record<string, string> }> {
  const res = await kubeRequest(h.kube(cluster).kubeConfig, { method: "GET", path: `/api/v1/namespaces/${NS}/configmaps/${name}` });
  return { status: res.status, data: res.status === 200 ? (JSON.parse(res.text) as { data?: Record<string, string> }).data : undefined };
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "resource-proxy-e2e-"));
  pki = await createTestPki();
  const jwtKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const jwtKeyFile = join(tmp, "jwt.key");
  writeFileSync(jwtKeyFile, jwtKeyPem, { mode: 0o600 });
  issuer = new JwtIssuer({ key: signingKeyFromPem(jwtKeyPem) });
  h = await startHarness({
    agents: {
      [MANAGED]: { cluster: MANAGED, mode: "managed" },
      [AUTO]: { cluster: AUTO, mode: "autonomous" },
      [SILENT]: { cluster: MANAGED, mode: "managed" },
    },
  });
  await h.startPrincipal({
    enableResourceProxy: "true", resourceProxyPort: "0", resourceProxyTimeout: "3s",
    resourceProxyCertPath: pki.server.certFile, resourceProxyKeyPath: pki.server.keyFile, resourceProxyCaPath: pki.caFile,
    jwtKey: jwtKeyFile, insecureJwtGenerate: "false",
  });
  rpPort = h.principal()!.resourceProxyPort!;
  await h.startAgent(MANAGED, { enableResourceProxy: "true" });
  await h.startAgent(AUTO, { enableResourceProxy: "true" });
  // An agent that keeps the proxy off: it acks requests and never answers (upstream: 504).
  await h.startAgent(SILENT, { enableResourceProxy: "false", namespace: "argocd-silent" });
  for (const c of [MANAGED, AUTO]) await ensureNamespace(h.kube(c), NS);
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
  pki?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

test("/version answers with upstream's capitalised keys", async () => {
  const r = await rp("/version");
  assert.equal(r.status, 200);
  assert.match(String(r.headers["content-type"]), /application\/json/);
  const v = JSON.parse(r.body) as Record<string, string>;
  assert.equal(v["Major"], "1");
  assert.match(v["GitVersion"] ?? "", /\+argocd-agent$/);
  const out = await kc(MANAGED, ["version", "-o", "json"]);
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /argocd-agent/);
});

test("no TLS session without a client certificate of the CA; bad names and tokens are refused", async () => {
  const noCert = new Promise<string>((resolve) => {
    const req = httpsRequest({ host: "127.0.0.1", port: rpPort, path: "/version", ca: [pki.ca.cert], agent: false }, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on("error", (err) => resolve(`error ${err.message}`));
    req.end();
  });
  assert.match(await noCert, /^error /);
  const rogue = await pki.rogueAgent(MANAGED);
  await assert.rejects(rp("/version", { client: rogue }));
  assert.equal((await rp("/version", { cn: "Not_A_Label" })).status, 400);
  const bad = await rp(`/api/v1/namespaces/${NS}/configmaps/x`, { headers: { Authorization: "Bearer not-a-token" } });
  assert.equal(bad.status, 401);
  assert.equal(bad.body, "authentication failed");
});

test("routing: unknown paths 400, methods outside the list 403", async () => {
  for (const p of ["/openapi/v2", "/healthz", "/version/", "/apis/apps"]) assert.equal((await rp(p)).status, 400, p);
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/x`, { method: "PUT", body: "{}" })).status, 403);
  assert.equal((await rp("/version", { method: "POST", body: "" })).status, 403);
});

test("tracked objects are read; untracked 403, missing 404, owned by a tracked one readable", async () => {
  const parentUid = await configMap(MANAGED, "tracked", { tracked: true });
  await configMap(MANAGED, "untracked");
  await configMap(MANAGED, "child", { owner: { name: "tracked", uid: parentUid } });
  const got = await kc(MANAGED, ["get", "configmap", "tracked", "-n", NS, "-o", "json"]);
  assert.equal(got.code, 0, got.stderr);
  assert.equal((JSON.parse(got.stdout) as { data: Record<string, string> }).data["key"], "tracked");
  const child = await kc(MANAGED, ["get", "configmap", "child", "-n", NS, "-o", "json"]);
  assert.equal(child.code, 0, child.stderr);
  const untracked = await rp(`/api/v1/namespaces/${NS}/configmaps/untracked`);
  assert.equal(untracked.status, 403);
  const missing = await rp(`/api/v1/namespaces/${NS}/configmaps/nope`);
  assert.equal(missing.status, 404);
  const k = await kc(MANAGED, ["get", "configmap", "untracked", "-n", NS]);
  assert.notEqual(k.code, 0);
  assert.match(k.stderr, /[Ff]orbidden/);
});

test("writes: kubectl patch, create and delete reach the agent's cluster", async () => {
  await configMap(MANAGED, "writable", { tracked: true });
  const patched = await kc(MANAGED, ["patch", "configmap", "writable", "-n", NS, "--type", "merge", "-p", '{"data":{"key":"patched"}}']);
  assert.equal(patched.code, 0, patched.stderr);
  assert.equal((await getConfigMap(MANAGED, "writable")).data?.["key"], "patched");
  const manifest = join(tmp, "created.yaml");
  writeFileSync(manifest, `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: created\n  namespace: ${NS}\ndata:\n  key: created\n`);
  // The proxy serves no OpenAPI documents (as upstream: /openapi/* gets 400), so kubectl cannot validate.
  const created = await kc(MANAGED, ["create", "--validate=false", "-f", manifest]);
  assert.equal(created.code, 0, created.stderr);
  assert.equal((await getConfigMap(MANAGED, "created")).data?.["key"], "created");
  const deleted = await kc(MANAGED, ["delete", "configmap", "writable", "-n", NS, "--wait=false"]);
  assert.equal(deleted.code, 0, deleted.stderr);
  await eventually("writable deleted", async () => (await getConfigMap(MANAGED, "writable")).status === 404);
});

test("discovery and lists: api-resources works, events list, other lists refused", async () => {
  const res = await kc(MANAGED, ["api-resources", "--namespaced=true", "-o", "name"]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, /^configmaps$/m);
  const groups = JSON.parse((await rp("/apis")).body) as { kind: string; groups: { name: string }[] };
  assert.equal(groups.kind, "APIGroupList");
  const events = await kc(MANAGED, ["get", "events", "-n", NS, "-o", "json"]);
  assert.equal(events.code, 0, events.stderr);
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps`)).status, 500);
});

test("the autonomous agent's cluster, by its own certificate or a resource-proxy token", async () => {
  await configMap(AUTO, "auto-cm", { tracked: true });
  const r = await rp(`/api/v1/namespaces/${NS}/configmaps/auto-cm`, { cn: AUTO });
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as { data: Record<string, string> }).data["key"], "auto-cm");
  // The token names the agent; the certificate is only the TLS client (as Argo CD's cluster secret).
  const token = await issuer.issueResourceProxyToken(AUTO);
  const viaToken = await rp(`/api/v1/namespaces/${NS}/configmaps/auto-cm`, { cn: MANAGED, headers: { Authorization: `Bearer ${token}` } });
  assert.equal(viaToken.status, 200, viaToken.body);
  // The managed agent's cluster has no such object: the token really routed to AUTO.
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/auto-cm`, { cn: MANAGED })).status, 404);
});

test("an unknown agent gets 502 at once, a stopped agent too", async () => {
  const t0 = Date.now();
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/x`, { cn: "nobody" })).status, 502);
  assert.ok(Date.now() - t0 < 2000);
  await configMap(AUTO, "before-stop", { tracked: true });
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/before-stop`, { cn: AUTO })).status, 200);
  await h.stopAgent(AUTO);
  const stopped = Date.now();
  await eventually("principal saw AUTO leave", async () => (await rp(`/api/v1/namespaces/${NS}/configmaps/before-stop`, { cn: AUTO })).status === 502, 10_000);
  assert.ok(Date.now() - stopped < 1000, `502 only ${Date.now() - stopped} ms after the agent stopped`);
  await h.startAgent(AUTO, { enableResourceProxy: "true" });
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/before-stop`, { cn: AUTO })).status, 200);
});

test("an agent with the proxy off never answers: 504 after --resource-proxy-timeout", async () => {
  const t0 = Date.now();
  const r = await rp(`/api/v1/namespaces/${NS}/configmaps/x`, { cn: SILENT });
  const ms = Date.now() - t0;
  assert.equal(r.status, 504);
  assert.ok(ms >= 2900 && ms < 8000, `answered after ${ms} ms`);
});

test("bounds: a body over 3 MiB gets 413; the 65th open request to one agent gets 429", async () => {
  const big = Buffer.alloc(4 * 1024 * 1024, 0x20);
  const r = await rp(`/api/v1/namespaces/${NS}/configmaps`, { method: "POST", body: big, headers: { "Content-Type": "application/json" } });
  assert.equal(r.status, 413);
  // SILENT never answers, so its requests stay open until the timeout.
  const all = await Promise.all(Array.from({ length: 65 }, (_, i) => rp(`/api/v1/namespaces/${NS}/configmaps/c${i}`, { cn: SILENT })));
  const counts = new Map<number, number>();
  for (const x of all) counts.set(x.status, (counts.get(x.status) ?? 0) + 1);
  assert.equal(counts.get(429), 1, JSON.stringify([...counts]));
  assert.equal(counts.get(504), 64, JSON.stringify([...counts]));
  // Other agents are unaffected meanwhile and afterwards.
  assert.equal((await rp(`/api/v1/namespaces/${NS}/configmaps/tracked`, { cn: MANAGED })).status, 200);
});
