// Principal HA without Kubernetes, over loopback (operations.md §4.3, §4.4, §4.7):
// - a real principal process with --ha-enabled: the HAAdmin API on its admin port
//   (Status, Promote, Demote and their FAILED_PRECONDITION refusals), /healthz with
//   X-HA-State and 503 when not active, /readyz 503 when not active, /livez always
//   200, agents' Subscribe refused with UNAVAILABLE while passive (Authenticate still
//   works) and their streams ended by a demote, the HA metrics;
// - replication RPC authentication with in-process principals: mTLS identity and the
//   allowlist, header identity (our mesh extension), userpass refused, and
//   UNIMPLEMENTED without --ha-enabled;
// - start-up refusals (exit 2 naming the flag) for a replica without a peer.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { credentials, Metadata, status, type ChannelCredentials, type ServiceError } from "@grpc/grpc-js";
import { AuthenticationClient, type AuthResponse } from "../../src/proto/gen/auth.ts";
import { EventStreamClient } from "../../src/proto/gen/eventstream.ts";
import { HAAdminClient, type HAStatusResponse } from "../../src/proto/gen/haadmin.ts";
import { ReplicationClient, type ReplicationSnapshot, type ReplicationStatus } from "../../src/proto/gen/replication.ts";
import { configureLogging } from "../../src/observability/log.ts";
import { bcryptHash } from "../../src/auth/bcrypt.ts";
import { resolveSettings } from "../../src/settings/resolve.ts";
import { PRINCIPAL_SETTINGS } from "../../src/settings/principal-settings.ts";
import { startPrincipal } from "../../src/principal/run.ts";
import { freePort, principalDevArgs, runSync, start, type Running } from "../support/processes.ts";
import { createTestPki, type TestPki } from "../support/pki.ts";

const logs: string[] = [];
configureLogging({ write: (l) => logs.push(l), defaultLevel: "info" });

const cleanups: (() => unknown)[] = [];
let pki: TestPki;
before(async () => {
  pki = await createTestPki();
});
after(async () => {
  for (const fn of cleanups.reverse()) await fn();
  pki?.cleanup();
});

// ------------------------------------------------------------------ clients

type Outcome<T> = { ok: true; value: T } | { ok: false; code: status; details: string };

function unary<T>(call: (cb: (err: ServiceError | null, res: T) => void) => unknown): Promise<Outcome<T>> {
  return new Promise((resolve) => call((err, res) => resolve(err ? { ok: false, code: err.code, details: err.details } : { ok: true, value: res })));
}

function admin(port: number) {
  const client = new HAAdminClient(`127.0.0.1:${port}`, credentials.createInsecure());
  cleanups.push(() => client.close());
  const opts = () => ({ deadline: Date.now() + 10_000 });
  return {
    status: () => unary<HAStatusResponse>((cb) => client.status({}, new Metadata(), opts(), cb)),
    promote: (force: boolean) => unary<{ state: string }>((cb) => client.promote({ force }, new Metadata(), opts(), cb)),
    demote: () => unary<{ state: string }>((cb) => client.demote({}, new Metadata(), opts(), cb)),
  };
}

function replication(port: number, creds: ChannelCredentials = credentials.createInsecure(), headers: [string, string][] = []) {
  const client = new ReplicationClient(`127.0.0.1:${port}`, creds, { "grpc.ssl_target_name_override": "localhost" });
  cleanups.push(() => client.close());
  const md = () => {
    const m = new Metadata();
    for (const [k, v] of headers) m.set(k, v);
    return m;
  };
  const opts = () => ({ deadline: Date.now() + 10_000 });
  return {
    status: () => unary<ReplicationStatus>((cb) => client.status({}, md(), opts(), cb)),
    snapshot: () => unary<ReplicationSnapshot>((cb) => client.getSnapshot({ sinceSequenceNum: "0" }, md(), opts(), cb)),
    /** Subscribe: resolves with the error, or "open" when the server sent its headers. */
    subscribe: () =>
      new Promise<"open" | { code: status; details: string }>((resolve) => {
        const s = client.subscribe(md());
        s.on("metadata", () => {
          resolve("open");
          s.cancel();
        });
        s.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details }));
        s.on("data", () => {});
      }),
  };
}

async function authenticate(port: number, agent: string): Promise<string> {
  const client = new AuthenticationClient(`127.0.0.1:${port}`, credentials.createInsecure());
  try {
    const md = new Metadata();
    md.set("x-agent-id", agent);
    const res = await unary<AuthResponse>((cb) =>
      client.authenticate({ method: "header", credentials: {}, mode: "managed", version: "0.9.0", agentNamespace: "agents" }, md, { deadline: Date.now() + 10_000 }, cb));
    assert.ok(res.ok, `Authenticate must work in every HA state: ${JSON.stringify(res)}`);
    return res.value.accessToken;
  } finally {
    client.close();
  }
}

/** An agent's Subscribe: "open" once established (then `ended` tells when the principal ends it), or the refusal. */
function agentSubscribe(port: number, token: string) {
  const client = new EventStreamClient(`127.0.0.1:${port}`, credentials.createInsecure());
  cleanups.push(() => client.close());
  const md = new Metadata();
  md.set("authorization", token);
  const stream = client.subscribe(md);
  stream.on("data", () => {});
  let ended!: (why: string) => void;
  const endedP = new Promise<string>((r) => (ended = r));
  const opened = new Promise<"open" | { code: status; details: string }>((resolve) => {
    stream.on("metadata", () => resolve("open"));
    stream.on("error", (e: ServiceError) => {
      resolve({ code: e.code, details: e.details });
      ended(`error ${e.code}`);
    });
    stream.on("end", () => ended("end"));
    stream.on("status", (s: { code: status }) => ended(`status ${s.code}`));
  });
  cleanups.push(() => stream.cancel());
  return { opened, ended: endedP };
}

async function http(port: number, path: string): Promise<{ status: number; body: string; haState: string | null }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text(), haState: res.headers.get("x-ha-state") };
}

async function metric(port: number, re: RegExp): Promise<string> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  return text.split("\n").filter((l) => re.test(l)).join("\n");
}

// ------------------------------------------------------------------ the process

describe("a principal process with --ha-enabled (header auth, no Kubernetes)", () => {
  let proc: Running;
  let grpcPort: number;
  let healthz: number;
  let adminPort: number;
  let metricsPort: number;

  before(async () => {
    [healthz, adminPort, metricsPort, grpcPort] = await Promise.all([freePort(), freePort(), freePort(), freePort()]);
    proc = start([...principalDevArgs(healthz, grpcPort), "--metrics-port", String(metricsPort), "--ha-enabled", "--ha-admin-port", String(adminPort)]);
    cleanups.push(() => proc.stop());
    await proc.waitFor(/principal started/);
  });

  test("starts active as primary: healthz 200 with X-HA-State, readyz and livez 200, Status over the admin port", async () => {
    assert.match(proc.output(), /HA admin API listening.*127\.0\.0\.1:\d+/);
    assert.deepEqual(await http(healthz, "/healthz"), { status: 200, body: "ok\n", haState: "active" });
    assert.equal((await http(healthz, "/readyz")).status, 200);
    assert.deepEqual(await http(healthz, "/livez"), { status: 200, body: "ok\n", haState: null });
    const s = await admin(adminPort).status();
    assert.ok(s.ok, JSON.stringify(s));
    assert.deepEqual({ ...s.value }, {
      state: "active", preferredRole: "primary", peerAddress: "", peerReachable: false, peerState: "",
      connectedReplicas: 0, lastEventTimestamp: "0", lastSequenceNum: "0", connectedAgents: 0,
    });
    const promoted = await admin(adminPort).promote(true);
    assert.deepEqual(promoted, { ok: false, code: status.FAILED_PRECONDITION, details: "already active" });
  });

  test("demote ends agent streams; passive: 503s with X-HA-State, livez 200, Subscribe refused while Authenticate works", async () => {
    const a = admin(adminPort);
    const agent = agentSubscribe(grpcPort, await authenticate(grpcPort, "agent-1"));
    assert.equal(await agent.opened, "open");
    const before = await a.status();
    assert.ok(before.ok && before.value.connectedAgents === 1, JSON.stringify(before));

    assert.deepEqual(await a.demote(), { ok: true, value: { state: "replicating" } });
    const why = await Promise.race([agent.ended, new Promise((r) => setTimeout(() => r("still open"), 5000))]);
    assert.notEqual(why, "still open", "demote must end the agent's stream");

    assert.deepEqual(await http(healthz, "/healthz"), { status: 503, body: "HA state: replicating - not accepting traffic\n", haState: "replicating" });
    const ready = await http(healthz, "/readyz");
    assert.equal(ready.status, 503);
    assert.match(ready.body, /HA state replicating/);
    assert.deepEqual(await http(healthz, "/livez"), { status: 200, body: "ok\n", haState: null });

    const again = agentSubscribe(grpcPort, await authenticate(grpcPort, "agent-1"));
    assert.deepEqual(await again.opened, { code: status.UNAVAILABLE, details: "not accepting connections in state replicating" });

    assert.deepEqual(await a.demote(), { ok: false, code: status.FAILED_PRECONDITION, details: "cannot demote from state replicating: only an active principal can be demoted" });
    const refused = await a.promote(false);
    assert.ok(!refused.ok && refused.code === status.FAILED_PRECONDITION && /peer is reachable/.test(refused.details), JSON.stringify(refused));

    assert.match(await metric(metricsPort, /^argocd_agent_ha_connections_rejected_total/), /reason="not accepting connections".*state="replicating"|state="replicating".*reason="not accepting connections"/);
    assert.match(await metric(metricsPort, /^argocd_agent_ha_failbacks_total/), / 1$/);
    assert.match(await metric(metricsPort, /^argocd_agent_ha_state\{state="replicating"\}/), / 1$/);
    assert.match(await metric(metricsPort, /^argocd_agent_ha_state\{state="active"\}/), / 0$/);
  });

  test("replication RPCs: header identity accepted (mesh extension), no identity UNAUTHENTICATED, snapshots only while active", async () => {
    const anonymous = replication(grpcPort);
    const st = await anonymous.status();
    assert.ok(!st.ok && st.code === status.UNAUTHENTICATED, JSON.stringify(st));

    const peer = replication(grpcPort, credentials.createInsecure(), [["x-agent-id", "principal-b"]]);
    const passive = await peer.status();
    assert.ok(passive.ok, JSON.stringify(passive));
    assert.deepEqual(await peer.snapshot(), { ok: false, code: status.UNAVAILABLE, details: "not serving replication in state replicating" });
    assert.deepEqual(await peer.subscribe(), { code: status.UNAVAILABLE, details: "not serving replication in state replicating" });

    assert.deepEqual(await admin(adminPort).promote(true), { ok: true, value: { state: "active" } });
    assert.deepEqual(await http(healthz, "/healthz"), { status: 200, body: "ok\n", haState: "active" });
    assert.equal(await agentSubscribe(grpcPort, await authenticate(grpcPort, "agent-1")).opened, "open");
    const snap = await peer.snapshot();
    assert.ok(snap.ok, JSON.stringify(snap));
    assert.deepEqual(snap.value.agents, [], "no Kubernetes: nothing replicated, an empty snapshot");
    assert.equal(await peer.subscribe(), "open");
    assert.match(await metric(metricsPort, /^argocd_agent_ha_failovers_total/), / 1$/);
    assert.match(await metric(metricsPort, /^argocd_agent_ha_transitions_total\{from_state="replicating",to_state="active"\}/), / 1$/);
  });
});

// ------------------------------------------------------------------ in-process

async function inProcess(flags: Record<string, string | string[]>) {
  const cfg = resolveSettings(PRINCIPAL_SETTINGS, {
    namespace: "argocd", listenHost: "127.0.0.1", listenPort: "0", healthzPort: "0", metricsPort: "0",
    enableResourceProxy: "false", disableRedisProxy: "true", insecureJwtGenerate: "true", ...flags,
  }, {}).values;
  const p = await startPrincipal(cfg);
  cleanups.push(() => p.close());
  return p;
}

describe("replication authentication (in-process principals)", () => {
  test("mtls: the client certificate's identity must be in --ha-allowed-replication-clients", async () => {
    const p = await inProcess({
      tlsCert: pki.server.certFile, tlsKey: pki.server.keyFile, rootCaPath: pki.caFile, auth: "mtls:subject:CN=([^,]+)",
      haEnabled: "true", haAdminPort: String(await freePort()), haAllowedReplicationClients: ["principal-b"],
    });
    const creds = async (cn: string) => {
      const c = await pki.agent(cn);
      return credentials.createSsl(Buffer.from(pki.ca.cert), Buffer.from(c.key), Buffer.from(c.cert));
    };
    const allowed = await replication(p.server.port, await creds("principal-b")).status();
    assert.ok(allowed.ok, JSON.stringify(allowed));
    assert.deepEqual({ ...allowed.value }, { currentSequenceNum: "0", pendingEvents: 0, lastEventUnix: "0", connectedReplicas: 0 });
    assert.deepEqual(await replication(p.server.port, await creds("principal-c")).status(), {
      ok: false, code: status.PERMISSION_DENIED, details: 'replication client "principal-c" is not allowed',
    });
    assert.ok(logs.some((l) => l.includes("identity not in --ha-allowed-replication-clients") && l.includes("principal-c")));
  });

  test("userpass: replication refused with UNAUTHENTICATED", async () => {
    const db = join(pki.dir, "userpass");
    writeFileSync(db, `agent-1:${await bcryptHash("secret", 4)}\n`);
    const p = await inProcess({ insecurePlaintext: "true", auth: `userpass:${db}`, haEnabled: "true", haAdminPort: String(await freePort()) });
    const res = await replication(p.server.port).status();
    assert.ok(!res.ok && res.code === status.UNAUTHENTICATED && /replication requires mTLS auth/.test(res.details), JSON.stringify(res));
  });

  test("without --ha-enabled every replication RPC answers UNIMPLEMENTED and healthz has no HA header", async () => {
    const healthz = await freePort();
    const p = await inProcess({ insecurePlaintext: "true", auth: "header:x-agent-id:^(.+)$", healthzPort: String(healthz) });
    const r = replication(p.server.port, credentials.createInsecure(), [["x-agent-id", "principal-b"]]);
    const expected = { ok: false, code: status.UNIMPLEMENTED, details: "replication not enabled" };
    assert.deepEqual(await r.status(), expected);
    assert.deepEqual(await r.snapshot(), expected);
    assert.deepEqual(await r.subscribe(), { code: status.UNIMPLEMENTED, details: "replication not enabled" });
    assert.deepEqual(await http(healthz, "/healthz"), { status: 200, body: "ok\n", haState: null });
    assert.equal((await http(healthz, "/livez")).status, 200);
    assert.equal(p.haAdminPort, undefined);
  });
});

describe("start-up refusals", () => {
  test("a replica without --ha-peer-address, or with a malformed one, exits 2 naming the flag", () => {
    const base = ["principal", "-n", "argocd", "--insecure-plaintext", "--listen-host", "127.0.0.1", "--auth", "header:x-agent-id:^(.+)$", "--insecure-jwt-generate", "--healthz-port", "0", "--metrics-port", "0", "--enable-resource-proxy=false", "--disable-redis-proxy=true"];
    const noPeer = runSync([...base, "--ha-enabled", "--ha-preferred-role", "replica"]);
    assert.equal(noPeer.code, 2, noPeer.stderr);
    assert.match(noPeer.stderr, /--ha-peer-address .*is required with --ha-preferred-role replica/);
    const badPeer = runSync([...base, "--ha-enabled", "--ha-preferred-role", "replica", "--ha-peer-address", "no-port"]);
    assert.equal(badPeer.code, 2, badPeer.stderr);
    assert.match(badPeer.stderr, /--ha-peer-address must be host:port/);
    const badRole = runSync([...base, "--ha-enabled", "--ha-preferred-role", "leader"]);
    assert.equal(badRole.code, 2, badRole.stderr);
    assert.match(badRole.stderr, /--ha-preferred-role/);
  });

  test("a replica with a peer starts syncing: not active, and promote is refused until it has replicated once", async () => {
    const [healthz, adminPort] = await Promise.all([freePort(), freePort()]);
    const proc = start([...principalDevArgs(healthz), "--ha-enabled", "--ha-preferred-role", "replica", "--ha-peer-address", "127.0.0.1:1", "--ha-admin-port", String(adminPort)]);
    cleanups.push(() => proc.stop());
    await proc.waitFor(/principal started/);
    assert.deepEqual(await http(healthz, "/healthz"), { status: 503, body: "HA state: syncing - not accepting traffic\n", haState: "syncing" });
    const a = admin(adminPort);
    const s = await a.status();
    assert.ok(s.ok && s.value.state === "syncing" && s.value.preferredRole === "replica" && s.value.peerAddress === "127.0.0.1:1", JSON.stringify(s));
    const p = await a.promote(true);
    assert.ok(!p.ok && p.code === status.FAILED_PRECONDITION && /cannot promote from state syncing/.test(p.details), JSON.stringify(p));
    assert.match(proc.output(), /cannot apply what the peer replicates/);
  });
});
