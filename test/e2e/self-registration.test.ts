/**
 * Self cluster registration end to end (operations.md §2): real API servers,
 * our principal with its real resource proxy (TLS, client certificates) and
 * our agents over the real gRPC stream. An agent that authenticates gets the
 * Argo CD cluster Secret `cluster-<agent>` in Argo CD's format; Argo CD's way
 * of using that Secret (its `server`, bearer token and client certificate)
 * reaches the agent's cluster through the resource proxy. Manual Secrets are
 * never touched; self-registered ones get a new token when theirs stops
 * validating and the shared certificate when it changes; a registration that
 * fails refuses the agent (Unauthenticated) and writes nothing.
 */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { request as httpsRequest } from "node:https";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { credentials, Metadata, status, type ServiceError } from "@grpc/grpc-js";
import type { V1Secret } from "@kubernetes/client-node";
import { decodeProtectedHeader, decodeJwt } from "jose";
import { generateSigningKey, JwtIssuer, signingKeyFromPem } from "../../src/auth/jwt-issuer.ts";
import { clusterSecret } from "../../src/ctl/cluster-secret.ts";
import { ensureNamespace, isNotFound } from "../../src/kube/crud.ts";
import { kubeRequest } from "../../src/kube/raw-request.ts";
import type { Application } from "../../src/kube/resources.ts";
import { AuthenticationClient } from "../../src/proto/gen/auth.ts";
import { freePort } from "../support/processes.ts";
import { startRedisServer, type RedisServer } from "../support/redis-server.ts";
import { createTestPki, type PemFiles, type TestPki } from "../support/pki.ts";
import { app, apps, eventually, startHarness, type Harness } from "./replication-harness.ts";

const CLUSTER = "workload";
const PLAIN = "agent-plain";
const NEW = "agent-new";
const MANUAL = "agent-manual";
const BROKEN = "agent-broken";
const NS = "argocd";
const SHARED = "self-registration-client";
const SELF_LABEL = "argocd-agent.argoproj-labs.io/self-registered-cluster";
const GUESTBOOK = "guestbook";

let h: Harness;
let pki: TestPki;
let tmp: string;
let rpPort: number;
let issuer: JwtIssuer;
let shared: PemFiles;
let hubRedis: RedisServer;

const agentNs = (agent: string) => `ns-${agent}`;

async function readSecret(name: string): Promise<V1Secret | undefined> {
  try {
    return await h.cp.core.readNamespacedSecret({ name, namespace: NS });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Sets data keys of a Secret (read, change, replace). */
async function setData(name: string, data: Record<string, string>): Promise<void> {
  const s = (await readSecret(name))!;
  const b64 = Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]));
  await h.cp.core.replaceNamespacedSecret({ name, namespace: NS, body: { ...s, data: { ...s.data, ...b64 } } });
}

const field = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8");

interface ClusterConfig {
  bearerToken?: string;
  tlsClientConfig: { insecure: boolean; certData?: string; keyData?: string; caData?: string };
}
const configOf = (s: V1Secret) => JSON.parse(field(s, "config")) as ClusterConfig;
const pem = (b64: string | undefined) => Buffer.from(b64 ?? "", "base64").toString("utf8");

/** Writes the shared client certificate Secret (create or replace); `omit` leaves a key out. */
async function writeShared(client: PemFiles, omit?: string): Promise<void> {
  const data: Record<string, string> = {
    "tls.crt": Buffer.from(client.cert).toString("base64"),
    "tls.key": Buffer.from(client.key).toString("base64"),
    "ca.crt": Buffer.from(pki.ca.cert).toString("base64"),
  };
  if (omit) delete data[omit];
  const body: V1Secret = { metadata: { name: SHARED, namespace: NS }, type: "Opaque", data };
  const current = await readSecret(SHARED);
  if (current) await h.cp.core.replaceNamespacedSecret({ name: SHARED, namespace: NS, body: { ...body, metadata: { ...body.metadata, resourceVersion: current.metadata!.resourceVersion } } });
  else await h.cp.core.createNamespacedSecret({ namespace: NS, body });
}

/** One request the way Argo CD makes it from a cluster Secret: `server`, the config's client certificate and CA, the bearer token. */
function asArgoCd(secret: V1Secret, path: string, o: { token?: boolean } = {}): Promise<{ status: number; body: string }> {
  const server = new URL(field(secret, "server"));
  const cfg = configOf(secret);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(
      {
        host: server.hostname, port: Number(server.port), path, method: "GET", agent: false,
        ca: pem(cfg.tlsClientConfig.caData), cert: pem(cfg.tlsClientConfig.certData), key: pem(cfg.tlsClientConfig.keyData),
        headers: o.token === false ? {} : { Authorization: `Bearer ${cfg.bearerToken}` },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** A tracked ConfigMap on the agents' cluster (the resource proxy only serves objects an Application tracks). */
async function trackedConfigMap(name: string, value: string): Promise<void> {
  const body = {
    apiVersion: "v1", kind: "ConfigMap",
    metadata: { name, namespace: GUESTBOOK, annotations: { "argocd.argoproj.io/tracking-id": `guestbook:/ConfigMap:${GUESTBOOK}/${name}` } },
    data: { key: value },
  };
  const res = await kubeRequest(h.kube(CLUSTER).kubeConfig, { method: "POST", path: `/api/v1/namespaces/${GUESTBOOK}/configmaps`, body: JSON.stringify(body) });
  assert.equal(res.status, 201, res.text);
}

/** One Authenticate call with the agent's userpass credentials, as the agent makes it. */
function authenticate(agent: string): Promise<{ ok: true } | { ok: false; code: status; details: string }> {
  const client = new AuthenticationClient(`127.0.0.1:${h.port}`, credentials.createInsecure());
  return new Promise<{ ok: true } | { ok: false; code: status; details: string }>((resolve) => {
    client.authenticate(
      { method: "userpass", credentials: { clientid: agent, clientsecret: `secret-${agent}` }, mode: "autonomous", version: "0.9.0", agentNamespace: agentNs(agent) },
      new Metadata(),
      { deadline: Date.now() + 20_000 },
      (err: ServiceError | null) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true }),
    );
  }).finally(() => client.close());
}

async function reconnect(agent: string): Promise<void> {
  await h.stopAgent(agent);
  await h.startAgent(agent, { namespace: agentNs(agent), enableResourceProxy: "true" });
}

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), "self-registration-e2e-"));
  pki = await createTestPki();
  shared = await pki.agent(SHARED);
  const jwtKeyPem = generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  writeFileSync(join(tmp, "jwt.key"), jwtKeyPem, { mode: 0o600 });
  issuer = new JwtIssuer({ key: signingKeyFromPem(jwtKeyPem) });
  const spec = { cluster: CLUSTER, mode: "autonomous" as const };
  h = await startHarness({ clusters: [CLUSTER], agents: { [PLAIN]: spec, [NEW]: spec, [MANUAL]: spec, [BROKEN]: spec } });
  await ensureNamespace(h.cp, NS);
  await ensureNamespace(h.kube(CLUSTER), GUESTBOOK);
  rpPort = await freePort();
  hubRedis = await startRedisServer();
}, { timeout: 120_000 });

after(async () => {
  await h?.stop();
  await hubRedis?.stop();
  pki?.cleanup();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const principalSettings = (registration: boolean) => ({
  enableResourceProxy: "true", resourceProxyPort: String(rpPort),
  resourceProxyCertPath: pki.server.certFile, resourceProxyKeyPath: pki.server.keyFile, resourceProxyCaPath: pki.caFile,
  jwtKey: join(tmp, "jwt.key"), insecureJwtGenerate: "false",
  // The hub's redis: the principal writes the connection state of agents that have a cluster secret there.
  redisServerAddress: hubRedis.address,
  ...(registration ? { enableSelfClusterRegistration: "true", selfRegistrationClientCertSecret: SHARED, resourceProxyAddress: `127.0.0.1:${rpPort}` } : {}),
});

test("disabled by default: an agent without a cluster secret connects and none appears", { timeout: 60_000 }, async () => {
  await writeShared(shared);
  await h.startPrincipal(principalSettings(false));
  await h.startAgent(PLAIN, { namespace: agentNs(PLAIN) });
  assert.equal(await readSecret(`cluster-${PLAIN}`), undefined);
  const labelled = await h.cp.core.listNamespacedSecret({ namespace: NS, labelSelector: `argocd-agent.argoproj-labs.io/agent-name=${PLAIN}` });
  assert.deepEqual(labelled.items, []);
  await h.stopAgent(PLAIN);
  await h.stopPrincipal();
});

test("enabled: a new agent gets cluster-<agent> in Argo CD's format, and its token reaches the agent through the resource proxy", { timeout: 90_000 }, async () => {
  await h.startPrincipal(principalSettings(true));
  await h.startAgent(NEW, { namespace: agentNs(NEW), enableResourceProxy: "true" });
  const s = await readSecret(`cluster-${NEW}`);
  assert.ok(s, "cluster secret created before the agent got its tokens");
  assert.deepEqual(s.metadata!.labels, {
    [SELF_LABEL]: "true", "argocd.argoproj.io/secret-type": "cluster", "argocd-agent.argoproj-labs.io/agent-name": NEW,
  });
  assert.deepEqual(s.metadata!.annotations, { "argocd.argoproj.io/skip-reconcile": "true", "managed-by": "argocd-agent" });
  assert.deepEqual(Object.keys(s.data!).sort(), ["config", "name", "server"]);
  assert.equal(field(s, "name"), NEW);
  assert.equal(field(s, "server"), `https://127.0.0.1:${rpPort}?agentName=${NEW}`);
  const cfg = configOf(s);
  const b64 = (t: string) => Buffer.from(t).toString("base64");
  // Exactly Argo CD's ClusterConfig JSON, in Go's field order.
  assert.equal(field(s, "config"), JSON.stringify({
    bearerToken: cfg.bearerToken,
    tlsClientConfig: { insecure: false, certData: b64(shared.cert), keyData: b64(shared.key), caData: b64(pki.ca.cert) },
  }));
  // A resource-proxy token of the principal's key: RS512, iss/aud/sub as upstream, no exp.
  assert.equal(await issuer.validateResourceProxyToken(cfg.bearerToken!), NEW);
  assert.deepEqual(decodeProtectedHeader(cfg.bearerToken!), { alg: "RS512", typ: "JWT" });
  const claims = decodeJwt(cfg.bearerToken!);
  assert.equal(claims.iss, "argocd-agent-server");
  assert.deepEqual(claims.aud, ["argocd-agent-server-resource-proxy"]);
  assert.equal(claims.exp, undefined);

  await trackedConfigMap("via-token", "hello");
  const r = await asArgoCd(s, `/api/v1/namespaces/${GUESTBOOK}/configmaps/via-token`);
  assert.equal(r.status, 200, r.body);
  assert.equal((JSON.parse(r.body) as { data: Record<string, string> }).data["key"], "hello");
  // Without the token the shared certificate's CN names no connected agent: the token did the routing.
  assert.equal((await asArgoCd(s, `/api/v1/namespaces/${GUESTBOOK}/configmaps/via-token`, { token: false })).status, 502);

  // The principal's cluster mapping follows the self-registered Secret (its data.name).
  await setData(`cluster-${NEW}`, { name: "edge-new" });
  await apps(h.kube(CLUSTER)).create(app("mapped", agentNs(NEW)) as Application);
  await eventually("mirror names the self-registered cluster", async () =>
    ((await apps(h.cp).get(NEW, "mapped"))?.spec["destination"] as { name?: string } | undefined)?.name === "edge-new");
});

test("a manual cluster secret is left alone, byte for byte", { timeout: 60_000 }, async () => {
  const own = await pki.agent(MANUAL);
  const body = clusterSecret({ agent: MANUAL, namespace: NS, resourceProxy: "argocd-agent-resource-proxy:9090", certPem: own.cert, keyPem: own.key, caPem: pki.ca.cert, labels: { env: "manual" } });
  const created = await h.cp.core.createNamespacedSecret({ namespace: NS, body });
  await h.startAgent(MANUAL, { namespace: agentNs(MANUAL) });
  assert.deepEqual(await readSecret(`cluster-${MANUAL}`), created);
  await h.stopAgent(MANUAL);
});

test("a self-registered secret gets the changed shared certificate, and a new token when its token is invalid", { timeout: 90_000 }, async () => {
  const name = `cluster-${NEW}`;
  const before = (await readSecret(name))!;
  const oldToken = configOf(before).bearerToken!;

  // 1. The shared certificate was renewed: PEMs copied on the next connect, the valid token kept.
  const renewed = await pki.agent(SHARED);
  await writeShared(renewed);
  await reconnect(NEW);
  let s = (await readSecret(name))!;
  let cfg = configOf(s);
  assert.equal(cfg.bearerToken, oldToken, "a valid token stays");
  assert.equal(pem(cfg.tlsClientConfig.certData), renewed.cert);
  assert.equal(pem(cfg.tlsClientConfig.keyData), renewed.key);
  assert.equal(pem(cfg.tlsClientConfig.caData), pki.ca.cert);
  assert.equal(field(s, "name"), "edge-new", "fields other than the credentials are kept");
  assert.equal((await asArgoCd(s, `/api/v1/namespaces/${GUESTBOOK}/configmaps/via-token`)).status, 200);

  // 2. Tokens that no longer validate (signing key rotated; issued for another agent) are replaced.
  const otherKey = new JwtIssuer({ key: await generateSigningKey() });
  for (const [why, bad] of [["other key", await otherKey.issueResourceProxyToken(NEW)], ["other agent", await issuer.issueResourceProxyToken("agent-other")]] as const) {
    await setData(name, { config: JSON.stringify({ ...cfg, bearerToken: bad }) });
    await reconnect(NEW);
    s = (await readSecret(name))!;
    cfg = configOf(s);
    assert.notEqual(cfg.bearerToken, bad, why);
    assert.equal(await issuer.validateResourceProxyToken(cfg.bearerToken!), NEW, why);
    assert.equal(pem(cfg.tlsClientConfig.certData), renewed.cert, why);
  }
  assert.equal((await asArgoCd(s, `/api/v1/namespaces/${GUESTBOOK}/configmaps/via-token`)).status, 200);
});

test("a failed registration refuses the agent with Unauthenticated and writes nothing; it succeeds once fixed", { timeout: 60_000 }, async () => {
  await writeShared(shared, "ca.crt");
  const refused = await authenticate(BROKEN);
  assert.deepEqual(refused, { ok: false, code: status.UNAUTHENTICATED, details: "authentication failed" });
  assert.equal(await readSecret(`cluster-${BROKEN}`), undefined);
  // Registration never replaces authentication: a wrong password is refused before it.
  const client = new AuthenticationClient(`127.0.0.1:${h.port}`, credentials.createInsecure());
  const wrong = await new Promise<ServiceError | null>((resolve) =>
    client.authenticate({ method: "userpass", credentials: { clientid: "intruder", clientsecret: "x" }, mode: "autonomous", version: "0.9.0", agentNamespace: "x" }, (err) => resolve(err)),
  ).finally(() => client.close());
  assert.equal(wrong?.code, status.UNAUTHENTICATED);

  await writeShared(shared);
  await h.startAgent(BROKEN, { namespace: agentNs(BROKEN) });
  const s = await readSecret(`cluster-${BROKEN}`);
  assert.equal(s?.metadata?.labels?.[SELF_LABEL], "true");
  await writeShared(shared, "tls.key");
  assert.equal((await authenticate(BROKEN)).ok, false, "also an existing self-registered secret needs a usable shared secret");
  assert.equal(await readSecret("cluster-intruder"), undefined);
});
